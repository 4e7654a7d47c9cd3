"""The benchmark's timed client (``bench.client``) against real servers on
loopback: it must get every answer a calendar client would, decoded, over a
kept connection, and survive the server closing that connection."""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from dav_support import fixture_text
from kalend_testing import PASSWORD

from bench.client import ThinClient


class _Counting(http.server.BaseHTTPRequestHandler):
    """Answers every GET with its connection's serial number, gzipped."""

    connections = 0
    timeout = 0.3           # a kept connection idle this long is closed

    def setup(self) -> None:
        super().setup()
        type(self).connections += 1
        self.serial = type(self).connections

    def do_GET(self) -> None:
        body = gzip.compress(f"connection {self.serial}".encode())
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(params=["HTTP/1.1", "HTTP/1.0"])
def plain_server(request) -> Iterator[tuple[int, type[_Counting]]]:
    handler = type("Handler", (_Counting,), {"protocol_version": request.param,
                                             "connections": 0})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_keeps_the_connection_and_reconnects_after_the_server_closed_it(plain_server):
    port, handler = plain_server
    client = ThinClient("127.0.0.1", port, "alice", "secret")

    first = client.request("GET", "/", None, {}, timeout=5)
    second = client.request("GET", "/", None, {}, timeout=5)
    time.sleep(0.6)         # the server has closed the idle connection by now
    third = client.request("GET", "/", None, {}, timeout=5)

    if handler.protocol_version == "HTTP/1.1":
        assert [first, second, third] == [(200, b"connection 1"), (200, b"connection 1"),
                                          (200, b"connection 2")]
    else:                   # HTTP/1.0 answers close: a new connection each time
        assert [first, second, third] == [(200, b"connection 1"), (200, b"connection 2"),
                                          (200, b"connection 3")]


def test_a_calendar_query_answer_equals_what_requests_decodes(server):
    server.add_user("alice")
    assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201
    server.request("PUT", "/alice/cal/dentist.ics", user="alice",
                   body=fixture_text("apple_event_dentist.ics"))
    body = ('<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter>'
            '</C:calendar-query>')
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    client = ThinClient(host, int(port), "alice", PASSWORD)
    headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}

    status, content = client.request("REPORT", "/alice/cal/", body.encode(), headers, 5)
    wrong = client.request("REPORT", "/alice/cal/", body.encode(), headers | {
        "Authorization": "Basic bm9ib2R5Om5vdGhpbmc="}, 5)
    reference = requests.request("REPORT", server.url + "alice/cal/", data=body.encode(),
                                 headers=headers, auth=("alice", PASSWORD), timeout=5)

    assert status == 207 and content == reference.content
    assert b"BEGIN:VEVENT" in content and b"dentist.ics" in content
    assert wrong[0] == 401
