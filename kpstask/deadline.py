"""A whole-request deadline. A server that sends its answer a byte at a time never
trips a per-read timeout, so a watchdog cuts the connection once a request has used
its budget, wherever it is: waiting for headers or reading the body.

urllib3's public extension points are used: connection pools of our own classes,
whose connections note which thread is sending on them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_SENDING: dict[int, Any] = {}  # thread id -> the connection it is sending a request on


class _Noted:
    def request(self, *args: Any, **kwargs: Any) -> Any:
        _SENDING[threading.get_ident()] = self
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Noted, HTTPConnection):
    pass


class _HTTPSConnection(_Noted, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def adapter(pool_size: int) -> HTTPAdapter:
    """An adapter whose connections a Watchdog can cut."""
    made = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
    made.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return made


class Watchdog:
    """`with Watchdog(budget_s) as dog:` cuts this thread's connection when the budget is spent."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.expired = False
        self._thread = threading.get_ident()
        self._timer = threading.Timer(budget_s, self._cut)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        _SENDING.pop(self._thread, None)
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _SENDING.pop(self._thread, None)

    def _cut(self) -> None:
        self.expired = True
        sock = getattr(_SENDING.get(self._thread), "sock", None)
        if sock is not None:  # the reading thread then sees the connection end, at once
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
