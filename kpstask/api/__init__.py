"""Talking to the API: the HTTP transport and its deadline, answers as data or errors,
the KPS client, the outcome table and intervals (policy), and the one rate limiter."""
