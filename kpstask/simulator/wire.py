"""The simulator's HTTP side: a threaded server with bounded resources, and the request handler.

Standard library only: `http.server` with a thread per connection, at most
`max_connections` of them at once (the next connection waits for a free one,
queued by the kernel meanwhile), a listen backlog for bursts, and an idle
timeout. A request it cannot frame gets a 400 and the connection is closed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from kpstask.simulator.replies import CONTROL_PREFIX, MAX_CONTROL_BODY, Reply, Request, gateway_reply, json_reply

IDLE_TIMEOUT_S = 30.0  # a connection that sends nothing for this long is closed
MAX_CONNECTIONS = 256  # handler threads at once; the next connection waits for one to end
LISTEN_BACKLOG = 1024  # connections the kernel queues before accept (capped by net.core.somaxconn)


class Backend(Protocol):
    """What the handler needs of the simulator."""

    clock: Callable[[], float]
    log: Callable[[str], None] | None
    stopping: threading.Event

    def answer(self, request: Request) -> tuple[Reply, float]: ...

    def control(self, method: str, route: str, raw: bytes) -> Reply: ...

    def record(self, method: str, path: str, status: int | str, client: str, arrived: float) -> None: ...


class _Unframed(Exception):
    """The request's body cannot be read: answer `status`, then close the connection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    simulator: Backend
    idle_timeout: float | None = IDLE_TIMEOUT_S

    def configure(self, simulator: Backend, idle_timeout: float | None, max_connections: int) -> None:
        self.simulator = simulator
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread per connection, at most `max_connections` at once: the next waits for a free slot."""
        while not self._slots.acquire(timeout=0.05):
            if self.simulator.stopping.is_set():
                self.shutdown_request(request)
                return
        with self._open_lock:
            self._open.add(request)
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        self._slots.release()

    def close_connections(self) -> None:
        """Wake every handler still reading from a client, so stopping does not wait on them."""
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line instead of socketserver's traceback; clients hanging up are normal."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        if self.simulator.log is not None:
            self.simulator.log(f"{client_address[0]} handler error: {type(error).__name__}: {error}")


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, simulator: Backend, idle_timeout: float | None, max_connections: int) -> _Server:
    """Bind and listen; an address in use is an OSError."""
    server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
    server.configure(simulator, idle_timeout, max_connections)
    return server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this, Python's server stalls ~40 ms per keep-alive answer (Nagle + delayed ACK).
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Reads and writes that stall this long end the connection (BaseHTTPRequestHandler closes it).
        self.connection.settimeout(self.server.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests are logged by `Simulator.record`."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        sim = self.server.simulator
        arrived = sim.clock()
        parts = urlsplit(self.path)
        path = parts.path
        control = path.startswith(CONTROL_PREFIX)
        delay = 0.0
        try:
            body = self._read_body()
        except _Unframed as exc:
            self.close_connection = True  # what follows on the connection cannot be told apart
            reply = (
                json_reply(exc.status, {"error": str(exc)})
                if control
                else gateway_reply(exc.status, {"error_code": "APIGW.0201", "error_msg": f"Bad request: {exc}"})
            )
        else:
            if control:
                reply = self._control(method, path, body)
            else:
                query = parse_qsl(parts.query, keep_blank_values=True)
                reply, delay = sim.answer(Request(method, path, list(query), self.headers, body))
        if delay and sim.stopping.wait(delay):
            return
        outcome = reply.status if reply.action == "send" else reply.action
        sim.record(method, path, outcome, self.client_address[0], arrived)
        self._send(reply)

    def _read_body(self) -> bytes:
        """The body its Content-Length announces; a length that is not one number is refused."""
        if self.headers.get("Transfer-Encoding") is not None:
            raise _Unframed(411, "chunked bodies are not supported; send a Content-Length")
        values = {value.strip() for value in self.headers.get_all("Content-Length") or ()}
        if not values:
            return b""
        text = values.pop()
        if values or not (text.isascii() and text.isdigit()):  # a sign, a fraction or two lengths
            raise _Unframed(400, "invalid Content-Length")
        if len(text) > 15 or int(text) > MAX_CONTROL_BODY:
            raise _Unframed(413, "the body is too large")
        return self.rfile.read(int(text)) if int(text) else b""

    def _send(self, reply: Reply) -> None:
        if reply.action == "hang":
            self.close_connection = True
            self._hang()
            return
        if reply.action == "reset":
            # SO_LINGER with a zero timeout makes close() send RST, not FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("X-Request-Id", reply.request_id)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.action == "cut":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(reply.body)

    def _hang(self) -> None:
        """No answer, until the client gives up and closes, or the simulator stops."""
        while not self.server.simulator.stopping.wait(0.1):
            try:
                readable, _, _ = select.select([self.connection], [], [], 0)
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return  # the client closed its end
            except OSError:
                return

    def _control(self, method: str, path: str, body: bytes) -> Reply:
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            return json_reply(403, {"error": "the control surface answers only loopback clients"})
        if not self._to_itself():
            why = "the control surface answers only requests addressed to it (Host and Origin), not other sites"
            return json_reply(403, {"error": why})
        return self.server.simulator.control(method, path[len(CONTROL_PREFIX) :].strip("/"), body)

    def _to_itself(self) -> bool:
        """Whether the one Host header, and the Origin if there is one, name the simulator: a web
        page that DNS rebinding points here sends its own site's name, in both."""
        names = own_names(self.server.server_address)
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or hosts[0].strip().lower() not in names:
            return False
        origins = {f"http://{name}" for name in names}
        return all(origin.strip().lower() in origins for origin in self.headers.get_all("Origin") or [])


def own_names(address: tuple[Any, ...]) -> frozenset[str]:
    """`host:port` a request to the simulator bound at `address` names: its bind address, and the
    loopback names `localhost`, `127.0.0.1` and `[::1]`; without the port too when it is 80."""
    host, port = str(address[0]).lower(), int(address[1])
    hosts = {f"[{host}]" if ":" in host else host, "localhost", "127.0.0.1", "[::1]"}
    names = {f"{name}:{port}" for name in hosts}
    return frozenset(names | hosts if port == 80 else names)
