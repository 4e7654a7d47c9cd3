"""kalend's configuration: Radicale's INI format and sections, plus kalend's keys.

A Radicale user can bring their configuration file; kalend adds its own keys
(``[storage] url`` and friends) to Radicale's schema and changes a few
defaults so that ``kalend serve`` with no file at all runs on the embedded
default: SQLite and an htpasswd file in ``./kalend-data``.

Radicale itself accepts any option in a plugin's section without a word; kalend
checks every section and option of the file first, so a typo stops start-up
with a message naming the key and the fix.
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Iterator, Mapping
from configparser import Error as ConfigParserError
from configparser import RawConfigParser
from typing import Any

from radicale import config as radicale_config

from kalend.scheduling.imip_settings import SECTIONS as IMIP_SECTIONS
from kalend.storage_plugin.settings import LIMIT_OPTIONS, PLUGIN_TYPE, STORAGE_OPTIONS

#: Radicale defaults that kalend changes, with the reason.
_KALEND_DEFAULTS: Mapping[str, Mapping[str, str]] = {
    # SQL storage instead of the file system.
    "storage": {"type": PLUGIN_TYPE},
    # A login is needed for scheduling to know who acts; the htpasswd file
    # lives in the data folder unless the file names another.
    # kalend writes bcrypt hashes (Radicale's "autodetect" cannot verify bcrypt
    # entries added after start-up when the file began empty).
    # Logins are cached (Radicale's own cache): a bcrypt check costs ~0.2 s,
    # which would otherwise be paid by every request of every client.
    "auth": {"type": "htpasswd", "htpasswd_encryption": "bcrypt",
             "cache_logins": "True"},
    "rights": {"type": "owner_only"},
    # Radicale sleeps this long before every 5xx answer, holding the request
    # thread meanwhile; kalend answers 503 with Retry-After when its database
    # is unreachable, and a delay would let an outage fill every thread.
    "server": {"delay_on_error": "0"},
}


def whole_number_from_1(value: str) -> int:
    """The type of a count that cannot be 0 (worker processes)."""
    number = int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


#: [server] keys kalend adds for its HTTP front (server/http.py, server/front.py).
SERVER_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "workers": {
        "value": "1",
        "help": "worker processes serving requests, each with max_connections request "
                "threads; more than 1 pays off on PostgreSQL (SQLite has one writer at "
                "a time). The background jobs (iMIP sending, maintenance) run once, in "
                "the process that supervises the workers",
        "type": whole_number_from_1},
    "backlog": {
        "value": "1024",
        "help": "connections the operating system holds for each worker while they "
                "wait to be accepted; a burst of new clients waits there instead of "
                "being reset",
        "type": radicale_config.positive_int},
}

#: Radicale [server] keys whose meaning kalend's front sets more precisely.
_SERVER_HELP: Mapping[str, str] = {
    "max_connections": "requests each worker process handles at once (its request "
                       "threads); further requests are read whole and wait without "
                       "holding a thread, and open or kept-alive connections hold none",
    "timeout": "seconds a client has to send a request's headers (at most 60), and "
               "again its body; a slower client gets 408 and the connection closes",
    "type": "must stay builtin: kalend serves with granian (see server/http.py); "
            "Radicale's hypercorn choice is refused",
    "protocol": "must stay empty: kalend accepts TLS 1.2 and 1.3 and cannot be "
                "narrowed by an Apache SSLProtocol string",
    "ciphersuite": "must stay empty: kalend's TLS (rustls, through granian) chooses "
                   "its own cipher suites",
    "hosts": "the one address and port to listen on (e.g. 127.0.0.1:5232, or "
             "[::]:5232 for every IPv4 and IPv6 address)",
    "ssl": "serve HTTPS with certificate and key (a PKCS#8 or RSA PEM key); with "
           "certificate_authority, clients must show a certificate it signed",
}

#: Radicale's file-system storage options: accepted so that a Radicale user's
#: file loads, but they have no effect on SQL storage.
IGNORED_STORAGE_OPTIONS = (
    "filesystem_folder", "filesystem_cache_folder", "use_cache_subfolder_for_item",
    "use_cache_subfolder_for_history", "use_cache_subfolder_for_synctoken",
    "use_mtime_and_size_for_item_cache", "folder_umask", "max_sync_token_age",
    "skip_broken_item", "hook",
)


class ConfigError(ValueError):
    """A configuration problem, phrased for the operator: key, value, fix."""


def schema() -> radicale_config.types.CONFIG_SCHEMA:
    """Radicale's schema with kalend's options and defaults merged in."""
    merged = copy.deepcopy(radicale_config.DEFAULT_CONFIG_SCHEMA)
    for section, options in _KALEND_DEFAULTS.items():
        for option, value in options.items():
            merged[section][option]["value"] = value
    for option, entry in STORAGE_OPTIONS.items():
        merged["storage"][option] = dict(entry)
    for section, options in IMIP_SECTIONS.items():
        merged[section] = {option: dict(entry) for option, entry in options.items()}
    merged["limits"] = {option: dict(entry) for option, entry in LIMIT_OPTIONS.items()}
    for option, entry in SERVER_OPTIONS.items():
        merged["server"][option] = dict(entry)
    for option, help_text in _SERVER_HELP.items():
        merged["server"][option]["help"] = help_text
    return merged


def iter_options(config_schema: Mapping[str, Any] | None = None
                 ) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Every (section, option, entry) a configuration file may set."""
    for section, options in (config_schema or schema()).items():
        if section.startswith("_"):
            continue
        for option, entry in options.items():
            if option.startswith("_") or option in radicale_config.INTERNAL_OPTIONS:
                continue
            if isinstance(entry, dict) and "value" in entry:
                yield section, option, entry


def _read_file(path: str) -> dict[str, dict[str, str]]:
    parser = RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path!r} does not exist; "
                          "create it (see config/kalend.conf) or leave out --config") from None
    except (OSError, UnicodeDecodeError, ConfigParserError) as exc:
        raise ConfigError(f"config file {path!r} cannot be read: {exc}") from exc
    return {s: {o: parser[s][o] for o in parser.options(s)} for s in parser.sections()}


def _describe_type(type_: Any) -> str:
    names = {
        "positive_int": "a whole number of 0 or more",
        "positive_float": "a number of 0 or more",
        "positive_seconds": "a number of seconds above 0",
        "whole_number_from_1": "a whole number of 1 or more",
        "bool": "true or false",
        "int": "a whole number",
        "filepath": "a file path",
        "list_of_ip_address": "host:port entries separated by commas",
    }
    return names.get(getattr(type_, "__name__", ""), "a valid value")


def validate(values: Mapping[str, Mapping[str, str]], source: str,
             config_schema: Mapping[str, Any]) -> None:
    """Reject unknown sections and options and values of the wrong type."""
    for section, options in values.items():
        if section not in config_schema or section.startswith("_"):
            known = [s for s in config_schema if not s.startswith("_")]
            hint = difflib.get_close_matches(section, known, n=1)
            fix = f"did you mean [{hint[0]}]?" if hint else f"known sections: {', '.join(known)}"
            raise ConfigError(f"{source}: unknown section [{section}]; {fix}")
        section_schema = config_schema[section]
        for option, raw in options.items():
            entry = section_schema.get(option)
            if (not isinstance(entry, dict) or option.startswith("_")
                    or option in radicale_config.INTERNAL_OPTIONS):
                known = [o for o, e in section_schema.items()
                         if isinstance(e, dict) and "value" in e and not o.startswith("_")]
                hint = difflib.get_close_matches(option, known, n=1)
                fix = (f"did you mean {hint[0]!r}?" if hint
                       else f"options of [{section}]: {', '.join(known)}")
                raise ConfigError(
                    f"{source}: unknown option {option!r} in [{section}]; {fix} "
                    "(every option is listed in config/kalend.conf)")
            type_ = entry["type"]
            try:
                if type_ is bool:
                    radicale_config._convert_to_bool(raw)
                else:
                    type_(raw)
            except Exception as exc:
                raise ConfigError(
                    f"{source}: [{section}] {option} = {raw!r} is not valid ({exc}); "
                    f"expected {_describe_type(type_)}, for example the default "
                    f"{entry['value']!r}") from exc
    storage_type = values.get("storage", {}).get("type")
    if storage_type is not None and storage_type != PLUGIN_TYPE:
        raise ConfigError(
            f"{source}: [storage] type = {storage_type!r}: kalend keeps its data in SQL; "
            f"remove the line or set it to {PLUGIN_TYPE!r} (set [storage] url for "
            "PostgreSQL)")


def load(path: str | None = None) -> radicale_config.Configuration:
    """Load kalend's configuration from ``path`` (or the defaults).

    Relative paths in the file are taken relative to the file (as Radicale
    does); the default data folder is relative to the working directory.
    """
    config_schema = schema()
    configuration = radicale_config.Configuration(config_schema)
    values: dict[str, dict[str, str]] = {}
    if path:
        values = _read_file(path)
        source = f"config file {path!r}"
        validate(values, source, config_schema)
        base = os.path.dirname(os.path.abspath(path))
        for section, option in (("storage", "data_folder"), ("auth", "htpasswd_filename")):
            value = values.get(section, {}).get(option)
            if value and not os.path.isabs(os.path.expanduser(value)):
                values[section][option] = os.path.join(base, value)
        try:
            configuration.update(values, source)
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
    derived: dict[str, dict[str, str]] = {}
    if "htpasswd_filename" not in values.get("auth", {}):
        folder = os.path.abspath(configuration.get("storage", "data_folder"))
        derived.setdefault("auth", {})["htpasswd_filename"] = os.path.join(folder, "htpasswd")
    if derived:
        try:
            configuration.update(derived, "kalend defaults")
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
    return configuration


def ignored_options(path: str | None) -> list[str]:
    """Radicale storage options in the file that kalend does not use."""
    if not path:
        return []
    values = _read_file(path)
    return [o for o in values.get("storage", {}) if o in IGNORED_STORAGE_OPTIONS]


def render_defaults() -> str:
    """Every section and option with its default and help, as an INI file
    whose lines are all commented out (so it runs as it is)."""
    lines = ["# kalend configuration: every option with its default.",
             "# Radicale's INI format and sections; kalend's own keys are marked (kalend).",
             "# Uncomment and change what you need; unknown keys stop start-up.", ""]
    config_schema = schema()
    kalend_keys = {("storage", o) for o in STORAGE_OPTIONS}
    kalend_keys |= {(s, o) for s, opts in _KALEND_DEFAULTS.items() for o in opts}
    kalend_keys |= {(s, o) for s, opts in IMIP_SECTIONS.items() for o in opts}
    kalend_keys |= {("limits", o) for o in LIMIT_OPTIONS}
    kalend_keys |= {("server", o) for o in SERVER_OPTIONS}
    section_seen = None
    for section, option, entry in iter_options(config_schema):
        if section != section_seen:
            if section_seen is not None:
                lines.append("")
            lines.append(f"[{section}]")
            section_seen = section
        help_text = " ".join(str(entry.get("help", "")).split())
        marker = " (kalend)" if (section, option) in kalend_keys else ""
        if section == "storage" and option in IGNORED_STORAGE_OPTIONS:
            marker = " (Radicale file storage only; ignored by kalend)"
        lines.append(f"# {help_text}{marker}")
        value = str(entry["value"]).replace("\n", " ")
        lines.append(f"#{option} = {value}")
    return "\n".join(lines) + "\n"
