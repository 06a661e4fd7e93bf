"""Credentials: the kinds (token, AK/SK, password, OIDC, agency, ECS metadata), the chain
that picks one, the signer, the IAM and STS exchanges, renewal and the token cache."""
