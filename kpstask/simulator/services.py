"""Which keyless credential service answers a request, if any: the routes the simulator serves
besides the KPS API, on the same port, open to any client as the real services are.
"""

from __future__ import annotations

from kpstask.simulator import federation, metadata
from kpstask.simulator.issuer import Issuer
from kpstask.simulator.replies import Reply, Request


def route(issuer: Issuer, request: Request) -> Reply | None:
    """The answer of the service at the request's path; None: not one of theirs."""
    method, path = request.method, request.path
    if path in metadata.PATHS:
        return metadata.answer(issuer, request)
    if (method, path) == ("POST", federation.EXCHANGE_PATH):
        return federation.exchange(issuer, request)
    if (method, path) == ("POST", federation.STS_PATH):
        return federation.assume(issuer, request)
    if path == federation.GITHUB_PATH:
        return federation.github(issuer, request)
    return None
