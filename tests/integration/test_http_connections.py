"""The HTTP front (server/front.py, server/http.py) as clients meet it.

Two kinds of server: ``kept`` runs kalend's front and granian's HTTP parser
in this process (what the other tests use); ``served`` is the real
``kalend serve``, with its worker process, for what is about processes,
sockets and time: slow and half-open clients, bursts of new connections,
more kept connections than request threads. The connection handling is the
same whatever the database, so these run on the embedded default only; the
worker processes on PostgreSQL have a test of their own.

Raw sockets where the framing is the point: a kept connection must never
take the rest of one request's body for the next request.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator

import pytest
from kalend_testing import PASSWORD, KalendServer, write_config

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:kept-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nSUMMARY:Kept\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n")

MKCALENDAR = (
    '<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" '
    'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype>'
    '<D:collection/><C:calendar/></D:resourcetype></D:prop></D:set></D:mkcol>')

#: [server] timeout of the ``served`` server: slow clients are cut off after
#: it, so the tests that wait for that wait this long.
TIMEOUT = 3


def _event(uid: str) -> str:
    return EVENT.replace("UID:kept-1", f"UID:{uid}")


def _auth(user: str = "alice", password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _with_calendar(instance: KalendServer) -> KalendServer:
    instance.add_user("alice")
    created = instance.request("MKCOL", "/alice/calendar/", user="alice", body=MKCALENDAR,
                               headers={"Content-Type": "application/xml"})
    assert created.status_code == 201, created.text
    return instance


@pytest.fixture
def kept(tmp_path) -> Iterator[KalendServer]:
    folder = str(tmp_path / "data")
    url = "sqlite:///" + str(tmp_path / "kalend.sqlite3")
    instance = KalendServer(write_config(folder, url), url, folder)
    instance.start_in_thread()
    try:
        yield _with_calendar(instance)
    finally:
        instance.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[KalendServer]:
    """``kalend serve`` in its own process: 4 request threads, a 3 s timeout,
    a 1 MB body limit."""
    base = tmp_path_factory.mktemp("served")
    folder = str(base / "data")
    url = "sqlite:///" + str(base / "kalend.sqlite3")
    config = write_config(folder, url, server={"timeout": str(TIMEOUT),
                                               "max_connections": "4",
                                               "max_content_length": "1000000"})
    instance = KalendServer(config, url, folder)
    instance.start_process()
    try:
        yield _with_calendar(instance)
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


def _put(connection: http.client.HTTPConnection, uid: str) -> int:
    connection.request("PUT", f"/alice/calendar/{uid}.ics", body=_event(uid).encode(),
                       headers={"Authorization": _auth(), "Content-Type": "text/calendar"})
    answer = connection.getresponse()
    answer.read()
    return answer.status


def _propfind(server: KalendServer) -> int:
    connection = _connection(server)
    try:
        connection.request("PROPFIND", "/alice/calendar/",
                           headers={"Authorization": _auth(), "Depth": "1"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def _still_open(sock: socket.socket) -> bool:
    """Whether the server has not closed the connection (nothing to read)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


# -- keep-alive and framing (in this process) ---------------------------------


def test_several_requests_share_one_connection(kept):
    connection = _connection(kept)
    try:
        created_status = _put(connection, "kept-1")
        sock = connection.sock
        connection.request("GET", "/alice/calendar/kept-1.ics",
                           headers={"Authorization": _auth()})
        fetched = connection.getresponse()
        body = fetched.read()
        same_socket = connection.sock is sock
    finally:
        connection.close()

    assert created_status == 201
    assert same_socket
    assert fetched.status == 200 and fetched.version == 11
    assert "SUMMARY:Kept" in body.decode()
    assert not fetched.will_close


def test_an_unread_body_is_not_taken_for_the_next_request(kept):
    """A refused PUT (wrong password) whose body looks like a request; the
    next request on the connection gets its own answer, and the smuggled
    one none."""
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


@pytest.mark.parametrize("request_head", [
    b"OPTIONS /alice/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"OPTIONS /alice/ HTTP/1.0\r\n\r\n",
], ids=["connection-close", "http-1.0"])
def test_the_connection_ends_when_the_client_asks(kept, request_head):
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(request_head)
        status, _, _ = _read_response(stream)
        rest = stream.read()

    assert status.split()[1] == "200"
    assert rest == b""


def test_a_chunked_body_is_stored_and_the_connection_kept(kept):
    """Radicale's own server and kalend's first one answered a chunked PUT
    400 (or stored an empty body): the front decodes it."""
    body = EVENT.encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part)
                       for part in (body[:50], body[50:120], body[120:])) + b"0\r\n\r\n"
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n"
                     b"Content-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + chunked)
        stored = _read_response(stream)
        sock.sendall(b"GET /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n\r\n")
        fetched = _read_response(stream)

    assert stored[0].startswith("HTTP/1.1 201")
    assert fetched[0].startswith("HTTP/1.1 200") and b"SUMMARY:Kept" in fetched[2]
    assert kept.rows("SELECT uid FROM item WHERE href = 'kept-1.ics'") == [("kept-1",)]


def test_head_announces_the_length_of_get_and_sends_no_body(kept):
    assert kept.request("PUT", "/alice/calendar/kept-1.ics", user="alice", body=EVENT,
                        headers={"Content-Type": "text/calendar"}).status_code == 201
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        for method in (b"GET", b"HEAD"):
            sock.sendall(method + b" /alice/calendar/kept-1.ics HTTP/1.1\r\nHost: x\r\n"
                         b"Authorization: " + _auth().encode() + b"\r\n\r\n")
        got = _read_response(stream)
        status = stream.readline().decode("latin-1")
        headers = []
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.append((name.lower(), value.strip()))
        sock.sendall(b"OPTIONS /alice/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        after = _read_response(stream)   # the next answer follows at once: no body

    assert got[0].startswith("HTTP/1.1 200") and got[1]["content-length"] == str(len(got[2]))
    assert status.startswith("HTTP/1.1 200")
    assert [value for name, value in headers if name == "content-length"] == [
        str(len(got[2]))]
    assert after[0].startswith("HTTP/1.1 200")


def test_a_malformed_content_length_is_refused_and_nothing_stored(kept):
    with socket.create_connection(_address(kept), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/x.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n"
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


def test_stopping_does_not_wait_for_idle_kept_connections(kept):
    """A kept connection waiting for its next request does not hold up
    shutdown: the server stops and the connection is closed."""
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
    assert connection.sock is not None
    connection.sock.settimeout(60)
    assert connection.sock.recv(1) == b""
    connection.close()


# -- size limits before the body is read (kalend serve) -----------------------


def test_a_body_over_max_content_length_gets_413_before_it_is_sent(served):
    """413 from the headers: the client that asks first (Expect:
    100-continue) is never told to send its 2 MB."""
    with socket.create_connection(_address(served), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/huge.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n"
                     b"Content-Type: text/calendar\r\nExpect: 100-continue\r\n"
                     b"Content-Length: 2000000\r\n\r\n")
        status, _, body = _read_response(stream)

    assert status.startswith("HTTP/1.1 413"), status
    assert b"max_content_length" in body
    assert served.rows("SELECT href FROM item WHERE href = 'huge.ics'") == []


def test_a_chunked_body_over_max_content_length_gets_413(served):
    chunk = b"x" * 65536
    with socket.create_connection(_address(served), timeout=60) as sock:
        stream = sock.makefile("rb")
        sock.sendall(b"PUT /alice/calendar/huge.ics HTTP/1.1\r\nHost: x\r\n"
                     b"Authorization: " + _auth().encode() + b"\r\n"
                     b"Content-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(40):         # 2.6 MB, more than the 1 MB allowed
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            pass                        # the server answered and closed first
        status, headers, _ = _read_response(stream)

    assert status.startswith("HTTP/1.1 413"), status
    assert headers.get("connection") == "close"
    assert served.rows("SELECT href FROM item WHERE href = 'huge.ics'") == []


# -- slow and half-open clients (kalend serve) --------------------------------


def test_half_sent_headers_hold_no_request_thread(served):
    """Twelve connections that send half a header (three times the server's
    four request threads) and wait: an honest request is answered while they
    are still open."""
    hogs = [socket.create_connection(_address(served), timeout=60) for _ in range(12)]
    try:
        for hog in hogs:
            hog.sendall(b"GET /alice/ HTTP/1.1\r\nHost: x\r\n")
        status = _propfind(served)
        open_meanwhile = sum(_still_open(hog) for hog in hogs)
    finally:
        for hog in hogs:
            hog.close()

    assert status == 207
    assert open_meanwhile == 12


def test_slow_bodies_hold_no_request_thread_and_time_out_with_408(served):
    """Twelve PUTs that announce 100 bytes and send 2: an honest request is
    answered meanwhile; after [server] timeout each slow one gets 408 and
    nothing of theirs is stored."""
    hogs = [socket.create_connection(_address(served), timeout=60) for _ in range(12)]
    try:
        for number, hog in enumerate(hogs):
            hog.sendall(f"PUT /alice/calendar/slow-{number}.ics HTTP/1.1\r\nHost: x\r\n"
                        f"Authorization: {_auth()}\r\nContent-Type: text/calendar\r\n"
                        "Content-Length: 100\r\n\r\nBE".encode())
        status = _propfind(served)
        open_meanwhile = sum(_still_open(hog) for hog in hogs)
        answers = [_read_response(hog.makefile("rb"))[0] for hog in hogs]
    finally:
        for hog in hogs:
            hog.close()

    assert status == 207
    assert open_meanwhile == 12
    assert answers == ["HTTP/1.1 408 Request Timeout"] * 12
    assert served.rows("SELECT href FROM item WHERE href LIKE 'slow-%'") == []


def test_a_header_line_now_and_then_does_not_keep_a_connection(served):
    """The deadline is on the whole header, not on each read: a client
    sending one header line a second is cut off after [server] timeout."""
    with socket.create_connection(_address(served), timeout=60) as sock:
        sock.sendall(b"GET /alice/ HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(TIMEOUT * 10):
            time.sleep(1)
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                closed = True
                break
            if not _still_open(sock):
                closed = True
                break

    assert closed


# -- many clients at once (kalend serve) ---------------------------------------


def test_a_burst_of_64_new_connections_is_answered_without_a_reset(served):
    """socketserver's listen queue of 5 reset some of 32 new connections,
    after their PUT was sent: a client could not know whether it was
    applied. Now every PUT is answered, and stored."""
    statuses: Counter[object] = Counter()
    lock = threading.Lock()

    def put(number: int) -> None:
        connection = _connection(served)
        try:
            status: object = _put(connection, f"burst-{number}")
        except OSError as error:
            status = repr(error)
        finally:
            connection.close()
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=put, args=(n,)) for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert statuses == Counter({201: 64})
    assert served.rows("SELECT COUNT(*) FROM item WHERE href LIKE 'burst-%'") == [(64,)]


def test_more_kept_connections_than_request_threads_lose_no_request(served):
    """Ten clients keep their connections (eight writers, two syncing, as a
    small team's devices do) against four request threads: kalend's first
    server closed kept connections at its cap and lost 93 of 400 PUTs to
    "server disconnected without sending a response"."""
    outcomes: Counter[object] = Counter()
    lock = threading.Lock()

    def record(outcome: object) -> None:
        with lock:
            outcomes[outcome] += 1

    def writer(number: int) -> None:
        connection = _connection(served)
        try:
            for step in range(25):
                try:
                    record(_put(connection, f"team-{number}-{step}"))
                except (OSError, http.client.HTTPException) as error:
                    record(type(error).__name__)
        finally:
            connection.close()

    def syncer() -> None:
        connection = _connection(served)
        try:
            for _ in range(25):
                connection.request("PROPFIND", "/alice/calendar/",
                                   headers={"Authorization": _auth(), "Depth": "1"})
                answer = connection.getresponse()
                answer.read()
                record(f"sync {answer.status}")
        finally:
            connection.close()

    threads = ([threading.Thread(target=writer, args=(n,)) for n in range(8)]
               + [threading.Thread(target=syncer) for _ in range(2)])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert outcomes == Counter({201: 200, "sync 207": 50})
    assert served.rows("SELECT COUNT(*) FROM item WHERE href LIKE 'team-%'") == [(200,)]
