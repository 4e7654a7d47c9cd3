"""Raw HTTP shaped like Thunderbird's (Lightning's CalDAV provider) requests.

Thunderbird checks a calendar with OPTIONS and a Depth-0 PROPFIND (ctag,
resource type, component set), asks a calendar-query for the ETags of the
events in its window (no calendar data), fetches what changed with a
calendar-multiget, asks for all tasks without a time range, and writes with
If-Match. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import requests
from dav_support import CALDAV, CS, DAV, clark, fixture_text, ok_text, parse_multistatus

REVIEW = "thunderbird_event_berlin_review.ics"
STANDUP = "thunderbird_event_weekly_standup_since_october.ics"
OFFSITE = "thunderbird_event_january_offsite.ics"
EXPENSES = "thunderbird_todo_file_expenses.ics"
EXPENSES_DONE = "thunderbird_todo_file_expenses_completed.ics"
SOMEDAY = "thunderbird_todo_no_due_date.ics"


def setup_calendar(server, name: str = "tb") -> None:
    server.add_user("alice")
    response = server.request(
        "MKCOL", f"/alice/{name}/", user="alice",
        headers={"Content-Type": "application/xml"},
        body='<?xml version="1.0" encoding="UTF-8"?>\n'
             '<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
             '<D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype>'
             '<D:displayname>Thunderbird</D:displayname>'
             '<C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/>'
             '</C:supported-calendar-component-set></D:prop></D:set></D:mkcol>')
    assert response.status_code == 201, response.text


def put(server, path: str, fixture: str, headers: dict | None = None) -> requests.Response:
    # Thunderbird sends new items with If-None-Match: * and changes with If-Match.
    response = server.request("PUT", path, user="alice", body=fixture_text(fixture),
                              headers={"Content-Type": "text/calendar; charset=utf-8",
                                       **(headers or {"If-None-Match": "*"})})
    return response


def stored(server) -> dict[str, tuple[str, str]]:
    return {href: (etag, text) for href, etag, text in server.rows(
        "SELECT i.href, i.etag, i.text FROM item i JOIN collection c ON c.id = i.collection_id "
        "WHERE c.path = 'alice/tb'")}


CALENDAR_PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"
            xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:resourcetype/>
    <D:owner/>
    <D:current-user-principal/>
    <D:current-user-privilege-set/>
    <D:supported-report-set/>
    <C:supported-calendar-component-set/>
    <CS:getctag/>
  </D:prop>
</D:propfind>
"""


def event_window_query(start: str, end: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:getetag/>
  </D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VEVENT">
        <C:time-range start="{start}" end="{end}"/>
      </C:comp-filter>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"""


TODO_QUERY = """<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:getetag/>
  </D:prop>
  <C:filter>
    <C:comp-filter name="VCALENDAR">
      <C:comp-filter name="VTODO"/>
    </C:comp-filter>
  </C:filter>
</C:calendar-query>
"""


def multiget(hrefs: list[str]) -> str:
    links = "".join(f"<D:href>{h}</D:href>" for h in hrefs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<D:prop><D:getetag/><C:calendar-data/></D:prop>' + links +
            '</C:calendar-multiget>')


def test_options_announces_calendar_access_and_the_caldav_methods(server):
    setup_calendar(server)

    response = server.request("OPTIONS", "/alice/tb/", user="alice")

    assert response.status_code == 200
    dav = [token.strip() for token in response.headers["DAV"].split(",")]
    assert "calendar-access" in dav and "1" in dav
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"PROPFIND", "REPORT", "PUT", "DELETE", "MKCALENDAR"} <= allowed


def test_propfind_depth_0_gives_ctag_calendar_resourcetype_and_component_set(server):
    setup_calendar(server)

    response = server.request("PROPFIND", "/alice/tb/", user="alice",
                              headers={"Depth": "0", "Content-Type": "text/xml"},
                              body=CALENDAR_PROPFIND)

    result = parse_multistatus(response)
    assert list(result) == ["/alice/tb/"]
    props = result["/alice/tb/"]
    resourcetype = props[clark(DAV, "resourcetype")][1]
    assert resourcetype.find(clark(CALDAV, "calendar")) is not None
    components = props[clark(CALDAV, "supported-calendar-component-set")][1]
    assert sorted(c.get("name") for c in components) == ["VEVENT", "VTODO"]
    (collection_id, seq), = server.rows(
        "SELECT id, sync_seq FROM collection WHERE path = 'alice/tb'")
    assert ok_text(props, CS, "getctag") == f'"kalend-{collection_id}-{seq}"'
    assert props[clark(DAV, "current-user-principal")][1].findtext(clark(DAV, "href")) == \
        "/alice/"
    privileges = {p.tag for p in props[clark(DAV, "current-user-privilege-set")][1].iter()}
    assert clark(DAV, "write") in privileges or clark(DAV, "all") in privileges
    reports = {r.tag for r in props[clark(DAV, "supported-report-set")][1].iter()}
    assert {clark(CALDAV, "calendar-query"), clark(CALDAV, "calendar-multiget"),
            clark(DAV, "sync-collection")} <= reports


def test_ctag_changes_when_an_event_is_added_so_thunderbird_refreshes(server):
    setup_calendar(server)

    def ctag() -> str | None:
        return ok_text(parse_multistatus(server.request(
            "PROPFIND", "/alice/tb/", user="alice", headers={"Depth": "0"},
            body=CALENDAR_PROPFIND))["/alice/tb/"], CS, "getctag")

    before = ctag()
    assert put(server, "/alice/tb/review.ics", REVIEW).status_code == 201
    after_put = ctag()
    assert after_put != before
    assert ctag() == after_put


def test_calendar_query_with_a_time_range_returns_only_etags_of_events_in_the_window(server):
    setup_calendar(server)
    for name, fixture in (("review.ics", REVIEW), ("standup.ics", STANDUP),
                          ("offsite.ics", OFFSITE), ("expenses.ics", EXPENSES)):
        assert put(server, f"/alice/tb/{name}", fixture).status_code == 201

    response = server.request("REPORT", "/alice/tb/", user="alice",
                              headers={"Depth": "1", "Content-Type": "text/xml"},
                              body=event_window_query("20261116T000000Z", "20261130T000000Z"))

    result = parse_multistatus(response)
    rows = stored(server)
    # The review (Berlin time) and the stand-up (weekly since October) fall
    # into the window; the January offsite and the task do not.
    assert set(result) == {"/alice/tb/review.ics", "/alice/tb/standup.ics"}
    for href, props in result.items():
        assert set(props) == {clark(DAV, "getetag")}
        assert ok_text(props, DAV, "getetag") == rows[href.rsplit("/", 1)[1]][0]


def test_calendar_query_window_boundary_follows_the_events_time_zone(server):
    setup_calendar(server)
    put(server, "/alice/tb/review.ics", REVIEW)  # 14:30-16:00 Europe/Berlin = 13:30-15:00Z

    def hits(start: str, end: str) -> set[str]:
        return set(parse_multistatus(server.request(
            "REPORT", "/alice/tb/", user="alice", headers={"Depth": "1"},
            body=event_window_query(start, end))))

    assert hits("20261125T145900Z", "20261125T160000Z") == {"/alice/tb/review.ics"}
    assert hits("20261125T150000Z", "20261125T160000Z") == set()
    assert hits("20261125T120000Z", "20261125T133000Z") == set()
    assert hits("20261125T120000Z", "20261125T133100Z") == {"/alice/tb/review.ics"}


def test_calendar_multiget_of_the_queried_hrefs_returns_their_data_and_etags(server):
    setup_calendar(server)
    for name, fixture in (("review.ics", REVIEW), ("standup.ics", STANDUP),
                          ("offsite.ics", OFFSITE)):
        put(server, f"/alice/tb/{name}", fixture)
    hrefs = sorted(parse_multistatus(server.request(
        "REPORT", "/alice/tb/", user="alice", headers={"Depth": "1"},
        body=event_window_query("20261116T000000Z", "20261130T000000Z"))))

    response = server.request("REPORT", "/alice/tb/", user="alice",
                              headers={"Depth": "1", "Content-Type": "text/xml"},
                              body=multiget(hrefs))

    result = parse_multistatus(response)
    rows = stored(server)
    assert sorted(result) == hrefs == ["/alice/tb/review.ics", "/alice/tb/standup.ics"]
    for href in hrefs:
        etag, text = rows[href.rsplit("/", 1)[1]]
        assert ok_text(result[href], DAV, "getetag") == etag
        assert ok_text(result[href], CALDAV, "calendar-data") == text.replace("\r\n", "\n")
    review = ok_text(result["/alice/tb/review.ics"], CALDAV, "calendar-data")
    assert "DTSTART;TZID=Europe/Berlin:20261125T143000" in review
    assert "TZID:Europe/Berlin" in review
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO" in ok_text(result["/alice/tb/standup.ics"], CALDAV,
                                                   "calendar-data")


def test_calendar_query_for_vtodo_without_time_range_returns_every_task_and_no_event(server):
    setup_calendar(server)
    for name, fixture in (("expenses.ics", EXPENSES), ("someday.ics", SOMEDAY),
                          ("review.ics", REVIEW), ("offsite.ics", OFFSITE)):
        put(server, f"/alice/tb/{name}", fixture)

    response = server.request("REPORT", "/alice/tb/", user="alice",
                              headers={"Depth": "1", "Content-Type": "text/xml"},
                              body=TODO_QUERY)

    result = parse_multistatus(response)
    rows = stored(server)
    assert set(result) == {"/alice/tb/expenses.ics", "/alice/tb/someday.ics"}
    for href, props in result.items():
        assert ok_text(props, DAV, "getetag") == rows[href.rsplit("/", 1)[1]][0]
    assert sorted(server.rows("SELECT href, component FROM item")) == [
        ("expenses.ics", "VTODO"), ("offsite.ics", "VEVENT"), ("review.ics", "VEVENT"),
        ("someday.ics", "VTODO")]


def test_completing_a_task_with_if_match_replaces_it_and_a_stale_etag_gets_412(server):
    setup_calendar(server)
    first = put(server, "/alice/tb/expenses.ics", EXPENSES)
    old_etag = first.headers["ETag"]

    completed = put(server, "/alice/tb/expenses.ics", EXPENSES_DONE, headers={"If-Match": old_etag})
    stale = put(server, "/alice/tb/expenses.ics", EXPENSES, headers={"If-Match": old_etag})

    assert completed.status_code == 204
    assert stale.status_code == 412
    (etag, text), = stored(server).values()
    assert etag == completed.headers["ETag"] != old_etag
    assert "STATUS:COMPLETED\r\n" in text and "PERCENT-COMPLETE:100\r\n" in text
    fetched = server.request("GET", "/alice/tb/expenses.ics", user="alice")
    assert fetched.headers["ETag"] == etag
    assert fetched.text == text
    assert server.rows(
        'SELECT ch.href, ch.deleted FROM "change" ch JOIN collection c ON c.id = ch.collection_id '
        "WHERE c.path = 'alice/tb' ORDER BY ch.seq") == [("expenses.ics", False),
                                                           ("expenses.ics", False)]


def test_delete_with_if_match_removes_the_event_from_queries_and_rows(server):
    setup_calendar(server)
    etag = put(server, "/alice/tb/review.ics", REVIEW).headers["ETag"]
    put(server, "/alice/tb/standup.ics", STANDUP)

    stale = server.request("DELETE", "/alice/tb/review.ics", user="alice",
                           headers={"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412
    assert set(stored(server)) == {"review.ics", "standup.ics"}

    deleted = server.request("DELETE", "/alice/tb/review.ics", user="alice",
                             headers={"If-Match": etag})

    assert deleted.status_code == 200
    remaining = parse_multistatus(server.request(
        "REPORT", "/alice/tb/", user="alice", headers={"Depth": "1"},
        body=event_window_query("20261116T000000Z", "20261130T000000Z")))
    assert set(remaining) == {"/alice/tb/standup.ics"}
    assert set(stored(server)) == {"standup.ics"}
    assert server.rows(
        'SELECT ch.href, ch.deleted FROM "change" ch JOIN collection c ON c.id = ch.collection_id '
        "WHERE c.path = 'alice/tb' ORDER BY ch.seq")[-1] == ("review.ics", True)
    assert server.request("DELETE", "/alice/tb/review.ics", user="alice").status_code == 404


def test_web_interface_is_served_as_html(server):
    response = requests.get(server.url.rstrip("/") + "/.web/", timeout=60)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in response.text and "Radicale Web Interface" in response.text
    redirect = requests.get(server.url, allow_redirects=False, timeout=60)
    assert redirect.status_code in (301, 302, 303, 307, 308)
    assert redirect.headers["Location"].rstrip("/").endswith(".web")


def test_web_interface_upload_of_a_whole_calendar_creates_one_item_per_uid(server):
    # The web interface's "Upload" PUTs a whole iCalendar file to a new
    # collection URL; Radicale splits it into one resource per UID.
    server.add_user("alice")
    whole = fixture_text(REVIEW).replace("END:VCALENDAR\r\n", "") + \
        fixture_text(STANDUP).split("BEGIN:VEVENT", 1)[1].join(["BEGIN:VEVENT", ""])

    uploaded = server.request("PUT", "/alice/imported/", user="alice", body=whole,
                              headers={"Content-Type": "text/calendar"})

    assert uploaded.status_code == 201
    assert server.rows(
        "SELECT c.tag, i.href, i.uid, i.component FROM item i "
        "JOIN collection c ON c.id = i.collection_id ORDER BY i.href") == [
        ("VCALENDAR", "tb-review-5b1c0c2e.ics", "tb-review-5b1c0c2e", "VEVENT"),
        ("VCALENDAR", "tb-standup-7e4d9a10.ics", "tb-standup-7e4d9a10", "VEVENT")]
    review = server.request("GET", "/alice/imported/tb-review-5b1c0c2e.ics", user="alice")
    assert review.status_code == 200
    assert "TZID:Europe/Berlin" in review.text and "SUMMARY:Quarterly review" in review.text
    exported = server.request("GET", "/alice/imported/", user="alice")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/calendar")
    assert exported.text.count("BEGIN:VEVENT") == 2
    assert exported.text.count("BEGIN:VTIMEZONE") == 1


def test_propfind_allprop_and_getcontentlength_of_a_calendar_are_answered(server):
    setup_calendar(server)
    put(server, "/alice/tb/review.ics", REVIEW)
    put(server, "/alice/tb/expenses.ics", EXPENSES)

    allprop = server.request("PROPFIND", "/alice/tb/", user="alice", headers={"Depth": "1"},
                             body='<?xml version="1.0" encoding="UTF-8"?>\n'
                                  '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>')
    lengths = server.request("PROPFIND", "/alice/tb/", user="alice", headers={"Depth": "1"},
                             body='<?xml version="1.0" encoding="UTF-8"?>\n'
                                  '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/>'
                                  '<D:getetag/></D:prop></D:propfind>')

    everything = parse_multistatus(allprop)
    assert set(everything) == {"/alice/tb/", "/alice/tb/review.ics", "/alice/tb/expenses.ics"}
    assert ok_text(everything["/alice/tb/"], DAV, "sync-token").startswith("urn:kalend:sync:")
    sizes = parse_multistatus(lengths)
    rows = stored(server)
    for name in ("review.ics", "expenses.ics"):
        assert ok_text(sizes[f"/alice/tb/{name}"], DAV, "getcontentlength") == \
            str(len(rows[name][1].encode("utf-8")))
        assert ok_text(sizes[f"/alice/tb/{name}"], DAV, "getetag") == rows[name][0]
    whole = server.request("GET", "/alice/tb/", user="alice")
    assert ok_text(sizes["/alice/tb/"], DAV, "getcontentlength") == str(len(whole.content))
