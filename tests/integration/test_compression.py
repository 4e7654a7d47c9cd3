"""Response compression through a real server: big answers go out gzipped
when the client accepts it (and decompress to exactly the plain answer),
small ones and refusing clients get them plain (RFC 9110 §8.4, §12.5.3)."""

from __future__ import annotations

import datetime as dt
import gzip

import requests
from kalend_testing import PASSWORD
from occurrence_support import make_calendar, put, time_range_query

USER = "alice"
WEEK = (dt.datetime(2026, 3, 2, tzinfo=dt.UTC), dt.datetime(2026, 3, 9, tzinfo=dt.UTC))


def _event(number: int) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN", "BEGIN:VEVENT",
        f"UID:compress-{number}@example.org", "DTSTAMP:20260101T000000Z",
        f"DTSTART:202603{3 + number % 5:02d}T{8 + number % 9:02d}0000Z",
        f"DTEND:202603{3 + number % 5:02d}T{9 + number % 9:02d}0000Z",
        f"SUMMARY:Planning round {number}", "DESCRIPTION:" + "agenda " * 20,
        "END:VEVENT", "END:VCALENDAR", ""])


def _week_report(server, path: str, accept: str) -> requests.Response:
    return requests.request(
        "REPORT", server.url.rstrip("/") + path, auth=(USER, PASSWORD), stream=True,
        data=time_range_query("VEVENT", *WEEK).encode(), timeout=60,
        headers={"Content-Type": "application/xml", "Depth": "1", "Accept-Encoding": accept})


def _setup(server) -> str:
    server.add_user(USER)
    path = make_calendar(server, USER, "work")
    for number in range(40):
        put(server, USER, f"{path}{number}.ics", _event(number))
    return path


def test_a_week_view_is_gzipped_for_clients_that_accept_it(server) -> None:
    path = _setup(server)
    plain = _week_report(server, path, "identity")
    plain_body = plain.raw.read()
    zipped = _week_report(server, path, "gzip, deflate")
    zipped_body = zipped.raw.read(decode_content=False)

    assert plain.status_code == zipped.status_code == 207
    assert "Content-Encoding" not in plain.headers
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["Vary"] == "Accept-Encoding"
    assert int(zipped.headers["Content-Length"]) == len(zipped_body) < len(plain_body) / 3
    assert gzip.decompress(zipped_body) == plain_body
    assert plain_body.count(b"<D:response>") == 40


def test_gzip_with_zero_quality_is_refused_compression(server) -> None:
    path = _setup(server)
    response = _week_report(server, path, "gzip;q=0, identity")
    assert response.status_code == 207
    assert "Content-Encoding" not in response.headers
    assert response.raw.read().count(b"<D:response>") == 40


def test_small_answers_go_out_plain(server) -> None:
    path = _setup(server)
    response = requests.get(server.url.rstrip("/") + f"{path}1.ics", auth=(USER, PASSWORD),
                            headers={"Accept-Encoding": "gzip"}, stream=True, timeout=60)
    body = response.raw.read(decode_content=False)
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers
    assert body.startswith(b"BEGIN:VCALENDAR") and b"Planning round 1" in body
