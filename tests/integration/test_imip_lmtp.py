"""iMIP mail arriving over LMTP (RFC 2033): a real `kalend lmtp` process,
driven by smtplib's LMTP client as an MTA's lmtp transport drives a mailbox
server, on SQLite and PostgreSQL. After DATA the listener answers once per
recipient; it keeps running after refusing a message."""

from __future__ import annotations

import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from test_imip_inbound import (
    ALICE_COPY,
    DAVE,
    OLGA_UID,
    UID,
    Snapshot,
    eml,
    get,
    inbox,
    make_token,
    master,
    meeting,  # noqa: F401  (fixture)
    partstat,
    reply_address,
    team,  # noqa: F401  (fixture)
)

SENDER = "bounces@mx.kalend.test"


class LmtpListener:
    """`kalend lmtp` on a free loopback port, as its own process."""

    def __init__(self, config: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kalend", "lmtp", "--config", config,
             "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output: list[str] = []
        self.port = self._wait_until_listening()
        self._reader = threading.Thread(target=self._read_rest, daemon=True)
        self._reader.start()

    def _wait_until_listening(self) -> int:
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = re.search(r"LMTP listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                return int(match.group(1))
        self.process.kill()
        raise RuntimeError("kalend lmtp did not start:\n" + "".join(self.output))

    def _read_rest(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def deliver(self, message: bytes, *recipients: str) -> list[tuple[int, str]]:
        """One LMTP transaction; the replies after DATA, one per recipient."""
        with smtplib.LMTP("127.0.0.1", self.port, timeout=120) as client:
            client.ehlo()  # sends LHLO
            code, text = client.mail(SENDER)
            assert code == 250, text
            for recipient in recipients:
                code, text = client.rcpt(recipient)
                assert code == 250, text
            replies = [client.data(message)]
            replies += [client.getreply() for _ in recipients[1:]]
            return [(code, text.decode()) for code, text in replies]

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(10)
        return self.process.returncode


@pytest.fixture
def lmtp(server_config) -> Iterator[LmtpListener]:
    listener = LmtpListener(server_config)
    try:
        yield listener
    finally:
        listener.stop()


def test_google_accept_over_lmtp_is_applied(meeting, lmtp):  # noqa: F811
    token = make_token(meeting, DAVE)
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), reply_address(token))
    assert [code for code, _ in replies] == [250], replies
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"
    assert inbox(meeting, "alice") == [("REPLY", UID)]


def test_spoofed_reply_is_refused_and_the_listener_keeps_going(meeting, lmtp):  # noqa: F811
    token = make_token(meeting, DAVE)
    before = Snapshot(meeting)
    replies = lmtp.deliver(eml("spoofed-reply-from-mismatch.eml"), reply_address(token))
    assert replies[0][0] == 554, replies
    assert "5.6.0" in replies[0][1] and "not the attendee" in replies[0][1]
    before.assert_unchanged(meeting)

    assert lmtp.running()
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), reply_address(token))
    assert [code for code, _ in replies] == [250], replies
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"


def test_each_recipient_gets_its_own_reply(team, lmtp):  # noqa: F811
    replies = lmtp.deliver(eml("google-request-from-outside-organizer.eml"),
                           "bob@kalend.test", "nobody@kalend.test")
    assert [code for code, _ in replies] == [250, 550], replies
    assert "5.1.1" in replies[1][1] and "nobody@kalend.test" in replies[1][1]
    assert inbox(team, "bob") == [("REQUEST", OLGA_UID)]

    # The connection state is sound after the two replies: a next message.
    replies = lmtp.deliver(eml("google-cancel-from-outside-organizer.eml"), "bob@kalend.test")
    assert [code for code, _ in replies] == [250], replies
    assert inbox(team, "bob") == [("CANCEL", OLGA_UID), ("REQUEST", OLGA_UID)]


def test_not_imip_is_accepted_and_dropped(meeting, lmtp):  # noqa: F811
    before = Snapshot(meeting)
    replies = lmtp.deliver(eml("not-imip-plain-text.eml"), reply_address("0" * 32))
    assert [code for code, _ in replies] == [250], replies
    before.assert_unchanged(meeting)


def test_sigterm_stops_the_listener(server_config):
    listener = LmtpListener(server_config)
    assert listener.stop() == 0
    assert "LMTP listener stopped" in "".join(listener.output)


def test_reply_to_an_unrelated_address_over_lmtp_is_no_such_user(meeting, lmtp):  # noqa: F811
    make_token(meeting, DAVE)
    before = Snapshot(meeting)
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), "nobody@example.org")
    assert [code for code, _ in replies] == [550], replies
    assert "5.1.1" in replies[0][1] and "nobody@example.org" in replies[0][1]
    before.assert_unchanged(meeting)


def test_reply_delivered_again_over_lmtp_is_accepted_and_changes_nothing(
        meeting, lmtp):  # noqa: F811
    address = reply_address(make_token(meeting, DAVE))
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), address)
    assert [code for code, _ in replies] == [250], replies
    before = Snapshot(meeting)
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), address)
    assert [code for code, _ in replies] == [250], replies
    before.assert_unchanged(meeting)


def test_reply_copied_to_a_colleague_is_applied_once_and_refused_for_them(
        meeting, lmtp):  # noqa: F811
    address = reply_address(make_token(meeting, DAVE))
    replies = lmtp.deliver(eml("google-reply-accepted.eml"), address, "bob@kalend.test")
    assert [code for code, _ in replies] == [250, 554], replies
    assert "does not organise" in replies[1][1]
    assert partstat(master(get(meeting, "alice", ALICE_COPY)), DAVE) == "ACCEPTED"
    assert inbox(meeting, "alice") == [("REPLY", UID)]
    assert inbox(meeting, "bob") == []
