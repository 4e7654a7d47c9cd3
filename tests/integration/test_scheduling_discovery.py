"""What a client discovers and asks before scheduling (RFC 6638 §2, §5, §9):
the principal's inbox, outbox, addresses and default calendar; the resource
types that keep the inbox out of calendar lists; calendar-auto-schedule in
the DAV header; schedule-calendar-transp; and free-busy of several
attendees through a POST to the outbox — on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import icalendar
from dav_support import CALDAV, DAV, clark, parse_multistatus
from scheduling_support import CALENDAR_CONTENT, mailto

OLIVIA, ADAM, BEA = "olivia", "adam", "bea"


def propfind(server, user: str, path: str, props: str, depth: str = "0"):
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
            f'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{props}</D:prop></D:propfind>')
    return server.request("PROPFIND", path, user=user, body=body,
                          headers={"Depth": depth, "Content-Type": "application/xml"})


def hrefs_of(props, name: str) -> list[str]:
    line, element = props[clark(CALDAV, name)]
    assert " 200 " in line, (name, line)
    return [h.text for h in element.findall(clark(DAV, "href"))]


def test_principal_names_inbox_outbox_addresses_and_default_calendar(server):
    server.add_user(OLIVIA, [f"{OLIVIA}@example.org", "o.lee@example.org"])
    response = propfind(server, OLIVIA, f"/{OLIVIA}/",
                        "<C:schedule-inbox-URL/><C:schedule-outbox-URL/>"
                        "<C:calendar-user-address-set/><C:calendar-user-type/>"
                        "<C:schedule-default-calendar-URL/>")
    props = parse_multistatus(response)[f"/{OLIVIA}/"]
    assert hrefs_of(props, "schedule-inbox-URL") == [f"/{OLIVIA}/inbox/"]
    assert hrefs_of(props, "schedule-outbox-URL") == [f"/{OLIVIA}/outbox/"]
    assert hrefs_of(props, "calendar-user-address-set") == [
        "mailto:olivia@example.org", "mailto:o.lee@example.org", f"/{OLIVIA}/"]
    assert hrefs_of(props, "schedule-default-calendar-URL") == [f"/{OLIVIA}/default/"]
    line, element = props[clark(CALDAV, "calendar-user-type")]
    assert " 200 " in line and element.text == "INDIVIDUAL"


def test_home_listing_shows_inbox_and_outbox_as_scheduling_collections(server):
    server.add_user(OLIVIA)
    response = propfind(server, OLIVIA, f"/{OLIVIA}/", "<D:resourcetype/>", depth="1")
    kinds = {href: {child.tag for child in props[clark(DAV, "resourcetype")][1]}
             for href, props in parse_multistatus(response).items()}
    assert kinds[f"/{OLIVIA}/inbox/"] == {clark(DAV, "collection"),
                                          clark(CALDAV, "schedule-inbox")}
    assert kinds[f"/{OLIVIA}/outbox/"] == {clark(DAV, "collection"),
                                           clark(CALDAV, "schedule-outbox")}
    assert clark(CALDAV, "calendar") in kinds[f"/{OLIVIA}/default/"]


def test_options_announce_auto_schedule(server):
    server.add_user(OLIVIA)
    response = server.request("OPTIONS", f"/{OLIVIA}/default/", user=OLIVIA)
    assert "calendar-auto-schedule" in [v.strip() for v in response.headers["DAV"].split(",")]


def test_schedule_calendar_transp_is_stored_and_answered(server):
    server.add_user(OLIVIA)
    path = f"/{OLIVIA}/default/"
    before = parse_multistatus(propfind(server, OLIVIA, path, "<C:schedule-calendar-transp/>"))
    assert before[path][clark(CALDAV, "schedule-calendar-transp")][1].find(
        clark(CALDAV, "opaque")) is not None
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            '<C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>'
            '</D:prop></D:set></D:propertyupdate>')
    assert server.request("PROPPATCH", path, user=OLIVIA, body=body).status_code == 207
    after = parse_multistatus(propfind(server, OLIVIA, path, "<C:schedule-calendar-transp/>"))
    assert after[path][clark(CALDAV, "schedule-calendar-transp")][1].find(
        clark(CALDAV, "transparent")) is not None


def busy_event(uid: str, start: str, end: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kalend tests//EN",
                        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z",
                        f"DTSTART:{start}", f"DTEND:{end}", "SUMMARY:Busy", "END:VEVENT",
                        "END:VCALENDAR", ""])


def freebusy_request(organizer: str, attendees: list[str]) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Apple Inc.//macOS 15.1//EN",
        "METHOD:REQUEST", "BEGIN:VFREEBUSY", "UID:fb-4711@example.org",
        "DTSTAMP:20261120T120000Z", "DTSTART:20261207T000000Z", "DTEND:20261208T000000Z",
        f"ORGANIZER:{organizer}", *[f"ATTENDEE:{a}" for a in attendees],
        "END:VFREEBUSY", "END:VCALENDAR", ""])


def post_outbox(server, user: str, owner: str, text: str):
    return server.request("POST", f"/{owner}/outbox/", user=user, body=text,
                          headers=CALENDAR_CONTENT)


def test_outbox_post_answers_free_busy_of_each_attendee(server):
    for user in (OLIVIA, ADAM, BEA):
        server.add_user(user)
    assert server.request("PUT", f"/{ADAM}/default/busy.ics", user=ADAM,
                          body=busy_event("busy-1", "20261207T090000Z", "20261207T100000Z"),
                          headers=CALENDAR_CONTENT).status_code == 201
    assert server.request("PUT", f"/{BEA}/default/free.ics", user=BEA,
                          body=busy_event("busy-2", "20261209T090000Z", "20261209T100000Z"),
                          headers=CALENDAR_CONTENT).status_code == 201
    response = post_outbox(server, OLIVIA, OLIVIA, freebusy_request(
        mailto(OLIVIA), [mailto(ADAM), mailto(BEA), "mailto:zoe@elsewhere.example",
                         "urn:uuid:00000000-0000-0000-0000-000000000000"]))
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    answers = {}
    for item in root.findall(clark(CALDAV, "response")):
        recipient = item.find(f"{clark(CALDAV, 'recipient')}/{clark(DAV, 'href')}").text
        status = item.findtext(clark(CALDAV, "request-status"))
        data = item.findtext(clark(CALDAV, "calendar-data"))
        answers[recipient] = (status, data)
    assert answers[mailto(ADAM)][0].startswith("2.0")
    assert answers[mailto(BEA)][0].startswith("2.0")
    assert answers["mailto:zoe@elsewhere.example"][0].startswith("5.3")
    assert answers["urn:uuid:00000000-0000-0000-0000-000000000000"][0].startswith("3.7")
    adam = icalendar.Calendar.from_ical(answers[mailto(ADAM)][1])
    assert str(adam["METHOD"]) == "REPLY"
    freebusy = next(iter(adam.walk("VFREEBUSY")))
    periods = freebusy.get("FREEBUSY")
    periods = periods if isinstance(periods, list) else [periods]
    assert [(p.start.hour, p.end.hour) for p in periods] == [(9, 10)]
    bea = next(iter(icalendar.Calendar.from_ical(answers[mailto(BEA)][1]).walk("VFREEBUSY")))
    assert bea.get("FREEBUSY") is None


def test_outbox_post_is_refused_to_others_and_for_foreign_organizers(server):
    for user in (OLIVIA, ADAM):
        server.add_user(user)
    request = freebusy_request(mailto(OLIVIA), [mailto(ADAM)])
    assert post_outbox(server, ADAM, OLIVIA, request).status_code == 403
    spoofed = freebusy_request(mailto(ADAM), [mailto(ADAM)])
    refused = post_outbox(server, OLIVIA, OLIVIA, spoofed)
    assert refused.status_code == 403 and "organizer-allowed" in refused.text
    broken = post_outbox(server, OLIVIA, OLIVIA, "BEGIN:VCALENDAR\r\nnot ical")
    assert broken.status_code == 400 and "valid-scheduling-message" in broken.text
