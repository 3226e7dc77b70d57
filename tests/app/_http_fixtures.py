"""A loopback HTTP(S) server for tests: a route table in, recorded requests out.

Usage::

    with serve_http({"/in.wav": Reply(body=b"RIFF...")}) as server:
        download_to_file(server.url("/in.wav"), ...)
        assert server.requests[0].method == "GET"

A route value is a :class:`Reply`, or a callable ``(RecordedRequest) -> Reply`` for answers that
change (``replies_in_order`` builds one from a list). Keys are a path (any method) or
``"METHOD /path"``. Unknown routes answer 404. The server binds 127.0.0.1 on a free port, runs
each request on its own thread, and closes every connection after one answer. A reply with
``hang=True`` never answers (until the server stops); ``chunks`` streams a chunked body with
``chunk_delay_s`` between chunks.
"""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import TypeAlias

__all__ = ["LoopbackServer", "RecordedRequest", "Reply", "replies_in_order", "serve_http"]


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    headers: Message
    body: bytes
    received_at: float


@dataclass(frozen=True)
class Reply:
    """What the server answers."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Iterable[bytes] | None = None
    chunk_delay_s: float = 0.0
    hang: bool = False
    content_length: int | None = None
    """Announced ``Content-Length`` (defaults to ``len(body)``); the body sent is still ``body``."""


Route: TypeAlias = Reply | Callable[[RecordedRequest], Reply]


def replies_in_order(*replies: Reply) -> Callable[[RecordedRequest], Reply]:
    """A route answering with ``replies`` one after the other, then repeating the last."""
    lock = threading.Lock()
    state = {"next": 0}

    def route(_: RecordedRequest) -> Reply:
        with lock:
            index = min(state["next"], len(replies) - 1)
            state["next"] += 1
        return replies[index]

    return route


class LoopbackServer:
    """Handle on a running :func:`serve_http` server."""

    def __init__(self, httpd: http.server.ThreadingHTTPServer, scheme: str) -> None:
        self.httpd = httpd
        self.scheme = scheme
        self.host = "127.0.0.1"
        self.port: int = httpd.server_address[1]
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """Absolute URL of ``path``; ``host`` swaps the host name (for resolver tests)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


def _read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _make_handler(server_ref: list[LoopbackServer], routes: Mapping[str, Route]) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5  # a client that connects and says nothing does not pin a thread forever

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def _serve(self) -> None:
            server = server_ref[0]
            body = _read_body(self)
            recorded = RecordedRequest(self.command, self.path, self.headers, body, time.monotonic())
            server.requests.append(recorded)
            path = self.path.split("?", 1)[0]
            route = routes.get(f"{self.command} {path}", routes.get(path))
            if route is None:
                reply = Reply(status=404, body=b"not found")
            elif isinstance(route, Reply):
                reply = route
            else:
                reply = route(recorded)
            if reply.hang:
                server.stopping.wait(30)
                self.close_connection = True
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            if reply.chunks is not None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for chunk in reply.chunks:
                        if server.stopping.wait(reply.chunk_delay_s):
                            break
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client hung up, as clients enforcing limits do
            else:
                length = len(reply.body) if reply.content_length is None else reply.content_length
                self.send_header("Content-Length", str(length))
                self.end_headers()
                if self.command != "HEAD":
                    with contextlib.suppress(OSError):
                        self.wfile.write(reply.body)
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


@contextlib.contextmanager
def serve_http(
    routes: Mapping[str, Route],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[LoopbackServer]:
    """Run a threading HTTP server on 127.0.0.1:0 for the duration of the ``with`` block."""
    server_ref: list[LoopbackServer] = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(server_ref, routes))
    httpd.daemon_threads = False  # server_close() joins handler threads: no stray sockets
    if ssl_context is not None:
        httpd.socket = ssl_context.wrap_socket(httpd.socket, server_side=True)
    server = LoopbackServer(httpd, "https" if ssl_context is not None else "http")
    server_ref.append(server)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
