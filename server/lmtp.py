"""The LMTP listener (RFC 2033) that ``kalend lmtp`` runs: the MTA delivers
iMIP mail to it as to a mailbox server, and each message is applied as
``kalend imip receive`` applies it (``imip_inbound.receive``).

LMTP differs from SMTP in one way that matters here (RFC 2033 §4.2): after
the message data, the server answers once per accepted recipient, in RCPT
order, so one message can be delivered to one user and refused for another.
aiosmtpd's ``LMTP`` class speaks the LHLO greeting but, like its SMTP
parent, sends the single status its handler's ``handle_DATA`` returns. The
handler here therefore applies the message once per recipient (with that
recipient as the envelope, as an MTA's pipe does) and returns the replies
joined by CRLF: aiosmtpd writes the status and a CRLF, so the client reads
one complete reply per recipient. Recipients are all accepted at RCPT time:
whether one is "no such user" depends on the message (an invitation names
its attendees), which has not arrived yet.

Replies: 250 applied or ignored, 550 5.1.1 no such user, 554 5.6.0 refused
(with the reason), 451 4.3.0 temporary failure. A message larger than
aiosmtpd's data limit (the larger of 32 MiB and [imip] max_message_size)
gets aiosmtpd's single 552 for the whole transaction; smaller ones over
max_message_size are refused per recipient.

The database work runs in a worker thread, so one slow transaction does not
stall the other connections.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import DATA_SIZE_DEFAULT, Envelope, Session

from kalend.scheduling.imip_inbound import (
    APPLIED,
    IGNORED,
    NO_SUCH_USER,
    InboundResult,
    TemporaryFailure,
    receive,
)
from kalend.scheduling.imip_settings import ImipSettings

logger = logging.getLogger("kalend.lmtp")


def reply_for(recipient: str, result: InboundResult) -> str:
    """The LMTP reply line for one recipient's outcome."""
    if result.outcome in (APPLIED, IGNORED):
        return f"250 2.0.0 <{recipient}> {result.outcome}"
    if result.outcome == NO_SUCH_USER:
        return f"550 5.1.1 <{recipient}> no such user: {_one_line(result.reason)}"
    return f"554 5.6.0 <{recipient}> refused: {_one_line(result.reason)}"


def temporary_reply(recipient: str) -> str:
    return f"451 4.3.0 <{recipient}> temporary failure, try again later"


class InboundHandler:
    """aiosmtpd handler: every DATA is applied once per recipient."""

    def __init__(self, storage, settings: ImipSettings) -> None:
        self._storage = storage
        self._settings = settings

    async def handle_DATA(self, server: LMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        replies = []
        for recipient in envelope.rcpt_tos:
            replies.append(await asyncio.to_thread(self._deliver, raw, recipient))
        return "\r\n".join(replies)

    def _deliver(self, raw: bytes, recipient: str) -> str:
        try:
            result = receive(self._storage, raw, [recipient], self._settings)
        except TemporaryFailure:
            return temporary_reply(recipient)  # receive() logged it
        except Exception:
            # A bug, not the message's fault: keep the mail queued at the MTA.
            logger.exception("LMTP delivery to %s failed", recipient)
            return temporary_reply(recipient)
        return reply_for(recipient, result)


def serve_lmtp(storage, settings: ImipSettings, host: str, port: int,
               on_ready: Callable[[str, int], None] | None = None,
               stop: threading.Event | None = None) -> None:
    """Listen on ``host``:``port`` until SIGINT/SIGTERM (or ``stop`` is set).
    ``on_ready`` gets the address actually bound (port 0 picks one)."""
    asyncio.run(_serve(storage, settings, host, port, on_ready, stop))


async def _serve(storage, settings: ImipSettings, host: str, port: int,
                 on_ready: Callable[[str, int], None] | None,
                 stop: threading.Event | None) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopped.set)
    if stop is not None:
        def relay() -> None:
            stop.wait()
            loop.call_soon_threadsafe(stopped.set)

        threading.Thread(target=relay, name="kalend-lmtp-stop", daemon=True).start()
    # aiosmtpd logs each connection's AUTH mechanisms at INFO: noise here.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = InboundHandler(storage, settings)
    limit = max(DATA_SIZE_DEFAULT, settings.max_message_size)
    server = await loop.create_server(
        lambda: LMTP(handler, data_size_limit=limit, hostname=settings.identity.server_name,
                     ident="kalend LMTP", loop=loop),
        host=host, port=port)
    bound = server.sockets[0].getsockname()
    logger.info("LMTP listening on %s:%s", bound[0], bound[1])
    if on_ready is not None:
        on_ready(bound[0], bound[1])
    try:
        await stopped.wait()
    finally:
        server.close()
        await server.wait_closed()


def _one_line(text: str) -> str:
    """A reply text: one line, printable ASCII (SMTP replies are ASCII)."""
    return " ".join(text.split()).encode("ascii", "replace").decode("ascii")
