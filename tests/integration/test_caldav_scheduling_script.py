"""The README's scheduling script (examples/scheduling_with_caldav.py), run
as a user would run it, against a real kalend server on SQLite and
PostgreSQL: the invitation, the acceptance from the inbox and the free-busy
lookup all go through the `caldav` library's own scheduling helpers."""

from __future__ import annotations

import os
import subprocess
import sys

import icalendar
from kalend_testing import PASSWORD

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                      "scheduling_with_caldav.py")


def test_the_readme_scheduling_script_works_end_to_end(server):
    for user in ("olivia", "adam"):
        server.add_user(user)
        assert server.request("PROPFIND", f"/{user}/", user=user,
                              headers={"Depth": "0"}).status_code == 207

    result = subprocess.run([sys.executable, SCRIPT, server.url, PASSWORD, PASSWORD],
                            capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "adam accepted: Roadmap 2027" in lines
    assert "attendee mailto:adam@example.org ACCEPTED" in lines
    assert ("busy mailto:adam@example.org 2026-12-15T14:00:00+00:00 "
            "2026-12-15T15:00:00+00:00") in lines
    organizer_copy = server.request("GET", "/olivia/default/roadmap-2027@example.org.ics",
                                    user="olivia").text
    attendee = icalendar.Calendar.from_ical(organizer_copy).walk("VEVENT")[0]["ATTENDEE"]
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert attendee.params["SCHEDULE-STATUS"] == "2.0"
    assert server.rows("SELECT COUNT(*) FROM outbox") == [(0,)]
