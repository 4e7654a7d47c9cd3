"""Periodic upkeep of the database, in-process or from a scheduler.

``kalend serve`` runs it in a background thread; production deployments with
several processes run ``kalend maintain`` from cron or a systemd timer
instead (it is idempotent, so running it from several places is harmless).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from kalend.storage_plugin import Storage, seen_messages
from kalend.storage_plugin.transaction import transaction

logger = logging.getLogger("kalend.maintenance")

#: How often the in-process job runs.
INTERVAL_SECONDS = 3600.0


@dataclass(frozen=True)
class MaintenanceReport:
    pruned_changes: int
    extended_items: int
    forgotten_messages: int = 0


def run_once(storage: Storage) -> MaintenanceReport:
    """Move the occurrence window forward as time passes (and index items
    that are not indexed yet), then prune the sync change log past its
    retention (RFC 6578 §3.7: the server may forget; clients holding older
    tokens get valid-sync-token and resynchronise), and forget the
    Message-IDs of inbound iMIP messages past theirs."""
    extended = storage.extend_occurrence_windows()
    if extended:
        logger.info("occurrence index: %d items materialised up to the current window",
                    extended)
    days = storage.configuration.get("storage", "sync_token_retention_days")
    with transaction(storage.engine, "w", ["kalend-maintenance"]):
        pruned = storage.prune_change_log(days * 86400.0)
    if pruned:
        logger.info("pruned %d change-log rows older than %d days", pruned, days)
    forgotten = forget_seen_messages(storage)
    return MaintenanceReport(pruned_changes=pruned, extended_items=extended,
                             forgotten_messages=forgotten)


def forget_seen_messages(storage: Storage) -> int:
    """Drop the remembered Message-IDs of inbound iMIP messages older than
    ``[imip] message_id_retention_days``. A message delivered again after
    that is read afresh: a REPLY it carries still changes nothing (it is not
    newer than the answer on file), an invitation or counter-proposal lands
    in the inbox once more. MTAs give up retrying within days (Postfix: 5),
    so the default of 30 outlasts every redelivery."""
    days = storage.configuration.get("imip", "message_id_retention_days")
    with transaction(storage.engine, "w", ["kalend-maintenance"]) as connection:
        forgotten = seen_messages.forget_before(connection, time.time() - days * 86400.0)
    if forgotten:
        logger.info("forgot %d iMIP Message-IDs older than %d days", forgotten, days)
    return forgotten


def start_background(storage: Storage, stop: threading.Event,
                     interval: float = INTERVAL_SECONDS) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            try:
                run_once(storage)
            except Exception:  # keep serving; the next round retries
                logger.exception("maintenance run failed")
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="kalend-maintenance", daemon=True)
    thread.start()
    return thread
