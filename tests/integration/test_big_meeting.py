"""A meeting with many local attendees (issue 16): every attendee gets the
invitation in inbox and calendar, and the copies, which are alike, are
planned for the occurrence index once each, not once per attendee."""

from __future__ import annotations

import icalendar

from kalend.storage_plugin import occurrence_index

ATTENDEES = 30


def _meeting() -> str:
    attendees = "".join(
        f"ATTENDEE;CN=Person {i};PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:p{i:02d}@example.org\r\n"
        for i in range(ATTENDEES))
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
            "BEGIN:VEVENT\r\nUID:all-hands\r\nDTSTAMP:20261201T000000Z\r\n"
            "DTSTART:20261215T100000Z\r\nDTEND:20261215T110000Z\r\nSUMMARY:All hands\r\n"
            "ORGANIZER:mailto:boss@example.org\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.org\r\n"
            f"{attendees}END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_every_attendee_gets_it_and_alike_copies_are_planned_once(server, monkeypatch):
    server.add_user("boss", ["boss@example.org"])
    for i in range(ATTENDEES):
        server.add_user(f"p{i:02d}", [f"p{i:02d}@example.org"])
    planned: list[str] = []
    real_plan = occurrence_index.plan_index

    def counted(text, *args, **kwargs):
        planned.append(text)
        return real_plan(text, *args, **kwargs)

    monkeypatch.setattr(occurrence_index, "plan_index", counted)

    answer = server.request("PUT", "/boss/default/all-hands.ics", user="boss",
                            body=_meeting(), headers={"Content-Type": "text/calendar"})

    assert answer.status_code == 201, answer.text
    copies = server.rows(
        "SELECT c.path, COUNT(o.id) FROM item i JOIN collection c ON c.id = i.collection_id "
        "LEFT JOIN occurrence o ON o.item_id = i.id WHERE i.uid = 'all-hands' "
        "GROUP BY c.path ORDER BY c.path")
    paths = [path for path, _ in copies]
    for i in range(ATTENDEES):
        assert f"p{i:02d}/default" in paths and f"p{i:02d}/inbox" in paths
    assert "boss/default" in paths
    # Every copy has its one instance in the index.
    assert all(rows == 1 for _, rows in copies)
    # The organizer's object, the inbox copy and the calendar copy: a plan
    # for each text, whatever the number of attendees.
    assert len(planned) == len(set(planned)) <= 4


def _copy(server, user: str) -> str:
    return server.request("GET", f"/{user}/default/all-hands.ics", user=user).text


def test_each_attendee_keeps_their_own_answer_when_one_replies(server):
    # The message is parsed once and shared by every recipient's copy: no
    # copy may carry what was made of another.
    server.add_user("boss", ["boss@example.org"])
    for i in range(ATTENDEES):
        server.add_user(f"p{i:02d}", [f"p{i:02d}@example.org"])
    assert server.request("PUT", "/boss/default/all-hands.ics", user="boss",
                          body=_meeting()).status_code == 201
    first = _copy(server, "p00")
    assert first == _copy(server, f"p{ATTENDEES - 1:02d}")

    accepted = first.replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:p00@example.org",
        "PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:p00@example.org")
    assert accepted != first
    answer = server.request("PUT", "/p00/default/all-hands.ics", user="p00", body=accepted)

    assert answer.status_code in (201, 204), answer.text
    last = f"p{ATTENDEES - 1:02d}"
    for user in ("boss", "p00", "p01", last):
        answers = _partstats(_copy(server, user))
        # Everyone sees p00's answer; every other attendee still owes theirs.
        assert answers["mailto:p00@example.org"] == "ACCEPTED", user
        assert answers["mailto:p01@example.org"] == "NEEDS-ACTION", user
        assert answers[f"mailto:{last}@example.org"] == "NEEDS-ACTION", user


def _partstats(text: str) -> dict[str, str]:
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    return {str(a).lower(): str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
            for a in attendees}
