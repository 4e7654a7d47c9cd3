"""The [smtp] and [imip] configuration sections (RFC 6047 transport).

Defined once here, with defaults and help; ``kalend.server.config`` merges
them into the schema it validates and prints (``kalend config``), and
``config/kalend.conf`` lists them. ``smtp_settings`` / ``imip_settings``
turn a loaded configuration into the frozen values the worker and the
inbound path use, and say which option to fix when a value cannot work.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from radicale import config as radicale_config

from kalend.scheduling.imip_compose import ImipIdentity
from kalend.storage_plugin.settings import positive_seconds

SECURITY_MODES = ("none", "starttls", "tls")


def _security(value: str) -> str:
    value = value.strip().lower()
    if value not in SECURITY_MODES:
        raise ValueError(f"must be one of {', '.join(SECURITY_MODES)}")
    return value


SMTP_OPTIONS: OrderedDict[str, dict[str, Any]] = OrderedDict([
    ("host", {
        "value": "",
        "help": "SMTP server that sends invitations and replies to people on other "
                "servers; empty keeps them queued in the outbox until it is set",
        "type": str}),
    ("port", {
        "value": "587",
        "help": "SMTP port (587 submission with starttls, 465 with tls, 25 relay)",
        "type": radicale_config.positive_int}),
    ("security", {
        "value": "starttls",
        "help": "none, starttls or tls (implicit TLS); none only for a relay on "
                "the same host",
        "type": _security}),
    ("username", {
        "value": "",
        "help": "login for the SMTP server; empty sends without authentication",
        "type": str}),
    ("password_file", {
        "value": "",
        "help": "file holding the SMTP password (first line); alternatively the "
                "environment variable KALEND_SMTP_PASSWORD",
        "type": str}),
    ("timeout", {
        "value": "30",
        "help": "seconds to wait for the SMTP server at each step before the "
                "attempt counts as a temporary failure",
        "type": positive_seconds}),
])

IMIP_OPTIONS: OrderedDict[str, dict[str, Any]] = OrderedDict([
    ("sender", {
        "value": "",
        "help": "address invitations are sent from (e.g. calendar@example.org), "
                "named after the organizer; empty sends from the organizer's own "
                "address, which the SMTP server must allow",
        "type": str}),
    ("reply_domain", {
        "value": "",
        "help": "domain of the reply addresses (sender's local part + a token, "
                "e.g. calendar+3f…@example.org) that tie a reply to its event and "
                "attendee; empty lets replies go to the organizer's address",
        "type": str}),
    ("server_name", {
        "value": "",
        "help": "host name on the right of Message-IDs; empty uses this machine's "
                "name",
        "type": str}),
    ("max_attempts", {
        "value": "10",
        "help": "sending attempts for a message on temporary SMTP failures before "
                "it is given up (SCHEDULE-STATUS 5.1)",
        "type": radicale_config.positive_int}),
    ("retry_delay", {
        "value": "60",
        "help": "seconds before the first retry; each further retry waits about "
                "twice as long (with jitter), at most max_retry_delay",
        "type": positive_seconds}),
    ("max_retry_delay", {
        "value": "21600",
        "help": "longest wait between two attempts, in seconds",
        "type": positive_seconds}),
    ("poll_interval", {
        "value": "5",
        "help": "seconds between two looks at the outbox by the worker",
        "type": positive_seconds}),
    ("max_message_size", {
        "value": "1048576",
        "help": "largest incoming iMIP message in bytes; bigger ones are refused",
        "type": radicale_config.positive_int}),
    ("message_id_retention_days", {
        "value": "30",
        "help": "days the Message-ID of an applied incoming iMIP message is "
                "remembered, so the same message delivered again (an MTA retrying, "
                "a replay) changes nothing; the maintenance job forgets older ones",
        "type": radicale_config.positive_int}),
])

SECTIONS: dict[str, OrderedDict[str, dict[str, Any]]] = {
    "smtp": SMTP_OPTIONS, "imip": IMIP_OPTIONS}

#: The environment variable that may hold the SMTP password.
PASSWORD_ENVIRONMENT = "KALEND_SMTP_PASSWORD"


class ImipConfigError(ValueError):
    """A value that loads but cannot work; the message names the option."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str
    password: str | None
    timeout: float

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class ImipSettings:
    identity: ImipIdentity
    max_attempts: int
    retry_delay: float
    max_retry_delay: float
    poll_interval: float
    max_message_size: int


def smtp_settings(configuration) -> SmtpSettings:
    get = configuration.get
    return SmtpSettings(
        host=get("smtp", "host").strip(), port=get("smtp", "port"),
        security=get("smtp", "security"), username=get("smtp", "username").strip(),
        password=_password(get("smtp", "password_file").strip()),
        timeout=get("smtp", "timeout"))


def _password(path: str) -> str | None:
    if path:
        try:
            with open(os.path.expanduser(path), encoding="utf-8") as handle:
                return handle.readline().rstrip("\r\n")
        except OSError as exc:
            raise ImipConfigError(
                f"[smtp] password_file = {path!r} cannot be read ({exc.strerror}); "
                f"fix the path or set {PASSWORD_ENVIRONMENT} instead") from exc
    return os.environ.get(PASSWORD_ENVIRONMENT) or None


def imip_settings(configuration) -> ImipSettings:
    get = configuration.get
    sender = get("imip", "sender").strip() or None
    if sender is not None and "@" not in sender:
        raise ImipConfigError(f"[imip] sender = {sender!r} is not an e-mail address; "
                              "write it as calendar@example.org or leave it empty")
    reply_domain = get("imip", "reply_domain").strip().lstrip("@") or None
    server_name = get("imip", "server_name").strip() or _host_name()
    return ImipSettings(
        identity=ImipIdentity(sender=sender, reply_to_domain=reply_domain,
                              server_name=server_name),
        max_attempts=max(1, get("imip", "max_attempts")),
        retry_delay=get("imip", "retry_delay"),
        max_retry_delay=get("imip", "max_retry_delay"),
        poll_interval=get("imip", "poll_interval"),
        max_message_size=get("imip", "max_message_size"))


def _host_name() -> str:
    import socket
    return socket.getfqdn() or "localhost"
