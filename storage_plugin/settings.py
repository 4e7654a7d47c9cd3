"""The configuration keys the storage plugin adds to Radicale's [storage].

Defined here, with their defaults and help, so that the plugin can be used
under stock Radicale as well as under ``kalend serve``; ``kalend.server.config``
merges them into the schema it validates.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

from radicale import config as radicale_config

from kalend.storage_plugin.engine import sqlite_url_for_folder

PLUGIN_TYPE = "kalend.storage_plugin"

#: option -> Radicale schema entry (value = default as text, help, type)
STORAGE_OPTIONS: OrderedDict[str, dict[str, Any]] = OrderedDict([
    ("url", {
        "value": "",
        "help": "SQLAlchemy database URL; empty means an SQLite file "
                "kalend.sqlite3 in data_folder (e.g. "
                "postgresql+psycopg://kalend@db.example/kalend)",
        "type": str}),
    ("data_folder", {
        "value": "./kalend-data",
        "help": "folder for the embedded SQLite database and the default "
                "htpasswd file; created on first start",
        "type": radicale_config.filepath}),
    ("pool_size", {
        "value": "10",
        "help": "database connections kept open per process (PostgreSQL)",
        "type": radicale_config.positive_int}),
    ("occurrence_past_days", {
        "value": "365",
        "help": "recurring events are materialised in the occurrence index from "
                "this many days in the past (queries further back expand on the fly)",
        "type": radicale_config.positive_int}),
    ("occurrence_future_days", {
        "value": "730",
        "help": "... and up to this many days ahead; the maintenance job moves "
                "the window forward as time passes",
        "type": radicale_config.positive_int}),
    ("max_instances_per_object", {
        "value": "10000",
        "help": "most instances one calendar object may have in the materialised "
                "window; a PUT over it gets 403 CALDAV:max-instances",
        "type": radicale_config.positive_int}),
    ("max_instances_per_query", {
        "value": "100000",
        "help": "most instances an expand or free-busy answer may hold; beyond it "
                "the request gets 507 DAV:number-of-matches-within-limits",
        "type": radicale_config.positive_int}),
    ("answer_cache_mb", {
        "value": "64",
        "help": "memory per process for answers to repeated calendar-query, "
                "multiget and sync-collection REPORTs, reused while the "
                "collection is unchanged (a calendar-query answer is brought "
                "up to date after a few writes); 0 turns the cache off",
        "type": radicale_config.positive_int}),
    ("calendar_data_cache_mb", {
        "value": "32",
        "help": "memory per process for calendar objects' text by ETag, so that "
                "a calendar-query reads from the database only the text of "
                "objects changed since it was last sent; 0 turns the cache off",
        "type": radicale_config.positive_int}),
    ("sync_token_retention_days", {
        "value": "90",
        "help": "days the sync-collection change log is kept; older sync "
                "tokens get DAV:valid-sync-token and clients resync",
        "type": radicale_config.positive_int}),
])


def data_folder(configuration: radicale_config.Configuration) -> str:
    return os.path.abspath(configuration.get("storage", "data_folder"))


def occurrence_window(configuration: radicale_config.Configuration,
                      now: float) -> tuple[int, int]:
    """The materialisation window [from, until) as UTC seconds at ``now``.

    Rounded to whole days so that items written on the same day share one
    window (the maintenance job then extends them together).
    """
    day = 86400
    today = int(now) // day * day
    return (today - configuration.get("storage", "occurrence_past_days") * day,
            today + (configuration.get("storage", "occurrence_future_days") + 1) * day)


def database_url(configuration: radicale_config.Configuration) -> str:
    """The configured URL, or the embedded SQLite file in the data folder."""
    url = configuration.get("storage", "url").strip()
    return url or sqlite_url_for_folder(data_folder(configuration))


def with_storage_options(configuration: radicale_config.Configuration
                         ) -> radicale_config.Configuration:
    """The configuration with the plugin's options known (and defaulted).

    Under ``kalend serve`` they are part of the schema already; under stock
    Radicale (``radicale --storage-type kalend.storage_plugin``) they are added
    the way Radicale adds any plugin's options.
    """
    try:
        configuration.get("storage", "data_folder")
        configuration.get("storage", "url")
        return configuration
    except KeyError:
        return configuration.copy({"storage": STORAGE_OPTIONS})
