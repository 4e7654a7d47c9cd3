"""Reading .eml fixtures and building small e-mails, for the iMIP tests."""

from __future__ import annotations

import base64
import email
from email.message import Message
from email.policy import SMTP, default
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imip"

#: The reply token the fixtures are addressed to (calendar+TOKEN@kalend.test).
TOKEN = "0123456789abcdef0123456789abcdef"
REPLY_ADDRESS = f"mailto:calendar+{TOKEN}@kalend.test"
UID = "imip-test-meeting-1@kalend.test"
ALICE = "mailto:alice@kalend.test"
DAVE = "mailto:dave@elsewhere.example"
ERIN = "mailto:erin@outlook.example"
FRANK = "mailto:frank@thunder.example"


def eml(name: str) -> bytes:
    """A fixture message as it arrives from an MTA: bytes, CRLF line ends."""
    return (FIXTURES / name).read_bytes()


def ics(name: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def reparsed(message: Message) -> Message:
    """A composed message as the receiving side sees it: serialised for SMTP, parsed back."""
    return email.message_from_bytes(message.as_bytes(policy=SMTP), policy=default)


def structure(message: Message) -> list[str]:
    """Content types of the MIME tree, depth-first, indented by level."""
    lines: list[str] = []

    def visit(part: Message, depth: int) -> None:
        lines.append("  " * depth + part.get_content_type())
        if part.is_multipart():
            for child in part.get_payload():
                visit(child, depth + 1)

    visit(message, 0)
    return lines


def parts_of_type(message: Message, content_type: str) -> list[Message]:
    return [p for p in message.walk() if p.get_content_type() == content_type]


def decoded(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def mail(headers: dict[str, str] | list[tuple[str, str]], body: str) -> bytes:
    """A raw e-mail from header pairs and a body (both written with \\n; sent with CRLF)."""
    items = headers.items() if isinstance(headers, dict) else headers
    head = "".join(f"{name}: {value}\n" for name, value in items)
    return crlf(head + "\n" + body).encode("utf-8")


def b64(text: str, charset: str = "utf-8", line_ends_as_given: bool = False) -> str:
    """``text`` in base64 (with CRLF line ends unless ``line_ends_as_given``)."""
    data = (text if line_ends_as_given else crlf(text)).encode(charset)
    encoded = base64.b64encode(data).decode("ascii")
    return "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + "\n"


def reply_calendar(
    attendee: str = DAVE,
    partstat: str = "ACCEPTED",
    method: str = "REPLY",
    extra: str = "",
    cn: str = "Dave Example",
) -> str:
    """A small REPLY (RFC 5546 §4.2.2 shape) for the fixtures' meeting."""
    return crlf(
        "BEGIN:VCALENDAR\n"
        "PRODID:-//kalend tests//iMIP//EN\n"
        "VERSION:2.0\n"
        f"METHOD:{method}\n"
        "BEGIN:VEVENT\n"
        f"UID:{UID}\n"
        "DTSTAMP:20261117T120000Z\n"
        "SEQUENCE:0\n"
        "ORGANIZER;CN=Alice Example:mailto:alice@kalend.test\n"
        f"ATTENDEE;CN={cn};PARTSTAT={partstat}:{attendee}\n"
        f"{extra}"
        "END:VEVENT\n"
        "END:VCALENDAR\n"
    )


def calendar_mail(
    calendar: str,
    sender: str = "Dave Example <dave@elsewhere.example>",
    to: str = f"calendar+{TOKEN}@kalend.test",
    content_type: str = "text/calendar; method=REPLY; charset=UTF-8",
    encoding: str = "base64",
) -> bytes:
    """A message whose whole body is one calendar part (RFC 6047 §4 shape)."""
    body = b64(calendar) if encoding == "base64" else calendar
    return mail(
        {
            "From": sender,
            "To": to,
            "Subject": "Accepted: Project sync",
            "Message-ID": "<test-1@elsewhere.example>",
            "MIME-Version": "1.0",
            "Content-Type": content_type,
            "Content-Transfer-Encoding": encoding,
        },
        body,
    )
