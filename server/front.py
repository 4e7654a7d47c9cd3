"""The HTTP front: a request is read whole before a request thread takes it.

kalend's application is WSGI (Radicale's): a thread runs each request from
start to end, and a thread that waits for a slow client's bytes serves no
one else. Radicale's own server and kalend's first one read the request in
that thread, so twelve clients sending half a header held every thread of
the server (issue 15). The front turns that around:

* granian (``server/http.py`` says why granian) parses the request line and
  headers in Rust, asynchronously, under ``[server] timeout``; no Python
  thread exists for a connection that has not sent its headers, nor for a
  kept connection waiting for its next request;
* this application then reads the body on the event loop, also within
  ``[server] timeout`` from the headers, refusing it with 413 as soon as it
  would pass ``[server] max_content_length`` (from Content-Length before a
  byte is read, or while a chunked body arrives);
* only a complete request reaches the thread pool of ``[server]
  max_connections`` request threads, as a WSGI environ whose body is in
  memory and whose CONTENT_LENGTH is always set (a chunked body is decoded
  by granian; Radicale reads CONTENT_LENGTH bytes, and saw none before).

granian's own WSGI mode hands the application a body that is read from the
socket in the request thread, with no deadline (granian issue #728, closed
as "wontfix"): one client sending a Content-Length and then nothing held a
thread for good, measured here. Hence this buffering step, which costs one
hop from the event loop to a thread per request.

The front speaks RSGI, granian's own interface, rather than ASGI: the
answer is handed over in one call instead of two awaited messages, and a
request without a body (RFC 9112 §6.3) is not read at all. Measured on a
trivial application, kalend's first server took 120-200 µs a request, this
front through ASGI 290-310 µs, through RSGI about 220 µs.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

logger = logging.getLogger("kalend.server")

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class FrontLimits:
    """What one request may cost the front, from ``[server]``."""

    #: Requests handled at once (request threads) in this process.
    request_threads: int
    #: Seconds a request's body may take to arrive after its headers.
    body_timeout: float
    #: Largest request body in bytes (0: no limit).
    max_content_length: int
    #: Answered in wsgi.multiprocess (several worker processes).
    multiprocess: bool = False


class _Refused(Exception):
    """A request answered by the front itself, before the application."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Front:
    """The RSGI application that granian serves: buffer, then hand the
    request to the WSGI application in a request thread."""

    def __init__(self, application: WSGIApplication, limits: FrontLimits) -> None:
        self._application = application
        self._limits = limits
        self._threads = ThreadPoolExecutor(max_workers=max(1, limits.request_threads),
                                           thread_name_prefix="kalend-request")
        self._closed = False

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        try:
            body = await self._read_body(scope, protocol)
        except _Refused as refused:
            _send_refusal(protocol, refused)
            return
        # A fresh context per request: the storage's context variables (the
        # transaction, the deadline) never pass from one request to the next
        # through a pooled thread.
        status, headers, answer = await asyncio.get_running_loop().run_in_executor(
            self._threads, contextvars.Context().run, _run, self._application,
            scope, body, self._limits.multiprocess)
        protocol.response_bytes(status, headers, answer)

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by granian as a worker starts: nothing to prepare."""

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by granian as a worker stops, once it has answered the
        requests in flight."""
        self.close()

    async def _read_body(self, scope: Any, protocol: Any) -> bytes:
        """The whole body, within the deadline and the size limit."""
        limit = self._limits.max_content_length
        announced, chunked = _framing(scope.headers)
        if announced is None and not chunked:
            return b""      # RFC 9112 §6.3: no Content-Length, no Transfer-Encoding
        if announced is not None and limit and announced > limit:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"the body of {announced} bytes is over [server] "
                           f"max_content_length ({limit} bytes)")
        try:
            async with asyncio.timeout(self._limits.body_timeout):
                if not chunked:
                    # Content-Length is within the limit: granian reads
                    # exactly that much, in one await.
                    return await protocol()
                return await _read_chunks(protocol, limit)
        except TimeoutError:
            raise _Refused(HTTPStatus.REQUEST_TIMEOUT,
                           f"the body did not arrive within [server] timeout "
                           f"({self._limits.body_timeout:g} s)") from None
        except RuntimeError as error:       # granian: the client went away mid-body
            raise _Refused(HTTPStatus.BAD_REQUEST, f"the body was cut short ({error})"
                           ) from None

    def close(self) -> None:
        """Let the requests in flight finish; take no more."""
        if not self._closed:
            self._closed = True
            self._threads.shutdown(wait=True)


async def _read_chunks(protocol: Any, limit: int) -> bytes:
    """A chunked body, refused as soon as it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for part in protocol:
        size += len(part)
        if limit and size > limit:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"the body is over [server] max_content_length ({limit} bytes)")
        parts.append(part)
    return b"".join(parts)


def _run(application: WSGIApplication, scope: Any, body: bytes, multiprocess: bool
         ) -> tuple[int, list[tuple[str, str]], bytes]:
    """The request's answer, in a request thread (the environ is built there
    too: the event loop thread is every connection's, keep its turns short)."""
    return _call_application(application, wsgi_environ(scope, body, multiprocess))


def _call_application(application: WSGIApplication, environ: dict[str, Any]
                      ) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run the WSGI application to its end (in a request thread)."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return _no_write

    try:
        answer = application(environ, start_response)
        try:
            body = b"".join(answer)
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
    except Exception:
        logger.exception("%s %r failed", environ.get("REQUEST_METHOD"),
                         environ.get("PATH_INFO"))
        body = b"Internal Server Error\n"
        started[:] = ["500 Internal Server Error",
                      [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]]
    status, headers = started
    return int(status.split(" ", 1)[0]), list(headers), body


def _no_write(data: bytes) -> None:
    raise RuntimeError("kalend's application returns its answer; write() is not offered")


def _send_refusal(protocol: Any, refused: _Refused) -> None:
    body = f"{refused.status.value} {refused.status.phrase}: {refused.reason}\n".encode()
    protocol.response_bytes(refused.status.value,
                            [("content-type", "text/plain; charset=utf-8"),
                             # The rest of the body may still be on its way.
                             ("connection", "close")], body)


def _framing(headers: Any) -> tuple[int | None, bool]:
    """The request's Content-Length (None: not sent), and whether it has a
    Transfer-Encoding: how its body is delimited (RFC 9112 §6.3)."""
    length = headers.get("content-length")
    if length is not None:
        try:
            length = int(length)
        except ValueError:
            raise _Refused(HTTPStatus.BAD_REQUEST, "Content-Length is not a number"
                           ) from None
    return length, headers.get("transfer-encoding") is not None


def wsgi_environ(scope: Any, body: bytes, multiprocess: bool = False) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of a buffered RSGI request.

    PATH_INFO is the decoded path as text, as Radicale's own server gives it
    (``unquote`` of the request path), not PEP 3333's latin-1 bytes-as-text.
    """
    server_host, _, server_port = scope.server.rpartition(":")
    client_host, _, client_port = scope.client.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path,
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": "HTTP/" + scope.http_version,
        "REMOTE_ADDR": client_host.strip("[]"),
        "REMOTE_PORT": client_port,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
    }
    if scope.scheme == "https":
        environ["HTTPS"] = "on"
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue            # the body is whole: its length is CONTENT_LENGTH
        if key != "CONTENT_TYPE":
            key = "HTTP_" + key
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ
