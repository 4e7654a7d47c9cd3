"""The HTTP client of the timed requests: one kept connection per server and
thread, Basic credentials, gzip accepted and undone before the clock stops.

Why not ``requests`` here: it spends about 2 ms of its own on every request
on this machine (urllib3's pool and retries, header objects, its streaming
decoder), about as much as the SQL floor of a week view. The cost is the
same for every server, so it hid the differences between them under client
work, and it is not part of what a server costs. This client does what a
calendar client must do and nothing more: keep the connection (RFC 9112
§9.3), send credentials, accept gzip and decompress the answer. Loading and
other untimed requests still use ``requests``.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
import zlib
from collections.abc import Mapping


class ThinClient:
    """Requests to one server; each thread keeps its own connection, as the
    throughput row's concurrent clients each do."""

    def __init__(self, host: str, port: int, user: str, password: str) -> None:
        self.host = host
        self.port = port
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}",
                         "Accept-Encoding": "gzip, deflate", "Accept": "*/*",
                         "User-Agent": "kalend-bench"}
        self._local = threading.local()

    def request(self, method: str, path: str, body: bytes | None,
                headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
        """(status, decoded body). Raises ``TimeoutError`` when the server
        takes longer than ``timeout``, ``OSError`` or ``HTTPException`` when
        the connection fails; a failed connection is not used again."""
        connection = self._connection(timeout)
        try:
            connection.request(method, path, body=body, headers={**self._headers, **headers})
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self._forget()
            raise
        if response.will_close:        # HTTP/1.0 servers, or Connection: close
            self._forget()
        encoding = (response.getheader("Content-Encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            data = zlib.decompress(data, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            data = zlib.decompress(data)
        return response.status, data

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and (connection.sock is None or _dropped(connection.sock)):
            self._forget()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self._local.connection = connection
        else:
            connection.sock.settimeout(timeout)
        return connection

    def _forget(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        self._forget()


def _dropped(sock: socket.socket) -> bool:
    """An idle kept connection that is readable has been closed by the
    server (its idle timeout) or holds bytes nobody asked for: either way it
    must not carry the next request."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
