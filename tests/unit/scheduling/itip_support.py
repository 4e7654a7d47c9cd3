"""Reading fixtures and the iCalendar the iTIP core returns, for the scheduling tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import icalendar

from kalend.scheduling.addresses import normalize

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "itip"

#: The DTSTAMP the tests give the functions that make messages.
NOW = dt.datetime(2026, 10, 25, 12, 0, tzinfo=dt.UTC)


def fixture(name: str) -> str:
    """A fixture as stored by a server: CRLF line ends."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def edit(text: str, *replacements: tuple[str, str]) -> str:
    """``text`` with each (old, new) replaced once; fails loudly when ``old`` is absent."""
    for old, new in replacements:
        assert old in text, f"{old!r} not in the text"
        text = text.replace(old, new, 1)
    return text


def without_line(text: str, line: str) -> str:
    """``text`` without every line equal to ``line``."""
    assert line + "\r\n" in text, f"{line!r} not in the text"
    return text.replace(line + "\r\n", "")


def calendar(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def components(text: str) -> list[Any]:
    return [c for c in calendar(text).subcomponents if c.name in ("VEVENT", "VTODO")]


def master(text: str) -> Any:
    return next(c for c in components(text) if "RECURRENCE-ID" not in c)


def override(text: str, key: str) -> Any | None:
    """The component with RECURRENCE-ID ``key`` (UTC instance key), or None."""
    for component in components(text):
        rid = component.get("RECURRENCE-ID")
        if rid is not None and instance_key(rid.dt) == key:
            return component
    return None


def instance_key(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def recurrence_ids(text: str) -> list[str]:
    return sorted(
        instance_key(c["RECURRENCE-ID"].dt) for c in components(text) if "RECURRENCE-ID" in c
    )


def attendee_lines(component: Any) -> list[Any]:
    value = component.get("ATTENDEE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def attendees(component: Any) -> list[str]:
    return [normalize(str(a)) for a in attendee_lines(component)]


def attendee(component: Any, address: str) -> Any | None:
    return next(
        (a for a in attendee_lines(component) if normalize(str(a)) == normalize(address)), None
    )


def param(prop: Any, name: str) -> str | None:
    value = prop.params.get(name)
    return None if value is None else str(value)


def partstat(component: Any, address: str) -> str | None:
    line = attendee(component, address)
    assert line is not None, f"{address} is not an attendee"
    return (param(line, "PARTSTAT") or "NEEDS-ACTION").upper()


def method(text: str) -> str:
    return str(calendar(text)["METHOD"])


def sequence(component: Any) -> int:
    return int(component.get("SEQUENCE", 0))


def status(component: Any) -> str:
    return str(component.get("STATUS", ""))


def by_recipient(messages: Iterable[Any]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for message in messages:
        grouped.setdefault(message.recipient, []).append(message)
    return grouped


def only(messages: Iterable[Any], recipient: str) -> Any:
    """The one message for ``recipient``."""
    found = by_recipient(messages).get(recipient, [])
    assert len(found) == 1, f"{len(found)} messages for {recipient}"
    return found[0]


def assert_wire_form(text: str) -> None:
    """CRLF line ends, lines folded at 75 octets, VERSION and PRODID present."""
    assert text.endswith("\r\n")
    lines = text.split("\r\n")[:-1]
    assert all("\n" not in line and len(line.encode("utf-8")) <= 75 for line in lines)
    parsed = calendar(text)
    assert str(parsed["VERSION"]) == "2.0"
    assert "PRODID" in parsed


def answered(text: str, address: str, value: str) -> str:
    """``text`` with ``address``'s PARTSTAT set to ``value`` in every component,
    as a client writes it."""
    parsed = calendar(text)
    for component in parsed.subcomponents:
        line = attendee(component, address) if component.name in ("VEVENT", "VTODO") else None
        if line is not None:
            line.params["PARTSTAT"] = value
            line.params.pop("RSVP", None)
    return parsed.to_ical().decode("utf-8")
