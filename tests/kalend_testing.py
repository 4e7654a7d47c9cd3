"""Test support: real databases, real kalend servers on loopback, HTTP helpers.

* ``database_urls()`` — SQLite always; PostgreSQL from KALEND_TEST_DATABASE_URL
  (default: the server at 127.0.0.1:5432). PostgreSQL is never skipped: when
  it is unreachable the tests that need it fail with the reason. Set
  KALEND_TEST_DATABASES=sqlite to leave it out deliberately (not in CI).
* ``KalendServer`` — a kalend HTTP server on an ephemeral port, in this
  process (a thread) or as a separate ``kalend serve`` process.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import requests
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from kalend.server import config as kalend_config
from kalend.server import users
from kalend.storage_plugin import migrate
from kalend.storage_plugin.engine import make_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "secret-pw"

#: Tables emptied between tests sharing one PostgreSQL database.
_TABLES = ("imip_seen_message", "imip_token", "outbox", "group_member", "occurrence", "change",
           "item", "calendar_user", "collection")


def wanted_databases() -> list[str]:
    chosen = os.environ.get("KALEND_TEST_DATABASES", "sqlite,postgresql")
    kinds = [k.strip() for k in chosen.split(",") if k.strip()]
    if os.environ.get("CI", "").lower() == "true" and "postgresql" not in kinds:
        raise RuntimeError("CI=true: the PostgreSQL tests may not be left out")
    return kinds


class PostgresDatabase:
    """A database of its own on the test PostgreSQL server, dropped at the end."""

    def __init__(self, admin_url: str = "") -> None:
        self.admin_url = admin_url or os.environ.get("KALEND_TEST_DATABASE_URL", DEFAULT_PG_URL)
        self.name = "kalend_test_" + secrets.token_hex(6)
        admin = make_url(self.admin_url)
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)
        self._admin: Engine | None = None

    def create(self) -> str:
        try:
            self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT",
                                        poolclass=NullPool)
            with self._admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:
            raise RuntimeError(
                f"PostgreSQL for the tests is unreachable at {self.admin_url} ({exc}); "
                "start it (pg_ctlcluster 15 main start) or set KALEND_TEST_DATABASE_URL"
            ) from exc
        return self.url

    def drop(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


def reset_database(url: str) -> None:
    """Empty kalend's tables (schema stays), keeping the root collection."""
    engine = make_engine(url)
    try:
        migrate.ensure_current(engine)
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(
                    "TRUNCATE " + ", ".join(f'"{t}"' for t in _TABLES) + " RESTART IDENTITY CASCADE"))
            else:
                for table in _TABLES:
                    connection.execute(text(f'DELETE FROM "{table}"'))
            connection.execute(text(
                "INSERT INTO collection (path, parent_path, owner, tag, props, sync_seq, "
                "sync_floor, modified) VALUES ('', NULL, '', '', '{}', 0, 0, 0)"))
    finally:
        engine.dispose()


def write_config(folder: str, database_url: str, extra: str = "",
                 storage: Mapping[str, str] | None = None,
                 server: Mapping[str, str] | None = None) -> str:
    """A kalend configuration file for a test server; returns its path.

    ``storage`` and ``server`` add (or, for [server], replace) options of
    those sections; ``extra`` appends further sections.
    """
    os.makedirs(folder, exist_ok=True)
    server_options = {"hosts": "127.0.0.1:5232", "max_content_length": "2000000",
                      **(server or {})}
    server_lines = "".join(f"{key} = {value}\n" for key, value in server_options.items())
    storage_lines = "".join(f"{key} = {value}\n" for key, value in (storage or {}).items())
    path = os.path.join(folder, "kalend.conf")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            f"[server]\n{server_lines}\n"
            f"[storage]\nurl = {database_url}\ndata_folder = {folder}\n{storage_lines}\n"
            "[logging]\nlevel = warning\n" + textwrap.dedent(extra))
    return path


@dataclass
class KalendServer:
    """A running kalend server and the means to look at its database."""

    config_path: str
    database_url: str
    data_folder: str
    url: str = ""
    engine: Engine = field(init=False)
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None
    _process: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.engine = make_engine(self.database_url)

    # -- lifecycle ---------------------------------------------------------

    def start_in_thread(self) -> KalendServer:
        """kalend's front and granian's HTTP parser on a thread of this
        process (``serve_in_process``): what ``kalend serve`` runs by default
        (one worker), without starting a process for every test."""
        from kalend.server.http import serve_in_process

        configuration = kalend_config.load(self.config_path)
        ready = threading.Event()
        urls: list[str] = []

        def on_ready(address: str) -> None:
            urls.append(address)
            ready.set()

        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=serve_in_process, args=(configuration, ("127.0.0.1", 0), self._stop),
            kwargs={"on_ready": on_ready}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not ready.wait(0.05):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("kalend server thread did not start (see the log)")
        self.url = urls[0]
        return self

    def start_process(self, *extra_args: str) -> KalendServer:
        """``kalend serve`` as its own OS process (for multi-process tests)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "kalend", "serve", "--config", self.config_path,
             "--host", "127.0.0.1", "--port", "0", *extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self._process.stdout is not None
        deadline = time.monotonic() + 60
        output = []
        while time.monotonic() < deadline:
            line = self._process.stdout.readline()
            if not line:
                break
            output.append(line)
            match = re.search(r"listening on (http://\S+/)", line)
            if match:
                self.url = match.group(1)
                threading.Thread(target=self._process.stdout.read, daemon=True).start()
                return self
        self._process.kill()
        raise RuntimeError("kalend serve did not start:\n" + "".join(output))

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            assert self._thread is not None
            self._thread.join(30)
            self._stop = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(30)
                except subprocess.TimeoutExpired:
                    self._process.kill()
            self._process = None
        self.engine.dispose()

    # -- users and clients ---------------------------------------------------

    def add_user(self, name: str, emails: Iterable[str] = (), password: str = PASSWORD) -> str:
        users.set_addresses(self.engine, name, list(emails) or [f"{name}@example.org"])
        users.set_password(os.path.join(self.data_folder, "htpasswd"), name, password,
                           create=True)
        return name

    def caldav(self, user: str, password: str = PASSWORD):
        import caldav

        return caldav.DAVClient(self.url, username=user, password=password)

    def request(self, method: str, path: str, user: str | None = None,
                body: str | bytes | None = None,
                headers: Mapping[str, str] | None = None,
                password: str = PASSWORD) -> requests.Response:
        auth = (user, password) if user else None
        data = body.encode("utf-8") if isinstance(body, str) else body
        return requests.request(method, self.url.rstrip("/") + path, data=data,
                                headers=dict(headers or {}), auth=auth, timeout=120)

    # -- looking at rows -------------------------------------------------------

    def rows(self, sql: str, **params) -> list[tuple]:
        with self.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql), params)]

    def count(self, table: str) -> int:
        return self.rows(f'SELECT COUNT(*) FROM "{table}"')[0][0]
