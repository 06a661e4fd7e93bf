"""Small hostile HTTP servers on 127.0.0.1, for tests: each answers every connection
with what its `reply` function writes, however slowly or oddly."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Reply = Callable[[socket.socket], None]


def trickle(data: bytes, every_s: float) -> Reply:
    """Send `data` one byte at a time, `every_s` apart (at most 10 s in all)."""

    def reply(conn: socket.socket) -> None:
        deadline = time.monotonic() + 10
        for byte in data:
            if time.monotonic() > deadline:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every_s)

    return reply


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> Reply:
    """A complete HTTP answer, at once."""

    def reply(conn: socket.socket) -> None:
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return reply


@contextmanager
def hostile(reply: Reply) -> Iterator[str]:
    """A server on a free loopback port; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request; its content does not matter here
                reply(conn)
            except OSError:
                pass  # the client hung up: that is what a deadline does

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        listener.close()
