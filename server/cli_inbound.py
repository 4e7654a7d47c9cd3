"""The inbound iMIP verbs of the ``kalend`` command: ``kalend imip receive``
(one message from an MTA's pipe) and ``kalend lmtp`` (an LMTP listener).

``kalend imip receive`` answers in exit codes from sysexits.h, which MTAs
(Postfix's and Exim's ``pipe`` transports) turn into a delivery, a bounce
or a retry:

- 0  the message was applied, or ignored (not iMIP; an auto-reply must not
     bounce, or two servers start a mail loop);
- 65 EX_DATAERR: refused (malformed, oversized, spoofed …); the reason on
     stderr goes into the bounce;
- 67 EX_NOUSER: nobody here is invited by it;
- 75 EX_TEMPFAIL: the database is unavailable (or its schema is behind);
     the MTA keeps the message and tries again later;
- 2  a usage or configuration error.

Postfix, master.cf::

    kalend unix - n n - - pipe flags=Rq user=kalend
      argv=/usr/bin/kalend imip receive --config /etc/kalend.conf --recipient ${recipient}

(with ``kalend_destination_recipient_limit = 1``, one call per recipient).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from kalend.server import config as kalend_config

#: Exit codes of sysexits.h.
EX_OK = 0
EX_USAGE = 2  # kalend's own code for usage and configuration errors
EX_DATAERR = 65
EX_NOUSER = 67
EX_TEMPFAIL = 75

EXIT_CODES = {"applied": EX_OK, "ignored": EX_OK, "refused": EX_DATAERR,
              "no_such_user": EX_NOUSER}


def cmd_receive(args: argparse.Namespace) -> int:
    from kalend.scheduling.imip_inbound import TemporaryFailure, receive
    from kalend.scheduling.imip_settings import ImipConfigError, imip_settings

    try:
        configuration = kalend_config.load(args.config)
        settings = imip_settings(configuration)
    except (kalend_config.ConfigError, ImipConfigError) as exc:
        return _fail(EX_USAGE, str(exc))
    outcome_log = _configure_logging(configuration.get("logging", "level"))
    raw = sys.stdin.buffer.read()
    storage, failure = _open_storage(configuration)
    if storage is None:
        return failure
    try:
        result = receive(storage, raw, args.recipient or [], settings)
    except TemporaryFailure as exc:
        return _fail(EX_TEMPFAIL, f"temporary failure, try again later: {exc.reason}",
                     logged=outcome_log.isEnabledFor(logging.WARNING))
    except Exception:
        # A fault of kalend's, not of the message: nothing was committed, and
        # the MTA keeps the message (and retries) instead of bouncing it.
        logging.getLogger("kalend.imip").exception("iMIP message not applied")
        return _fail(EX_TEMPFAIL, "internal error (see the log above); nothing changed, "
                                  "try again later")
    finally:
        storage.engine.dispose()
    code = EXIT_CODES[result.outcome]
    if code != EX_OK and not outcome_log.isEnabledFor(logging.WARNING):
        # The line goes into the bounce even when the log level hides it.
        print(f"kalend: {result.outcome.replace('_', ' ')}: {result.reason}", file=sys.stderr)
    return code


def _open_storage(configuration):
    """(storage, 0), or (None, exit code) when the database cannot be used:
    unreachable or behind its schema is temporary (the operator fixes it and
    the MTA's retry gets through); a URL that cannot work is configuration."""
    from kalend.storage_plugin import Storage
    from kalend.storage_plugin.engine import DatabaseUnavailableError
    from kalend.storage_plugin.migrate import SchemaOutOfDateError

    try:
        return Storage(configuration), EX_OK
    except DatabaseUnavailableError as exc:
        temporary = isinstance(exc.__cause__, OperationalError)
        return None, _fail(EX_TEMPFAIL if temporary else EX_USAGE, str(exc))
    except SchemaOutOfDateError as exc:
        return None, _fail(EX_TEMPFAIL, str(exc))
    except OperationalError as exc:
        return None, _fail(EX_TEMPFAIL, f"database unavailable: {exc.orig or exc}")


def _configure_logging(level: str) -> logging.Logger:
    """Log lines go to stderr (what an MTA records, and puts in a bounce), at
    the configured level; the outcome lines of ``imip_inbound`` read as the
    command's own message. Returns that outcome logger."""
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    # The schema check says at INFO what it found, for every message: noise here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    outcome = logging.getLogger("kalend.imip.inbound")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("kalend: %(message)s"))
    outcome.addHandler(handler)
    outcome.propagate = False
    return outcome


def _fail(code: int, message: str, logged: bool = False) -> int:
    if not logged:
        print(f"kalend: {message}", file=sys.stderr)
    return code


def cmd_lmtp(args: argparse.Namespace) -> int:
    from kalend.scheduling.imip_settings import imip_settings
    from kalend.server.lmtp import serve_lmtp
    from kalend.storage_plugin import Storage

    configuration = kalend_config.load(args.config)
    settings = imip_settings(configuration)
    logging.basicConfig(level=getattr(logging, configuration.get("logging", "level").upper(),
                                      logging.INFO),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    if not 0 <= args.port <= 65535:
        raise kalend_config.ConfigError(f"--port {args.port} is not a port number (0-65535)")
    storage = Storage(configuration)

    def ready(host: str, port: int) -> None:
        print(f"kalend: LMTP listening on {host}:{port} (Ctrl-C stops)", flush=True)

    try:
        serve_lmtp(storage, settings, args.host, args.port, on_ready=ready)
    finally:
        storage.engine.dispose()
    print("kalend: LMTP listener stopped", flush=True)
    return 0


def add_verbs(verbs, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    imip = verbs.add_parser("imip", help="iMIP e-mail arriving for calendar users",
                            description="Take in iMIP e-mail (RFC 6047): replies to "
                                        "invitations, invitations from other servers.")
    imip_verbs = imip.add_subparsers(dest="imip_verb", metavar="ACTION", required=True)
    receive = imip_verbs.add_parser(
        "receive", help="apply one e-mail read from stdin (for an MTA pipe)",
        description="Read one RFC 5322 message from stdin and apply it: a REPLY to the "
                    "organizer's copy, a REQUEST or CANCEL to the invited users. Exit "
                    "status per sysexits.h: 0 applied or ignored, 65 refused (reason on "
                    "stderr), 67 no such user, 75 temporary failure (retry later), "
                    "2 usage or configuration error.")
    receive.add_argument("--recipient", action="append", metavar="ADDR",
                         help="envelope recipient, as the MTA passes it (${recipient}); "
                              "repeatable. Without it, the To: and Cc: addresses count, "
                              "and a reply is taken only through a reply address there")
    add_config(receive)
    receive.set_defaults(func=cmd_receive)

    lmtp = verbs.add_parser(
        "lmtp", help="listen for iMIP e-mail over LMTP (RFC 2033)",
        description="Accept mail from the MTA over LMTP and apply each message as "
                    "`kalend imip receive` does, answering per recipient: 250 applied or "
                    "ignored, 550 5.1.1 no such user, 554 5.6.0 refused, 451 4.3.0 "
                    "temporary failure. Runs until Ctrl-C or SIGTERM.")
    lmtp.add_argument("--host", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1)")
    lmtp.add_argument("--port", type=int, default=8024,
                      help="port to listen on (default 8024; 0 picks a free one)")
    add_config(lmtp)
    lmtp.set_defaults(func=cmd_lmtp)
