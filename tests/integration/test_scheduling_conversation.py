"""A whole scheduling conversation (RFC 6638) between four users of one
server, driven with raw requests shaped like Apple Calendar's, on SQLite and
PostgreSQL: the organizer invites three colleagues and one outside address
to a weekly meeting; one accepts the series, one declines one instance, one
is removed; the organizer moves the series, then cancels it. After each step
every user's calendar and inbox, the SCHEDULE-STATUS values, the
Schedule-Tags and the iMIP outbox rows are checked."""

from __future__ import annotations

import datetime as dt

import pytest
from dav_support import CALDAV, clark, parse_multistatus
from scheduling_support import (
    CALENDAR_CONTENT,
    attendee_line,
    components,
    inbox_methods,
    inbox_texts,
    master,
    meeting,
    moved_by,
    only_copy,
    outbox_rows,
    override,
    partstat,
    with_partstat,
    without_attendee,
)
from sqlalchemy import text

UID = "weekly-sync-7f3a@example.org"
ORGANIZER, ADAM, BEA, CARL = "olivia", "adam", "bea", "carl"
OUTSIDER = "mailto:dave@elsewhere.example"
MEETING_PATH = f"/{ORGANIZER}/default/weekly-sync.ics"


@pytest.fixture
def team(server):
    for user in (ORGANIZER, ADAM, BEA, CARL):
        server.add_user(user)
    # Everyone but Carl has opened a client once; Carl never has.
    for user in (ORGANIZER, ADAM, BEA):
        assert server.request("PROPFIND", f"/{user}/", user=user,
                              headers={"Depth": "0"}).status_code == 207
    return server


def put(server, user: str, path: str, text: str, **headers):
    return server.request("PUT", path, user=user, body=text,
                          headers={**CALENDAR_CONTENT, **headers})


def invite(server) -> object:
    text = meeting(UID, ORGANIZER, [ADAM, BEA, CARL, OUTSIDER])
    return put(server, ORGANIZER, MEETING_PATH, text)


def organizer_copy(server) -> str:
    got = server.request("GET", MEETING_PATH, user=ORGANIZER)
    assert got.status_code == 200
    return got.text


def schedule_status(component, address: str) -> str:
    for attendee in (component.get("ATTENDEE") or []):
        if str(attendee).lower() == address:
            return str(attendee.params.get("SCHEDULE-STATUS", ""))
    raise AssertionError(f"{address} is not an attendee")


def test_invitation_reaches_every_local_inbox_and_calendar_and_queues_the_outsider(team):
    response = invite(team)
    assert response.status_code == 201, response.text
    assert response.headers.get("Schedule-Tag")
    assert "ETag" not in response.headers  # stored with SCHEDULE-STATUS: differs (RFC 4791 §5.3.4)

    stored = master(organizer_copy(team))
    for user in (ADAM, BEA, CARL):
        assert schedule_status(stored, f"mailto:{user}@example.org") == "1.2"
        assert inbox_methods(team, user) == [("REQUEST", UID)]
        _, copy = only_copy(team, user, UID)
        assert partstat(master(copy), user) == "NEEDS-ACTION"
        assert "SCHEDULE-STATUS" not in copy
    assert schedule_status(stored, OUTSIDER) == "1.1"
    assert outbox_rows(team) == [("REQUEST", OUTSIDER, "queued")]
    assert inbox_methods(team, ORGANIZER) == []


def test_the_whole_conversation(team):
    assert invite(team).status_code == 201
    organizer_tag = team.request("GET", MEETING_PATH, user=ORGANIZER).headers["Schedule-Tag"]

    # Adam accepts the series, conditional on the Schedule-Tag he read.
    adam_path, adam_text = only_copy(team, ADAM, UID)
    adam_tag = team.request("GET", adam_path, user=ADAM).headers["Schedule-Tag"]
    accepted = with_partstat(adam_text, ADAM, "ACCEPTED")
    response = put(team, ADAM, adam_path, accepted, **{"If-Schedule-Tag-Match": adam_tag})
    assert response.status_code in (201, 204), response.text
    assert response.headers["Schedule-Tag"] == adam_tag  # his own reply: tag unchanged
    assert ("REPLY", UID) in inbox_methods(team, ORGANIZER)
    organizer_text = organizer_copy(team)
    assert partstat(master(organizer_text), ADAM) == "ACCEPTED"
    assert schedule_status(master(organizer_text), "mailto:adam@example.org") == "2.0"
    assert team.request("GET", MEETING_PATH, user=ORGANIZER).headers["Schedule-Tag"] \
        == organizer_tag  # a processed reply leaves the organizer's tag (§3.2.10)
    _, bea_text = only_copy(team, BEA, UID)
    assert partstat(master(bea_text), ADAM) == "ACCEPTED"  # others see it too

    # Bea declines the second meeting only (an override, as Apple writes it).
    bea_path, bea_text = only_copy(team, BEA, UID)
    declined_instance = "\r\n".join([
        "BEGIN:VEVENT", f"UID:{UID}", "DTSTAMP:20261121T090000Z",
        "RECURRENCE-ID;TZID=Europe/Berlin:20261214T090000",
        "DTSTART;TZID=Europe/Berlin:20261214T090000",
        "DTEND;TZID=Europe/Berlin:20261214T100000", "SUMMARY:Weekly sync",
        "SEQUENCE:0", "LOCATION:Room 1", "ORGANIZER;CN=Olivia:mailto:olivia@example.org",
        attendee_line(ORGANIZER, "ACCEPTED"), attendee_line(ADAM, "ACCEPTED"),
        attendee_line(BEA, "DECLINED"), attendee_line(CARL, "NEEDS-ACTION"),
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:" + OUTSIDER, "END:VEVENT"])
    with_override = bea_text.replace("END:VCALENDAR", declined_instance + "\r\nEND:VCALENDAR")
    response = put(team, BEA, bea_path, with_override)
    assert response.status_code in (201, 204), response.text
    organizer_text = organizer_copy(team)
    instance = override(organizer_text, "20261214T080000Z")
    assert instance is not None, organizer_text
    assert partstat(instance, BEA) == "DECLINED"
    assert partstat(master(organizer_text), BEA) == "NEEDS-ACTION"

    # Olivia removes Carl: he gets a CANCEL and his copy is cancelled.
    response = put(team, ORGANIZER, MEETING_PATH,
                   without_attendee(organizer_copy(team), CARL))
    assert response.status_code == 204, response.text
    assert inbox_methods(team, CARL) == [("CANCEL", UID), ("REQUEST", UID)]
    _, carl_text = only_copy(team, CARL, UID)
    assert str(master(carl_text).get("STATUS")) == "CANCELLED"

    # Olivia moves the series an hour later: a reschedule.
    adam_tag_before = team.request("GET", only_copy(team, ADAM, UID)[0],
                                   user=ADAM).headers["Schedule-Tag"]
    moved = moved_by(organizer_copy(team), dt.timedelta(hours=1))
    response = put(team, ORGANIZER, MEETING_PATH, moved)
    assert response.status_code == 204, response.text
    organizer_text = organizer_copy(team)
    assert int(master(organizer_text)["SEQUENCE"]) >= 1
    for user in (ADAM, BEA):
        _, copy = only_copy(team, user, UID)
        assert master(copy)["DTSTART"].dt.hour == 10
        assert partstat(master(copy), user) == "NEEDS-ACTION"
        latest = [master(t) for t in inbox_texts(team, user) if "METHOD:REQUEST" in t]
        assert any(m["DTSTART"].dt.hour == 10 for m in latest)
    adam_path, _ = only_copy(team, ADAM, UID)
    assert team.request("GET", adam_path, user=ADAM).headers["Schedule-Tag"] != adam_tag_before

    # Olivia cancels the meeting by deleting it.
    assert team.request("DELETE", MEETING_PATH, user=ORGANIZER).status_code in (200, 204)
    for user in (ADAM, BEA):
        _, copy = only_copy(team, user, UID)
        assert all(str(c.get("STATUS")) == "CANCELLED" for c in components(copy)
                   if c.get("RECURRENCE-ID") is None)
        assert ("CANCEL", UID) in inbox_methods(team, user)
    methods = [row[0] for row in outbox_rows(team) if row[1] == OUTSIDER]
    assert methods[0] == "REQUEST" and methods[-1] == "CANCEL"
    assert all(row[2] == "queued" for row in outbox_rows(team))


def test_an_attendee_may_not_move_the_meeting(team):
    assert invite(team).status_code == 201
    adam_path, adam_text = only_copy(team, ADAM, UID)
    moved = adam_text.replace("T090000", "T150000")
    response = put(team, ADAM, adam_path, moved)
    assert response.status_code == 403
    assert "allowed-attendee-scheduling-object-change" in response.text
    assert only_copy(team, ADAM, UID)[1] == adam_text
    assert inbox_methods(team, ORGANIZER) == []


def test_a_stale_schedule_tag_is_refused_and_changes_nothing(team):
    assert invite(team).status_code == 201
    adam_path, adam_text = only_copy(team, ADAM, UID)
    accepted = with_partstat(adam_text, ADAM, "ACCEPTED")
    response = put(team, ADAM, adam_path, accepted, **{"If-Schedule-Tag-Match": '"stale"'})
    assert response.status_code == 412
    assert partstat(master(organizer_copy(team)), ADAM) == "NEEDS-ACTION"


def test_nobody_puts_into_an_inbox(team):
    text = meeting("sneaky@example.org", ADAM, [BEA])
    for user in (ADAM, BEA):
        response = put(team, user, f"/{BEA}/inbox/sneaky.ics", text)
        assert response.status_code == 403
    assert inbox_methods(team, BEA) == []


def test_only_the_owner_reads_an_inbox(team):
    assert invite(team).status_code == 201
    response = team.request("PROPFIND", f"/{ADAM}/inbox/", user=BEA, headers={"Depth": "1"})
    assert response.status_code == 403


def thunderbird_meeting(schedule_agent: str = "") -> str:
    """An invitation as Thunderbird 128 writes it; without auto-schedule on
    the server it marks every attendee SCHEDULE-AGENT=CLIENT and mails the
    invitations itself."""
    agent = f";SCHEDULE-AGENT={schedule_agent}" if schedule_agent else ""
    return "\r\n".join([
        "BEGIN:VCALENDAR", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
        "VERSION:2.0", "BEGIN:VEVENT", "CREATED:20261120T101500Z",
        "LAST-MODIFIED:20261120T101600Z", "DTSTAMP:20261120T101600Z",
        "UID:5a0f6c2e-1b7d-4c55-9f1e-tb-review@example.org", "SUMMARY:Design review",
        "ORGANIZER;RSVP=TRUE;CN=Olivia;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:olivia@example.org",
        f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT{agent}:mailto:adam@example.org",
        f"ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT{agent}:{OUTSIDER}",
        "DTSTART:20261208T140000Z", "DTEND:20261208T150000Z", "TRANSP:OPAQUE",
        "X-MOZ-SEND-INVITATIONS:TRUE", "X-MOZ-SEND-INVITATIONS-UNDISCLOSED:FALSE",
        "SEQUENCE:0", "END:VEVENT", "END:VCALENDAR", ""])


def test_thunderbird_scheduling_itself_gets_nothing_sent_by_the_server(team):
    response = put(team, ORGANIZER, "/olivia/default/review.ics",
                   thunderbird_meeting("CLIENT"))
    assert response.status_code == 201, response.text
    assert inbox_methods(team, ADAM) == []
    assert outbox_rows(team) == []


def test_thunderbird_leaving_scheduling_to_the_server_gets_it_done(team):
    response = put(team, ORGANIZER, "/olivia/default/review.ics", thunderbird_meeting())
    assert response.status_code == 201, response.text
    assert inbox_methods(team, ADAM) == [
        ("REQUEST", "5a0f6c2e-1b7d-4c55-9f1e-tb-review@example.org")]
    assert outbox_rows(team) == [("REQUEST", OUTSIDER, "queued")]


def test_an_invitation_to_a_group_reaches_each_member(team):
    from kalend.server import users

    users.set_group(team.engine, "design@example.org", [ADAM, BEA])
    group = "ATTENDEE;CUTYPE=GROUP;CN=Design;PARTSTAT=NEEDS-ACTION:mailto:design@example.org"
    response = put(team, ORGANIZER, MEETING_PATH, meeting(UID, ORGANIZER, [group]))
    assert response.status_code == 201, response.text
    for user in (ADAM, BEA):
        assert inbox_methods(team, user) == [("REQUEST", UID)]
        only_copy(team, user, UID)
    assert inbox_methods(team, CARL) == []
    assert schedule_status(master(organizer_copy(team)), "mailto:design@example.org") == "1.2"


def test_moving_a_meeting_between_ones_calendars_schedules_nothing(team):
    assert invite(team).status_code == 201
    tag = team.request("GET", MEETING_PATH, user=ORGANIZER).headers["Schedule-Tag"]
    made = team.request("MKCOL", "/olivia/work/", user=ORGANIZER, headers={
        "Content-Type": "application/xml"}, body=(
        '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"
        "</D:prop></D:set></D:mkcol>"))
    assert made.status_code == 201, made.text
    inbox_before = inbox_methods(team, ADAM)

    moved = team.request("MOVE", MEETING_PATH, user=ORGANIZER,
                         headers={"Destination": team.url.rstrip("/") + "/olivia/work/w.ics"})

    assert moved.status_code == 201, moved.text
    assert team.request("GET", "/olivia/work/w.ics",
                        user=ORGANIZER).headers["Schedule-Tag"] == tag
    assert inbox_methods(team, ADAM) == inbox_before


def test_nothing_is_moved_into_an_inbox(team):
    assert invite(team).status_code == 201
    refused = team.request("MOVE", MEETING_PATH, user=ORGANIZER,
                           headers={"Destination": team.url.rstrip("/") + "/olivia/inbox/x.ics"})
    assert refused.status_code == 403
    assert team.request("GET", MEETING_PATH, user=ORGANIZER).status_code == 200


def _fail_item_writes_for(server, owner: str) -> None:
    """A real database fault in one recipient's calendar: their rows refuse inserts."""
    with server.engine.begin() as connection:
        if server.engine.dialect.name == "postgresql":
            connection.execute(text(
                "CREATE FUNCTION kalend_test_refuse() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.collection_id IN (SELECT id FROM collection WHERE owner = '{owner}') "
                "THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; END $$ "
                "LANGUAGE plpgsql"))
            connection.execute(text(
                "CREATE TRIGGER kalend_test_refuse BEFORE INSERT ON item "
                "FOR EACH ROW EXECUTE FUNCTION kalend_test_refuse()"))
        else:
            connection.execute(text(
                "CREATE TRIGGER kalend_test_refuse BEFORE INSERT ON item WHEN "
                f"NEW.collection_id IN (SELECT id FROM collection WHERE owner = '{owner}') "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"))


def _restore_item_writes(server) -> None:
    with server.engine.begin() as connection:
        if server.engine.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER IF EXISTS kalend_test_refuse ON item"))
            connection.execute(text("DROP FUNCTION IF EXISTS kalend_test_refuse()"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS kalend_test_refuse"))


def test_a_recipient_whose_calendar_fails_gets_5_1_and_the_others_are_invited(team):
    _fail_item_writes_for(team, ADAM)
    try:
        response = put(team, ORGANIZER, MEETING_PATH, meeting(UID, ORGANIZER, [ADAM, BEA]))
    finally:
        _restore_item_writes(team)
    assert response.status_code == 201, response.text
    stored = master(organizer_copy(team))
    assert schedule_status(stored, "mailto:adam@example.org") == "5.1"
    assert schedule_status(stored, "mailto:bea@example.org") == "1.2"
    assert inbox_methods(team, ADAM) == []
    assert inbox_methods(team, BEA) == [("REQUEST", UID)]


def test_a_second_scheduling_object_with_the_same_uid_is_refused(team):
    assert invite(team).status_code == 201
    response = put(team, ORGANIZER, "/olivia/default/copy.ics",
                   meeting(UID, ORGANIZER, [ADAM]))
    assert response.status_code == 403
    assert "unique-scheduling-object-resource" in response.text
    assert team.request("GET", "/olivia/default/copy.ics", user=ORGANIZER).status_code == 404


def test_an_attendee_deleting_the_meeting_declines_unless_told_not_to_reply(team):
    assert invite(team).status_code == 201
    adam_path, _ = only_copy(team, ADAM, UID)
    bea_path, _ = only_copy(team, BEA, UID)

    quiet = team.request("DELETE", bea_path, user=BEA, headers={"Schedule-Reply": "F"})
    declined = team.request("DELETE", adam_path, user=ADAM)

    assert quiet.status_code in (200, 204) and declined.status_code in (200, 204)
    stored = master(organizer_copy(team))
    assert partstat(stored, ADAM) == "DECLINED"
    assert partstat(stored, BEA) == "NEEDS-ACTION"
    assert inbox_methods(team, ORGANIZER) == [("REPLY", UID)]


def test_schedule_force_send_re_invites_without_a_change_and_is_not_stored(team):
    assert invite(team).status_code == 201
    forced = organizer_copy(team).replace("mailto:adam@example.org",
                                          "mailto:adam@example.org", 1)
    forced = forced.replace("CN=Adam;", "CN=Adam;SCHEDULE-FORCE-SEND=REQUEST;", 1)
    assert "SCHEDULE-FORCE-SEND" in forced
    response = put(team, ORGANIZER, MEETING_PATH, forced)
    assert response.status_code == 204, response.text
    assert inbox_methods(team, ADAM) == [("REQUEST", UID), ("REQUEST", UID)]
    assert inbox_methods(team, BEA) == [("REQUEST", UID)]
    assert "SCHEDULE-FORCE-SEND" not in organizer_copy(team)


def test_schedule_tag_is_listed_as_a_property_for_scheduling_objects_only(team):
    assert invite(team).status_code == 201
    assert put(team, ORGANIZER, "/olivia/default/plain.ics", thunderbird_meeting().replace(
        "ORGANIZER", "X-NOT-ORGANIZER")).status_code == 201
    tag = team.request("GET", MEETING_PATH, user=ORGANIZER).headers["Schedule-Tag"]
    props = "<D:prop><D:getetag/><C:schedule-tag/></D:prop>"
    listing = team.request(
        "PROPFIND", "/olivia/default/", user=ORGANIZER, headers={"Depth": "1"},
        body=('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
              f'xmlns:C="urn:ietf:params:xml:ns:caldav">{props}</D:propfind>'))
    multiget = team.request(
        "REPORT", "/olivia/default/", user=ORGANIZER, headers={"Depth": "1"},
        body=('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
              f'xmlns:C="urn:ietf:params:xml:ns:caldav">{props}'
              f"<D:href>{MEETING_PATH}</D:href><D:href>/olivia/default/plain.ics</D:href>"
              "</C:calendar-multiget>"))
    for response in (listing, multiget):
        found = parse_multistatus(response)
        meeting_props = found[MEETING_PATH]
        line, element = meeting_props[clark(CALDAV, "schedule-tag")]
        assert " 200 " in line and element.text == tag
        assert " 404 " in found["/olivia/default/plain.ics"][clark(CALDAV, "schedule-tag")][0]
