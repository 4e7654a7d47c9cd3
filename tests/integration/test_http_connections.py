"""HTTP/1.1 persistent connections of ``kalend serve`` (server/http_handler.py).

The connection handling is the same whatever the database, so these tests
run on the embedded default only. They speak raw HTTP over a socket where
the framing is the point: a kept connection must never take the rest of one
request's body for the next request.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
from kalend_testing import PASSWORD, KalendServer, write_config

from kalend.server import http_handler

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:kept-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nSUMMARY:Kept\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n")


MKCALENDAR = (
    '<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype>'
    '<D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>')


def _auth(user: str = "alice", password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def kept(tmp_path) -> Iterator[KalendServer]:
    folder = str(tmp_path / "data")
    url = "sqlite:///" + str(tmp_path / "kalend.sqlite3")
    instance = KalendServer(write_config(folder, url), url, folder)
    instance.start_in_thread()
    instance.add_user("alice")
    created = instance.request("MKCOL", "/alice/calendar/", user="alice", body=MKCALENDAR,
                               headers={"Content-Type": "application/xml"})
    assert created.status_code == 201, created.text
    try:
        yield instance
    finally:
        instance.stop()


def _address(server: KalendServer) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(server.url)
    return parsed.hostname or "127.0.0.1", parsed.port or 80


def _connection(server: KalendServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*_address(server), timeout=60)


def _read_response(stream) -> tuple[str, dict[str, str], bytes]:
    """One response from a raw socket file: status line, headers, body."""
    status = stream.readline().decode("latin-1").strip()
    headers: dict[str, str] = {}
    while True:
        line = stream.readline().decode("latin-1")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0")))
    return status, headers, body


def test_several_requests_share_one_connection(kept):
    connection = _connection(kept)
    try:
        connection.request("PUT", "/alice/calendar/kept-1.ics", body=EVENT.encode(),
                           headers={"Authorization": _auth(),
                                    "Content-Type": "text/calendar; charset=utf-8"})
        created = connection.getresponse()
        created.read()
        sock = connection.sock
        connection.request("GET", "/alice/calendar/kept-1.ics",
                           headers={"Authorization": _auth()})
        fetched = connection.getresponse()
        body = fetched.read()
        same_socket = connection.sock is sock
    finally:
        connection.close()

    assert created.status == 201 and created.version == 11
    assert not created.will_close
    assert same_socket
    assert fetched.status == 200
    assert "SUMMARY:Kept" in body.decode()
    assert not fetched.will_close


def test_an_unread_body_is_not_taken_for_the_next_request(kept):
    """A refused PUT (wrong password: the body is never read) whose body
    looks like a request; the next request on the connection gets its own
    answer, and the smuggled one none."""
    smuggled = (b"DELETE /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                b"Authorization: " + _auth().encode() + b"\r\n\r\n")
    assert kept.request("PUT", "/alice/calendar/kept-1.ics", user="alice", body=EVENT,
                        headers={"Content-Type": "text/calendar"}).status_code == 201
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/other.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth(password="wrong").encode() + b"\r\n"
                     b"Content-Length: " + str(len(smuggled)).encode() + b"\r\n\r\n"
                     + smuggled)
        refused = _read_response(stream)
        sock.sendall(b"GET /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n\r\n")
        fetched = _read_response(stream)
        sock.sendall(b"OPTIONS /alice/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        last = _read_response(stream)
        rest = stream.read()

    assert refused[0].startswith("HTTP/1.1 401")
    assert fetched[0] == "HTTP/1.1 200 OK" and b"SUMMARY:Kept" in fetched[2]
    assert last[0] == "HTTP/1.1 200 OK" and last[1].get("connection") == "close"
    assert rest == b""           # no answer for the smuggled DELETE
    assert kept.request("GET", "/alice/calendar/kept-1.ics", user="alice").status_code == 200


def test_a_large_unread_body_closes_the_connection(kept):
    body = b"x" * (http_handler.MAX_SKIPPED_BODY + 1)
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/big.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth(password="wrong").encode() + b"\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        try:
            sock.sendall(body)
        except OSError:
            pass          # the server may close before the body is all sent
        status, headers, _ = _read_response(stream)
        rest = stream.read()

    assert status.startswith("HTTP/1.1 401")
    assert headers.get("connection") == "close"
    assert rest == b""


@pytest.mark.parametrize("request_head", [
    b"OPTIONS /alice/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"OPTIONS /alice/ HTTP/1.0\r\n\r\n",
    b"OPTIONS /alice/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
], ids=["connection-close", "http-1.0", "chunked-body"])
def test_the_connection_ends_when_it_cannot_or_should_not_go_on(kept, request_head):
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(request_head)
        status, headers, _ = _read_response(stream)
        rest = stream.read()

    assert status.startswith("HTTP/1.1 200")
    assert headers.get("connection") == "close"
    assert rest == b""


def test_a_malformed_content_length_is_refused_and_the_connection_closed(kept):
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/x.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: ten\r\n\r\n")
        status, _, _ = _read_response(stream)
        rest = stream.read()

    assert status.startswith("HTTP/1.1 400")
    assert rest == b""
    assert kept.rows("SELECT href FROM item WHERE href = 'x.ics'") == []


def test_expect_100_continue_is_answered_before_the_body(kept):
    """curl and other clients wait for "100 Continue" before a large body."""
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n"
                     b"Content-Type: text/calendar\r\nExpect: 100-continue\r\n"
                     b"Content-Length: " + str(len(EVENT)).encode() + b"\r\n\r\n")
        interim = stream.readline()
        assert stream.readline() == b"\r\n"
        sock.sendall(EVENT.encode())
        status, _, _ = _read_response(stream)

    assert interim.startswith(b"HTTP/1.1 100")
    assert status.startswith("HTTP/1.1 201")
    assert kept.rows("SELECT href FROM item WHERE href = 'kept-1.ics'") == [("kept-1.ics",)]


def test_stopping_closes_idle_connections_without_waiting_for_them(kept, monkeypatch):
    """A kept connection waiting for its next request does not hold up
    shutdown (were it waited for, stop would take IDLE_SECONDS, an hour
    here)."""
    monkeypatch.setattr(http_handler, "IDLE_SECONDS", 3600.0)
    connection = _connection(kept)
    connection.request("OPTIONS", "/alice/")
    first = connection.getresponse()
    first.read()
    assert not first.will_close

    server_thread = kept._thread
    stopper = threading.Thread(target=kept.stop)
    stopper.start()
    stopper.join(120)

    assert server_thread is not None and not server_thread.is_alive()
    assert connection.sock is not None and connection.sock.recv(1) == b""
    connection.close()


@pytest.fixture
def capped(tmp_path) -> Iterator[KalendServer]:
    """A server that may hold two connections ([server] max_connections = 2)."""
    folder = str(tmp_path / "data")
    url = "sqlite:///" + str(tmp_path / "kalend.sqlite3")
    config = write_config(folder, url)
    with open(config, encoding="utf-8") as handle:
        text = handle.read()
    with open(config, "w", encoding="utf-8") as handle:
        handle.write(text.replace("[server]\n", "[server]\nmax_connections = 2\n", 1))
    instance = KalendServer(config, url, folder)
    instance.start_in_thread()
    instance.add_user("alice")
    try:
        yield instance
    finally:
        instance.stop()


def test_at_the_connection_cap_the_longest_idle_connection_makes_room(capped, monkeypatch):
    # Kept connections would otherwise wait an hour for their next request.
    monkeypatch.setattr(http_handler, "IDLE_SECONDS", 3600.0)
    first, second = _connection(capped), _connection(capped)
    for connection in (first, second):
        connection.request("OPTIONS", "/alice/")
        answer = connection.getresponse()
        answer.read()
        assert not answer.will_close
    # Both slots are taken by kept connections waiting for a next request.

    third = _connection(capped)
    third.request("OPTIONS", "/alice/")
    answer = third.getresponse()
    answer.read()

    assert answer.status == 200 and "calendar-access" in answer.getheader("DAV", "")
    assert first.sock is not None
    first.sock.settimeout(30)
    assert first.sock.recv(1) == b""        # closed by the server to make room
    for connection in (first, second, third):
        connection.close()
