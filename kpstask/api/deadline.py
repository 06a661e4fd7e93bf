"""A whole-request deadline. A server that sends its answer a byte at a time never
trips a per-read timeout, so a watchdog cuts the connection once a request has used
its budget, wherever it is: waiting for headers or reading the body.

urllib3's public extension points are used: connection pools of our own classes,
whose connections note which thread is sending on them, and on which socket.

`within(seconds)` caps every request a thread makes meanwhile, whatever its own budget:
a lookup that must end by an outer deadline (`wait --timeout`) is cut there.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from kpstask.i18n import _

_SENDING: dict[int, Any] = {}  # thread id -> the connection it is sending a request on
# thread id -> that connection's socket, once sent on. Kept apart from the connection: an
# answer that ends with the connection (`Connection: close`, HTTP/1.0, no length) takes the
# socket with it and http.client sets the connection's `sock` to None while the body is read.
_SOCKETS: dict[int, socket.socket] = {}
_LIMITS: dict[int, float] = {}  # thread id -> the monotonic time its requests must end by
_TIMER_SLACK_S = 0.05


class _Noted:
    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        thread = threading.get_ident()
        _SENDING[thread] = self
        try:
            return super().request(*args, **kwargs)  # type: ignore[misc]
        finally:
            if self.sock is not None:  # connected (and, over TLS, the handshake done)
                _SOCKETS[thread] = self.sock


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


@contextlib.contextmanager
def within(seconds: float | None) -> Iterator[Callable[[], bool]]:
    """Every request this thread makes inside ends within `seconds` from now (None: no cap).
    Yields whether that time has come, to tell a request cut by it from one that failed."""
    thread = threading.get_ident()
    outer = _LIMITS.get(thread)
    limit = outer
    if seconds is not None:
        limit = time.monotonic() + seconds if outer is None else min(outer, time.monotonic() + seconds)
        _LIMITS[thread] = limit
    try:
        # A timer may wake a hair before its time: a request cut by the cap counts as cut by it.
        yield lambda: limit is not None and time.monotonic() >= limit - _TIMER_SLACK_S
    finally:
        if outer is None:
            _LIMITS.pop(thread, None)
        else:
            _LIMITS[thread] = outer


class Watchdog:
    """`with Watchdog(budget_s) as dog:` cuts this thread's connection when the budget (or
    what is left of the thread's cap) is spent; with nothing left, no request starts."""

    def __init__(self, budget_s: float) -> None:
        self._thread = threading.get_ident()
        limit = _LIMITS.get(self._thread)
        self.budget_s = budget_s if limit is None else min(budget_s, limit - time.monotonic())
        self.expired = False
        self._timer = threading.Timer(max(0.0, self.budget_s), self._cut)
        self._timer.daemon = True

    def __enter__(self) -> Watchdog:
        if self.budget_s <= 0:  # a TimeoutError, as a request cut at its budget would end
            self.expired = True
            raise TimeoutError(_("no time left for the request"))
        self._forget()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self._forget()

    def _forget(self) -> None:
        _SENDING.pop(self._thread, None)
        _SOCKETS.pop(self._thread, None)

    def _cut(self) -> None:
        self.expired = True
        sockets = (getattr(_SENDING.get(self._thread), "sock", None), _SOCKETS.get(self._thread))
        for sock in {id(sock): sock for sock in sockets if sock is not None}.values():
            # The reading thread then sees the connection end, at once. A socket http.client
            # has "closed" while its response still reads from it keeps its descriptor until
            # then, so shutdown still reaches it; once really closed, shutdown is a no-op error.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
