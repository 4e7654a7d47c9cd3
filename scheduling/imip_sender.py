"""The iMIP worker: sends the outbox's messages through SMTP (RFC 6047).

Rows reach the ``outbox`` table in the transaction of the calendar change
that caused them (``delivery``); this worker sends them afterwards, so mail
goes out only for committed changes and survives a crash of the process that
made them.

Claiming: a worker marks a batch of due rows ``sending`` with a lease
(``claimed_until``) in one short write transaction — on PostgreSQL with
``FOR UPDATE SKIP LOCKED``, so two workers never claim the same row and never
wait for each other; on SQLite the single writer lock does the same. The
SMTP conversation then runs outside any transaction (an SMTP server that
takes thirty seconds must not hold the database). A worker that dies after
claiming leaves rows whose lease runs out; another worker claims them again.
If it died after the SMTP server accepted the message but before recording
it, that message goes out twice: SMTP offers no way to make a hand-over and
a database write one step. It is the only case.

Outcomes (RFC 6638 §3.2.9 request-status codes, written back as
SCHEDULE-STATUS on the organizer's copy when the row names it):

* accepted by the SMTP server: ``sent``; 1.2 (delivered) for REQUEST, CANCEL
  and the rest, 2.0 for a REPLY (nothing further is expected of it);
* a temporary failure (a 4xx reply, no connection, a timeout, a lost
  connection): tried again after an exponential delay with jitter, until
  ``[imip] max_attempts``; then ``failed`` with 5.1;
* a permanent failure (a 5xx reply, e.g. an unknown mailbox): ``failed`` at
  once with 5.3 (the recipient cannot be reached by iMIP).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiosmtplib
from sqlalchemy import and_, or_, select, update

from kalend.scheduling import itip
from kalend.scheduling.imip_compose import MAIL_POLICY, compose, mail_address
from kalend.scheduling.imip_settings import ImipSettings, SmtpSettings
from kalend.scheduling.imip_tokens import token_for
from kalend.storage_plugin import schema
from kalend.storage_plugin.engine import is_sqlite
from kalend.storage_plugin.transaction import current_connection, lock_scope, transaction

logger = logging.getLogger("kalend.imip")

#: How many rows one claim takes; small, so a slow SMTP server delays few.
BATCH = 20

#: SCHEDULE-STATUS values (RFC 6638 §3.2.9).
DELIVERED = "1.2"
SUCCESS = "2.0"
GAVE_UP = "5.1"
REFUSED = "5.3"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    method: str
    sender: str
    recipient: str
    uid: str
    text: str
    principal: str
    collection_path: str | None
    href: str | None
    attempts: int          # including the one now claimed
    reply_token: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``sent``, ``retry`` or ``failed``."""

    kind: str
    detail: str = ""
    message_id: str | None = None
    permanent: bool = False


# -- what an SMTP failure means -----------------------------------------------------


def classify(error: BaseException) -> Outcome:
    """Temporary or permanent, from the SMTP reply code where there is one
    (RFC 5321 §4.2.1: 4yz transient, 5yz permanent); anything without a
    code (refused connection, timeout, dropped line, TLS trouble) is
    temporary: the server may be back later."""
    code: int | None = None
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        code = min(r.code for r in error.recipients)
    elif isinstance(error, aiosmtplib.SMTPResponseException):
        code = error.code
    detail = f"{type(error).__name__}: {error}".strip()
    if code is not None and 500 <= code < 600:
        return Outcome("failed", detail, permanent=True)
    return Outcome("retry", detail)


def retry_delay(attempts: int, settings: ImipSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: about ``retry_delay`` x 2^(n-1),
    capped, and drawn from its upper half so that many messages failing
    together do not come back together."""
    ceiling = min(settings.max_retry_delay, settings.retry_delay * 2 ** max(attempts - 1, 0))
    return ceiling * rng.uniform(0.5, 1.0)


# -- the worker ---------------------------------------------------------------------


class OutboxWorker:
    """Claims, sends and records; one per thread or process."""

    def __init__(self, storage, smtp: SmtpSettings, settings: ImipSettings,
                 clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None) -> None:
        self._storage = storage
        self._smtp = smtp
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()

    @property
    def _lease(self) -> float:
        # Connect, TLS, EHLO, AUTH, MAIL, RCPT, DATA: each may take a timeout.
        return self._smtp.timeout * 10

    def claim(self, limit: int = BATCH) -> list[OutboxRow]:
        """Mark up to ``limit`` due rows as this worker's (see the module
        docstring) and give each its reply token."""
        now = self._clock()
        o = schema.outbox.c
        due = or_(and_(o.status == "queued", o.next_attempt <= now),
                  and_(o.status == "sending", o.claimed_until < now))
        query = select(o.id).where(due).order_by(o.id).limit(limit)
        engine = self._storage.engine
        if not is_sqlite(engine):
            query = query.with_for_update(skip_locked=True)
        with transaction(engine, "w"):
            connection = current_connection()
            ids = list(connection.execute(query).scalars())
            if not ids:
                return []
            connection.execute(update(schema.outbox).where(o.id.in_(ids)).values(
                status="sending", claimed_until=now + self._lease, attempts=o.attempts + 1))
            rows = connection.execute(select(
                o.id, o.method, o.sender, o.recipient, o.uid, o.text, o.principal,
                o.collection_path, o.href, o.attempts).where(o.id.in_(ids))
                .order_by(o.id)).all()
            return [self._with_token(connection, OutboxRow(*row)) for row in rows]

    def _with_token(self, connection, row: OutboxRow) -> OutboxRow:
        """Invitations and cancellations name a reply address with a token
        for this attendee and event (when a reply domain is configured)."""
        if row.method == "REPLY" or not self._settings.identity.reply_to_domain:
            return row
        token = token_for(connection, row.principal, row.uid, row.recipient, row.sender)
        return OutboxRow(**{**row.__dict__, "reply_token": token})

    async def send(self, row: OutboxRow) -> Outcome:
        try:
            message = compose(row.method, row.sender, row.recipient, row.text,
                              self._settings.identity, row.reply_token)
        except ValueError as exc:
            # The row itself is unusable: no retry will change that.
            return Outcome("failed", f"cannot compose: {exc}", permanent=True)
        smtp = self._smtp
        envelope_from = self._settings.identity.sender or mail_address(row.sender)
        try:
            # Flattened here: aiosmtplib would re-serialise with its own policy
            # (and fold headers the way MAIL_POLICY avoids).
            await aiosmtplib.send(
                message.as_bytes(policy=MAIL_POLICY), sender=envelope_from, recipients=[mail_address(row.recipient)],
                hostname=smtp.host, port=smtp.port, timeout=smtp.timeout,
                use_tls=smtp.security == "tls", start_tls=smtp.security == "starttls",
                username=smtp.username or None,
                password=smtp.password if smtp.username else None)
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                logger.error("SMTP login to %s refused: check [smtp] username and "
                             "password_file (%s)", smtp.host, exc)
            return classify(exc)
        return Outcome("sent", message_id=str(message["Message-ID"]))

    def record(self, row: OutboxRow, outcome: Outcome) -> str:
        """Write the outcome (only if the row is still ours) and, when final,
        the SCHEDULE-STATUS on the organizer's copy. Returns the row's new
        status."""
        now = self._clock()
        status, values = self._next_state(row, outcome, now)
        scopes = [lock_scope(row.collection_path)] if row.collection_path else []
        with transaction(self._storage.engine, "w", scopes):
            o = schema.outbox.c
            changed = current_connection().execute(
                update(schema.outbox).where(o.id == row.id, o.status == "sending")
                .values(status=status, claimed_until=None, **values)).rowcount
            if changed and status in ("sent", "failed"):
                self._write_back(row, self._schedule_status(row, status, outcome))
        self._log(row, status, outcome)
        return status

    def _next_state(self, row: OutboxRow, outcome: Outcome, now: float) -> tuple[str, dict]:
        if outcome.kind == "sent":
            return "sent", {"sent": now, "message_id": outcome.message_id, "last_error": None}
        if outcome.kind == "retry" and row.attempts < self._settings.max_attempts:
            delay = retry_delay(row.attempts, self._settings, self._rng)
            return "queued", {"next_attempt": now + delay, "last_error": outcome.detail}
        return "failed", {"last_error": outcome.detail}

    @staticmethod
    def _schedule_status(row: OutboxRow, status: str, outcome: Outcome) -> str:
        if status == "sent":
            return SUCCESS if row.method == "REPLY" else DELIVERED
        return REFUSED if outcome.permanent else GAVE_UP

    def _write_back(self, row: OutboxRow, status: str) -> None:
        """SCHEDULE-STATUS on the organizer's copy (RFC 6638 §3.2.9), if it
        still is the copy of that event."""
        if not (row.collection_path and row.href) or row.method == "REPLY":
            return
        o = schema.outbox.c
        newer = current_connection().execute(select(o.id).where(
            o.uid == row.uid, o.recipient == row.recipient, o.id > row.id,
            o.status.in_(("queued", "sending"))).limit(1)).first()
        if newer is not None:
            return  # a later message to this attendee will write its own status
        collection = self._storage.collection_at(row.collection_path)
        text = collection.text_of(row.href) if collection is not None else None
        if not text or f"UID:{row.uid}" not in text.replace("\r\n ", ""):
            return
        updated = itip.set_schedule_status(text, {row.recipient: status})
        if updated != text:
            collection.put_text(row.href, updated)

    @staticmethod
    def _log(row: OutboxRow, status: str, outcome: Outcome) -> None:
        what = f"iMIP {row.method} from {row.sender} to {row.recipient} ({row.uid})"
        if status == "sent":
            logger.info("%s sent, %s", what, outcome.message_id)
        elif status == "queued":
            logger.warning("%s: attempt %d failed, will retry: %s", what, row.attempts,
                           outcome.detail)
        else:
            logger.error("%s given up after %d attempt(s): %s", what, row.attempts,
                         outcome.detail)

    async def run_once(self) -> int:
        """Send what is due now; the number of rows handled."""
        handled = 0
        while True:
            rows = await asyncio.to_thread(self.claim)
            if not rows:
                return handled
            for row in rows:
                outcome = await self.send(row)
                await asyncio.to_thread(self.record, row, outcome)
                handled += 1


def run_worker(storage, smtp: SmtpSettings, settings: ImipSettings,
               stop: threading.Event, once: bool = False) -> None:
    """Drain the outbox until ``stop`` is set (or once). A database fault is
    logged and retried at the next poll; nothing is lost, since unsent rows
    stay in the table."""
    worker = OutboxWorker(storage, smtp, settings)
    while not stop.is_set():
        try:
            asyncio.run(worker.run_once())
        except Exception:
            logger.exception("iMIP worker: sending round failed; retrying in %.0f s",
                             settings.poll_interval)
        if once:
            return
        stop.wait(settings.poll_interval)


def start_background(storage, configuration, stop: threading.Event) -> threading.Thread | None:
    """The in-process worker of ``kalend serve``; without an SMTP host it
    says once that outside invitations wait, and starts nothing."""
    from kalend.scheduling.imip_settings import imip_settings, smtp_settings

    smtp = smtp_settings(configuration)
    if not smtp.configured:
        logger.warning("[smtp] host is not set: invitations and replies to people on "
                       "other servers wait in the outbox until it is configured")
        return None
    settings = imip_settings(configuration)
    thread = threading.Thread(target=run_worker, args=(storage, smtp, settings, stop),
                              name="kalend-imip", daemon=True)
    thread.start()
    logger.info("iMIP: sending through %s:%d (%s)", smtp.host, smtp.port, smtp.security)
    return thread
