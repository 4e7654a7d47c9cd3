"""HTTP/1.1 persistent connections for ``kalend serve``.

Radicale's request handler (wsgiref underneath) answers one request per
connection in HTTP/1.0. Calendar clients send bursts of small requests (a
sync is a PROPFIND, a sync-collection, a multiget; Apple Calendar and DAVx5
keep their connections open for them), and opening a connection, and a
thread for it, per request costs about a millisecond on this server, a tenth
of a week view. This handler keeps the connection for the next request
(RFC 9112 §9.3) when that is safe:

* the answer has a Content-Length (wsgiref writes no chunked encoding, so an
  answer without one can only end by closing);
* the request body was read to its end, or is small enough to skip: the
  bytes of an unread body must never be taken for the next request;
* the request had no Transfer-Encoding (wsgiref does not decode chunked
  bodies; such a request is answered and the connection closed);
* the client did not ask to close (``Connection: close``, or HTTP/1.0
  without keep-alive).

Between requests a connection waits at most ``IDLE_SECONDS``; on shutdown,
the server closes idle connections at once (``close_idle``), so stopping
does not wait for them while requests in flight still finish.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, BinaryIO

from radicale.server import RequestHandler, ServerHandler

#: How long a kept connection may wait for its next request.
IDLE_SECONDS = 15.0
#: An unread request body up to this size is skipped to keep the connection;
#: a larger one closes it (reading it would cost more than a new connection).
MAX_SKIPPED_BODY = 64 * 1024


class BodyReader:
    """``wsgi.input`` limited to the request's Content-Length.

    Reading past the body would block on the next request, or consume it;
    the count left unread tells the handler whether the connection can go on.
    """

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self.remaining = length

    def read(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def _take(self, reader, size: int | None) -> bytes:
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        if size == 0:
            return b""
        data = reader(size)
        self.remaining -= len(data)
        if not data:
            self.remaining = 0      # the client went away mid-body
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self):
        return iter(self.readline, b"")

    def skip_rest(self) -> bool:
        """Read and drop what the application left; False when too much is
        left to be worth it (the connection must then close)."""
        if self.remaining > MAX_SKIPPED_BODY:
            return False
        try:
            while self.remaining:
                if not self.read(min(self.remaining, 16384)):
                    return False
        except OSError:     # a client that never sends the body it announced
            return False
        return True


class PersistentServerHandler(ServerHandler):
    """Answers in HTTP/1.1 and says ``Connection: close`` when the
    connection will not be kept."""

    http_version = "1.1"
    request_handler: PersistentRequestHandler
    stdin: BodyReader

    def cleanup_headers(self) -> None:
        # Decided here, before the headers go out, so the client is told.
        super().cleanup_headers()
        handler = self.request_handler
        if "Content-Length" not in self.headers or self.stdin.remaining > MAX_SKIPPED_BODY:
            handler.close_connection = True
        if handler.close_connection:
            self.headers["Connection"] = "close"


class PersistentRequestHandler(RequestHandler):
    """Radicale's request handler, serving requests until the connection
    ends (see the module docstring for when it ends)."""

    protocol_version = "HTTP/1.1"
    # An answer goes out as one write of headers and body where it fits the
    # buffer; Nagle's algorithm would otherwise hold the body back until the
    # client acknowledges the headers, 40 ms with a delayed ACK.
    disable_nagle_algorithm = True
    wbufsize = -1

    server: Any   # http.ThreadedWSGIServer: request_timeout, connections

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            if not self._wait_for_request():
                return
            self._handle_one()

    def _wait_for_request(self) -> bool:
        """Wait (at most IDLE_SECONDS) for the next request's first byte."""
        connection = self.connection
        if not self.server.connections.mark_idle(connection):
            return False                # the server is stopping
        try:
            connection.settimeout(IDLE_SECONDS)
            try:
                first = self.rfile.peek(1)[:1]
            except (OSError, ValueError):
                return False
        finally:
            if not self.server.connections.mark_busy(connection):
                first = b""             # closed by the stopping server meanwhile
        if not first:
            return False
        connection.settimeout(self.server.request_timeout)
        return True

    def _handle_one(self) -> None:
        self.close_connection = True
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            return
        if not self.raw_requestline:
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():
            # parse_request may have read "HTTP/1.1" (keep-alive) before the
            # error: never read on after a request it could not parse.
            self.close_connection = True
            return
        if self.request_version != "HTTP/1.1":
            # An HTTP/1.0 client keeps a connection only when the answer says
            # "Connection: keep-alive"; not worth it for clients that old.
            self.close_connection = True
        body = self._body_reader()
        if body is None:
            return
        handler = PersistentServerHandler(body, self.wfile, self.get_stderr(),
                                          self.get_environ())
        handler.request_handler = self
        handler.run(self.server.get_app())
        try:
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return
        if not self.close_connection and not body.skip_rest():
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        # The interim answer must leave the write buffer now: the client
        # waits for it before sending the body.
        accepted = super().handle_expect_100()
        self.wfile.flush()
        return accepted

    def _body_reader(self) -> BodyReader | None:
        """The request body's reader, or None after answering 400."""
        if self.headers.get("Transfer-Encoding"):
            # Not decoded by wsgiref: the application sees no body (as
            # before) and the connection ends with this request.
            self.close_connection = True
            return BodyReader(self.rfile, 0)
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            size = -1
        if size < 0:
            self.send_error(400, "Bad Content-Length")
            self.close_connection = True
            return None
        return BodyReader(self.rfile, size)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass            # the client closed first: nothing left to flush


class ConnectionRegistry:
    """The server's view of its kept connections: which wait between
    requests, so that shutdown, or a server at its connection cap, can close
    them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Insertion-ordered: the connection idle the longest comes first.
        self._idle: dict[socket.socket, None] = {}
        self.stopping = False

    def mark_idle(self, connection: socket.socket) -> bool:
        with self._lock:
            if self.stopping:
                return False
            self._idle[connection] = None
            return True

    def mark_busy(self, connection: socket.socket) -> bool:
        """False when the server closed the connection while it was idle."""
        with self._lock:
            return self._idle.pop(connection, False) is None

    def close_one_idle(self) -> bool:
        """Close the connection idle the longest; False when none is idle."""
        with self._lock:
            if not self._idle:
                return False
            connection = next(iter(self._idle))
            del self._idle[connection]
        _hang_up(connection)
        return True

    def close_idle(self) -> None:
        with self._lock:
            self.stopping = True
            idle, self._idle = list(self._idle), {}
        for connection in idle:
            _hang_up(connection)


def _hang_up(connection: socket.socket) -> None:
    """End an idle connection; its thread sees the end and finishes."""
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
