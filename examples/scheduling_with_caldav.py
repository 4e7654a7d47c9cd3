"""Scheduling on kalend with nothing but the `caldav` client library.

Olivia invites Adam to a meeting, Adam accepts from his inbox, Olivia sees
his answer and looks up his free-busy time. Run it against a kalend server
with two users (see README, "Scheduling"):

    python examples/scheduling_with_caldav.py http://localhost:5232/ PASSWORD_OF_OLIVIA PASSWORD_OF_ADAM
"""

import datetime as dt
import sys

import caldav

url, olivia_password, adam_password = sys.argv[1:4]
olivia = caldav.DAVClient(url, username="olivia", password=olivia_password)
adam = caldav.DAVClient(url, username="adam", password=adam_password)

# Olivia invites Adam: the server delivers the invitation (RFC 6638).
calendar = olivia.principal().calendars()[0]
meeting = calendar.save_with_invites(
    "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//example//caldav script//EN",
        "BEGIN:VEVENT", "UID:roadmap-2027@example.org", "DTSTAMP:20261201T080000Z",
        "DTSTART:20261215T140000Z", "DTEND:20261215T150000Z",
        "SUMMARY:Roadmap 2027", "END:VEVENT", "END:VCALENDAR", ""]),
    attendees=[adam.principal()])

# Adam finds it in his inbox and accepts.
for message in adam.principal().schedule_inbox().get_items():
    if message.is_invite_request():
        message.accept_invite()
        print("adam accepted:", message.icalendar_component["SUMMARY"])

# Olivia's copy now shows Adam's answer.
meeting.load()
attendees = meeting.icalendar_component.get("ATTENDEE", [])
for attendee in attendees if isinstance(attendees, list) else [attendees]:
    print("attendee", attendee, attendee.params.get("PARTSTAT"))

# Olivia asks for Adam's free-busy time on that day.
answer = olivia.principal().freebusy_request(
    dt.datetime(2026, 12, 15, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 16, tzinfo=dt.UTC),
    [adam.principal()])
for address, freebusy in answer.items():
    if address != "errors":
        for component in freebusy.icalendar_instance.walk("VFREEBUSY"):
            periods = component.get("FREEBUSY", [])
            for period in periods if isinstance(periods, list) else [periods]:
                print("busy", address, period.start.isoformat(), period.end.isoformat())
