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
        "help": "a recurring event's whole past is materialised in the occurrence "
                "index unless it has more than max_instances_per_object instances; "
                "such a series is materialised from this many days in the past only "
                "(queries further back expand it on the fly)",
        "type": radicale_config.positive_int}),
    ("occurrence_future_days", {
        "value": "800",
        "help": "recurring events are materialised up to this many days ahead (two "
                "years and two months: a week or a month of free-busy two years ahead "
                "is read from the index); the maintenance job moves the end forward "
                "every day",
        "type": radicale_config.positive_int}),
    ("max_instances_per_object", {
        "value": "10000",
        "help": "most instances one calendar object may have in the materialised "
                "window (occurrence_past_days back to occurrence_future_days ahead); "
                "a PUT over it gets 403 CALDAV:max-instances",
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


def positive_seconds(value: str) -> float:
    """The type of a configuration key that is a duration in seconds."""
    number = float(value)
    if number <= 0:
        raise ValueError("must be a number of seconds above 0")
    return number


#: [limits]: what one request may cost (issue 15: bounded work per request).
#: Defined here because the storage plugin enforces some of them; the
#: server merges the section into its schema and enforces the rest.
LIMIT_OPTIONS: OrderedDict[str, dict[str, Any]] = OrderedDict([
    ("request_deadline", {
        "value": "180",
        "help": "seconds a request may work before it is stopped and answered "
                "503 with Retry-After, its changes undone; also the longest a "
                "PostgreSQL statement may run. Fits an invitation to 1,000 local "
                "attendees, which takes about 100 ms per attendee today",
        "type": positive_seconds}),
    ("lock_wait", {
        "value": "30",
        "help": "seconds a write waits for another write of the same calendar "
                "(PostgreSQL lock_timeout, SQLite busy timeout) before it is "
                "answered 503 with Retry-After",
        "type": positive_seconds}),
    ("retry_after", {
        "value": "5",
        "help": "seconds a 503 answer (database unreachable, deadline or lock "
                "wait exceeded) asks the client to wait before trying again",
        "type": radicale_config.positive_int}),
    ("max_attendees_per_instance", {
        "value": "1000",
        "help": "most ATTENDEE properties one component of a calendar object may "
                "have (CALDAV:max-attendees-per-instance, RFC 4791 §5.2.9); a PUT "
                "over it gets 403 with that precondition",
        "type": radicale_config.positive_int}),
    ("max_overridden_instances", {
        "value": "1000",
        "help": "most overridden instances (components with a RECURRENCE-ID) "
                "one calendar object may hold; a PUT over it gets 403 "
                "CALDAV:max-instances",
        "type": radicale_config.positive_int}),
    ("max_components_per_object", {
        "value": "5000",
        "help": "most components (events, alarms, time-zone rules...) one calendar "
                "object or contact may hold; a PUT over it gets 403 "
                "CALDAV:max-resource-size",
        "type": radicale_config.positive_int}),
    ("max_property_length", {
        "value": "1048576",
        "help": "most characters one property (its unfolded line) may have, e.g. "
                "a DESCRIPTION; a PUT over it gets 403 CALDAV:max-resource-size",
        "type": radicale_config.positive_int}),
    ("max_xml_depth", {
        "value": "64",
        "help": "deepest nesting of elements a WebDAV request body may have; "
                "deeper bodies get 400",
        "type": radicale_config.positive_int}),
    ("max_expansion_steps", {
        "value": "200000",
        "help": "most periods (a day counts 1, a week 2, a month 3, a year 16) "
                "the expansion of one recurrence rule may walk; beyond it a PUT "
                "gets 403 CALDAV:max-instances and a report 507. About a second "
                "of CPU, and 550 years of a daily rule",
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
        configuration.get("limits", "lock_wait")
        return configuration
    except KeyError:
        return configuration.copy({"storage": STORAGE_OPTIONS, "limits": LIMIT_OPTIONS})
