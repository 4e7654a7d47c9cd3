"""A real SMTP server on loopback (aiosmtpd) that records what kalend sends
and answers as it is told to: accept, refuse for now (4xx), refuse for good
(5xx), or not be there at all."""

from __future__ import annotations

import email
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=policy.default)  # type: ignore[return-value]


@dataclass
class _Handler:
    """aiosmtpd handler: ``script`` lists the replies to the next DATA
    commands (None = accept); once it is used up every message is accepted.
    ``refuse_recipients`` maps addresses to a RCPT reply."""

    received: list[Received] = field(default_factory=list)
    script: list[str | None] = field(default_factory=list)
    refuse_recipients: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.refuse_recipients.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.attempts += 1
            reply = self.script.pop(0) if self.script else None
            if reply is not None:
                return reply
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.original_content or envelope.content)))
        return "250 2.0.0 queued"


class SmtpSink:
    """Start, stop and restart on the same port; look at what arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(self, count: int, seconds: float = 60) -> list[Received]:
        """At least ``count`` messages (a wait for the worker, not a timing
        assertion: the test fails only if they never come)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = self.received
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.received)}")


def imip_config(port: int, **imip: object) -> str:
    """[smtp] and [imip] sections for a test server sending to ``port``,
    retrying quickly."""
    values = {"sender": "calendar@kalend.test", "reply_domain": "kalend.test",
              "server_name": "kalend.test", "poll_interval": "0.1", "retry_delay": "0.05",
              "max_retry_delay": "0.2", "max_attempts": "4", **imip}
    lines = "".join(f"{key} = {value}\n" for key, value in values.items())
    return (f"\n[smtp]\nhost = 127.0.0.1\nport = {port}\nsecurity = none\ntimeout = 5\n"
            f"\n[imip]\n{lines}")


def wait_until(predicate, seconds: float = 60, step: float = 0.05):
    """Poll until ``predicate()`` is truthy; returns its value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("the condition never held")
