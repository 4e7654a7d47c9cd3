"""The listing writer's direct path writes the same bytes as its general
path, and both parse as the RFC 4918 §13 multistatus a client expects."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from kalend.server import multistatus
from kalend.server.multistatus import (
    CALENDAR_DATA,
    GETCONTENTTYPE,
    GETETAG,
    ItemRow,
    MultistatusWriter,
)

ROWS = [
    ItemRow("plain.ics", '"etag-1"', "VCALENDAR", "VEVENT", 0.0,
            "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
    ItemRow("uid@example.org.ics", '"e&<2>"', "VCALENDAR", "VEVENT", 0.0,
            "BEGIN:VCALENDAR\r\nSUMMARY:Tom & Jerry <3>\r\nEND:VCALENDAR\r\n"),
    ItemRow("caf\u00e9 met\u00e9o.ics", '"3"', "VCALENDAR", "VTODO", 0.0, ""),
    ItemRow("empty-etag.ics", "", "VCALENDAR", "VEVENT", 0.0, None),
]
PLANS = [(GETETAG,), (CALENDAR_DATA,), (GETETAG, CALENDAR_DATA), (CALENDAR_DATA, GETETAG)]


def render(rows, names, direct: bool, monkeypatch) -> bytes:
    with monkeypatch.context() as patch:
        if not direct:
            patch.setattr(multistatus, "_direct_writer", lambda names: None)
        writer = MultistatusWriter("/alice/calendar/")
        for row in rows:
            writer.item(row, names)
        return writer.render()


@pytest.mark.parametrize("names", PLANS, ids=lambda names: "+".join(
    n.split("}")[1] for n in names))
def test_the_direct_path_writes_what_the_general_path_writes(names, monkeypatch):
    direct = render(ROWS, names, True, monkeypatch)
    general = render(ROWS, names, False, monkeypatch)

    assert direct == general
    responses = ET.fromstring(direct).findall("{DAV:}response")
    assert [r.findtext("{DAV:}href") for r in responses] == [
        "/alice/calendar/plain.ics", "/alice/calendar/uid%40example.org.ics",
        "/alice/calendar/caf%C3%A9%20met%C3%A9o.ics", "/alice/calendar/empty-etag.ics"]
    if CALENDAR_DATA in names:
        # (an XML parser reads the CRLF line ends as LF)
        assert responses[1].findtext(f".//{CALENDAR_DATA}") == ROWS[1].text.replace("\r\n", "\n")
    if GETETAG in names:
        assert responses[1].findtext(f".//{GETETAG}") == '"e&<2>"'


def test_other_properties_still_take_the_general_path(monkeypatch):
    names = (GETETAG, GETCONTENTTYPE)
    written = render(ROWS[:1], names, True, monkeypatch)

    prop = ET.fromstring(written).find(".//{DAV:}prop")
    assert prop is not None
    assert prop.findtext(GETCONTENTTYPE) == "text/calendar;charset=utf-8;component=VEVENT"
