"""The iMIP verbs of the ``kalend`` command: the outbox worker (mail out)
and, from ``cli_inbound``, the ways mail comes back in.

Kept apart from ``cli`` so that each command module stays small; ``cli``
calls ``add_verbs`` once when it builds its parser.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable

from kalend.server import config as kalend_config

logger = logging.getLogger("kalend.imip")


def cmd_worker(args: argparse.Namespace) -> int:
    from kalend.scheduling.imip_sender import run_worker
    from kalend.scheduling.imip_settings import imip_settings, smtp_settings
    from kalend.storage_plugin import Storage

    configuration = kalend_config.load(args.config)
    logging.basicConfig(level=getattr(logging, configuration.get("logging", "level").upper(),
                                      logging.INFO),
                        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    smtp = smtp_settings(configuration)
    if not smtp.configured:
        raise kalend_config.ConfigError(
            "[smtp] host is empty: the worker has nowhere to send; set it in the "
            "configuration file (see config/kalend.conf)")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    storage = Storage(configuration)
    print(f"kalend: iMIP worker sending through {smtp.host}:{smtp.port} "
          f"({smtp.security}); Ctrl-C stops", flush=True)
    run_worker(storage, smtp, imip_settings(configuration), stop, once=args.once)
    storage.engine.dispose()
    return 0


def add_verbs(verbs, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    worker = verbs.add_parser(
        "worker", help="send queued iMIP e-mail (invitations, replies) over SMTP",
        description="Send the iMIP messages waiting in the outbox through the [smtp] "
                    "server, retrying temporary failures, until Ctrl-C. Any number "
                    "of workers may run against one PostgreSQL database; none sends "
                    "a message another has claimed. `kalend serve` runs one itself.")
    worker.add_argument("--once", action="store_true",
                        help="send what is due now and exit (for cron or tests)")
    add_config(worker)
    worker.set_defaults(func=cmd_worker)
    from kalend.server import cli_inbound
    cli_inbound.add_verbs(verbs, add_config)
