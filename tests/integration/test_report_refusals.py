"""The REPORT and PROPFIND bodies that answered 500, one test each (issue 15,
point 5): now a 400 with the precondition of RFC 4791 §9.7-9.9 (or a 207 /
507 where the request is well formed), and nothing changed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from dav_support import CALDAV, DAV, clark
from kalend_testing import write_config
from table_snapshots import snapshot

NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
X = '<?xml version="1.0" encoding="utf-8"?>'


def query(time_range: str = 'start="20261101T000000Z" end="20261201T000000Z"',
          prop: str = "<D:getetag/>") -> str:
    return (X + f"<C:calendar-query {NS}><D:prop>{prop}</D:prop><C:filter>"
            '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f"<C:time-range {time_range}/></C:comp-filter></C:comp-filter></C:filter>"
            "</C:calendar-query>")


EVERYTHING = 'start="00010101T000000Z" end="99991231T235959Z"'


@pytest.fixture
def server_config(tmp_path, database_url: str) -> str:
    return write_config(str(tmp_path / "data"), database_url, extra="[auth]\ndelay = 0\n")


@pytest.fixture
def alice(server):
    """alice's calendar holds a daily series without end and one event."""
    server.add_user("alice")
    assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201
    for uid, extra in (("daily", "RRULE:FREQ=DAILY\r\n"), ("once", "")):
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:{uid}\r\nDTSTAMP:20261101T090000Z\r\nDTSTART:20261123T100000Z\r\n"
                f"DTEND:20261123T110000Z\r\n{extra}SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        assert server.request("PUT", f"/alice/cal/{uid}.ics", user="alice", body=body,
                              headers={"Content-Type": "text/calendar"}).status_code == 201
    return server


def report(server, body: str, depth: str = "1", path: str = "/alice/cal/"):
    return server.request("REPORT", path, user="alice", body=body, headers={"Depth": depth})


def assert_precondition(response, status: int, namespace: str, name: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    root = ET.fromstring(response.content)
    assert root.tag == clark(DAV, "error") and root.find(clark(namespace, name)) is not None, \
        response.text


@pytest.mark.parametrize("time_range", [
    pytest.param('start="garbage" end="20261201T000000Z"', id="garbage"),
    pytest.param('start="20261101" end="20261201"', id="dates"),
    pytest.param('start="20261101T000000" end="20261201T000000"', id="floating"),
    pytest.param('start="20261340T250000Z"', id="no-such-day"),
    pytest.param("", id="neither-start-nor-end"),
])
def test_a_time_range_that_is_not_utc_date_times_is_a_valid_filter_400(alice, time_range):
    before = snapshot(alice)
    assert_precondition(report(alice, query(time_range)), 400, CALDAV, "valid-filter")
    assert snapshot(alice) == before


def test_a_query_from_the_year_1_to_9999_answers_every_object(alice):
    response = report(alice, query(EVERYTHING))
    assert response.status_code == 207, response.text
    assert response.text.count("<D:href>") == 2


def test_expand_from_the_year_1_to_9999_of_an_endless_series_is_507(alice):
    expand = f'<C:calendar-data><C:expand {EVERYTHING}/></C:calendar-data>'
    response = report(alice, query(EVERYTHING, prop=expand))
    assert_precondition(response, 507, DAV, "number-of-matches-within-limits")


def test_free_busy_from_the_year_1_to_9999_of_an_endless_series_is_507(alice):
    body = X + f"<C:free-busy-query {NS}><C:time-range {EVERYTHING}/></C:free-busy-query>"
    assert_precondition(report(alice, body), 507, DAV, "number-of-matches-within-limits")


@pytest.mark.parametrize("body", [
    pytest.param(X + f'<C:calendar-query {NS}><D:prop><D:getetag/></D:prop><C:filter>'
                 '<C:comp-filter name="VCALENDAR"/><C:comp-filter name="VCALENDAR"/>'
                 "</C:filter></C:calendar-query>", id="two-comp-filters"),
    pytest.param(X + f'<C:calendar-query {NS}><D:prop><D:getetag/></D:prop><C:filter>'
                 '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                 '<C:prop-filter name="SUMMARY"><C:text-match collation="bogus">x'
                 "</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter>"
                 "</C:filter></C:calendar-query>", id="unknown-collation"),
    pytest.param(X + f'<C:calendar-query {NS}><D:prop><D:getetag/></D:prop><C:filter>'
                 '<C:comp-filter><C:comp-filter name="VEVENT"/></C:comp-filter>'
                 "</C:filter></C:calendar-query>", id="comp-filter-without-name"),
    pytest.param(X + f"<C:calendar-multiget {NS}><D:allprop/><D:href></D:href>"
                 "</C:calendar-multiget>", id="empty-multiget-href"),
])
def test_a_filter_radicale_cannot_read_is_a_valid_filter_400(alice, body):
    before = snapshot(alice)
    assert_precondition(report(alice, body), 400, CALDAV, "valid-filter")
    assert snapshot(alice) == before


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT"])
def test_a_body_nested_100000_deep_is_400(alice, method):
    inner = "<D:x>" * 100_000 + "</D:x>" * 100_000
    root = "D:propfind" if method == "PROPFIND" else "C:calendar-query"
    body = X + f"<{root} {NS}><D:prop>{inner}</D:prop></{root}>"
    response = alice.request(method, "/alice/cal/", user="alice", body=body,
                             headers={"Depth": "0"})
    assert response.status_code == 400, response.text[:300]


def test_an_empty_propfind_element_is_400(alice):
    response = alice.request("PROPFIND", "/alice/cal/", user="alice",
                             body=X + '<D:propfind xmlns:D="DAV:"/>', headers={"Depth": "0"})
    assert response.status_code == 400, response.text[:300]
