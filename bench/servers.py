"""Start, load and stop the servers under test, each a real HTTP process.

Why separate processes on loopback rather than in-process WSGI: a client sees
the server through a socket, and resident memory is only meaningful per
process. Every process started here is registered for killing at exit
(``atexit`` and the runner's ``finally``), so an interrupted run leaves no
server behind; a PostgreSQL database created here is dropped the same way.

Loading: stock Radicale is loaded by writing its collection folder directly,
as its users do for large imports (its HTTP PUT reads the whole collection to
check UID uniqueness); kalend is loaded through its HTTP API, because its
storage is its database and nothing else may write it.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import requests

from bench import workload as wl
from bench.client import ThinClient

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / ".work"
RADICALE_VENV = WORK_DIR / "radicale-venv"
PASSWORD = "bench-password"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

_cleanups: list[Callable[[], None]] = []


def _run_cleanups() -> None:
    while _cleanups:
        try:
            _cleanups.pop()()
        except Exception as exc:
            print(f"bench: cleanup failed: {exc}", file=sys.stderr)


atexit.register(_run_cleanups)


def cleanup_all() -> None:
    """Stop every server and drop every database this process created."""
    _run_cleanups()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_radicale_venv(log: Callable[[str], None]) -> Path:
    """Stock Radicale 3.9 in its own venv, so kalend's patches and plugins
    cannot leak into the baseline. Installed once and reused."""
    radicale = RADICALE_VENV / "bin" / "radicale"
    if radicale.exists():
        return radicale
    log(f"installing stock Radicale 3.9 into {RADICALE_VENV}")
    subprocess.run([sys.executable, "-m", "venv", str(RADICALE_VENV)], check=True,
                   timeout=300)
    subprocess.run([str(RADICALE_VENV / "bin" / "pip"), "install", "-q",
                    "radicale~=3.9"], check=True, timeout=900)
    return radicale


def radicale_version() -> str:
    out = subprocess.run([str(RADICALE_VENV / "bin" / "radicale"), "--version"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip() or out.stderr.strip().splitlines()[-1]


class Server:
    """A server process plus how to reach and load it."""

    name = "server"
    label = "server"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.user = wl.USER
        self.password = PASSWORD
        self._client: ThinClient | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def calendar_url(self) -> str:
        return f"{self.base}/{wl.USER}/{wl.CALENDAR}/"

    def auth(self, user: str | None = None) -> tuple:
        return (user or self.user, self.password)

    def session(self, user: str | None = None) -> requests.Session:
        s = requests.Session()
        s.auth = self.auth(user)
        return s

    def thin_client(self) -> ThinClient:
        """The main user's client for timed requests, kept for the whole run
        as a calendar client keeps its connections."""
        if self._client is None or self._client.port != self.port:
            self._client = ThinClient("127.0.0.1", self.port, self.user, self.password)
        return self._client

    # -- process --------------------------------------------------------------

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        with open(self.root / "server.log", "ab") as log:   # the child keeps its copy
            self.proc = subprocess.Popen(self.command(), stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.root,
                                         start_new_session=True)
        _cleanups.append(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; "
                                   f"see {self.root / 'server.log'}")
            try:
                requests.request("OPTIONS", self.base + "/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not answer within {timeout} s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def rss_bytes(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None
        process = psutil.Process(self.proc.pid)
        return process.memory_info().rss + sum(
            c.memory_info().rss for c in process.children(recursive=True))

    # -- data -------------------------------------------------------------------

    def prepare(self, workload: wl.Workload) -> None:
        """Before start: users, config, files."""

    def load(self, workload: wl.Workload) -> float:
        """After start: make the workload visible; returns seconds spent."""
        return 0.0

    def write_events(self, events: list[wl.Event], threads: int = 4,
                     timeout: float = 600, user: str | None = None) -> list[int]:
        """PUT each event to its href in ``user``'s calendar (default: the
        measured one); returns the HTTP statuses."""
        base = f"{self.base}/{user or wl.USER}/{wl.CALENDAR}/"

        def put(event: wl.Event) -> int:
            with self.session(user) as s:
                return s.put(base + event.href, data=event.text.encode(),
                             headers={"Content-Type": "text/calendar; charset=utf-8"},
                             timeout=timeout).status_code
        if threads <= 1:
            return [put(e) for e in events]
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            return list(pool.map(put, events))

    def change_events(self, events: list[wl.Event]) -> list[int]:
        """Apply modified versions of existing events (sync rows)."""
        return self.write_events(events)

    def describe(self) -> dict[str, str]:
        return {"label": self.label, "root": str(self.root)}


class KalendServer(Server):
    """kalend (this checkout's venv) on SQLite or on a fresh PostgreSQL database."""

    def __init__(self, root: Path, backend: str, load_mode: str = "collection",
                 front: str = "granian") -> None:
        super().__init__(root)
        self.backend = backend
        #: The HTTP front (bench/fronts.py); "granian" is ``kalend serve``.
        self.front = front
        self.name = f"kalend-{backend}"
        self.label = f"kalend {'SQLite' if backend == 'sqlite' else 'PostgreSQL'}"
        self.load_mode = load_mode
        self.database: str | None = None
        self.database_name = "sqlite"
        self.kalend = Path(sys.executable).with_name("kalend")
        self.config = root / "kalend.conf"

    @property
    def db_url(self) -> str:
        if self.database is None:
            return ""
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}"

    @property
    def dsn(self) -> str | None:
        return (None if self.database is None else
                f"postgresql://postgres@127.0.0.1:5432/{self.database}")

    def _create_database(self) -> None:
        import psycopg
        self.database = f"kalend_bench_{os.getpid()}_{int(time.time())}"
        self.database_name = self.database      # kept after the drop, for the report
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        _cleanups.append(self._drop_database)

    def _drop_database(self) -> None:
        import psycopg
        if self.database is None:
            return
        self.stop()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        self.database = None

    def _kalend(self, *args: str) -> None:
        subprocess.run([str(self.kalend), *args, "--config", str(self.config)],
                       check=True, capture_output=True, timeout=7200, cwd=self.root)

    def prepare(self, workload: wl.Workload) -> None:
        if self.backend == "postgresql":
            self._create_database()
        self.config.write_text(
            "[server]\nmax_connections = 32\nmax_content_length = 2000000000\n"
            "timeout = 900\n"
            # A bcrypt check costs ~0.2 s; keep the login cached for the run.
            "[auth]\ncache_successful_logins_expiry = 86400\n"
            f"[storage]\nurl = {self.db_url}\ndata_folder = {self.root / 'data'}\n"
            "[logging]\nlevel = warning\n")
        self._kalend("db", "upgrade")
        for user in workload.principals():
            self._kalend("user", "add", user, "--password", PASSWORD,
                         "--email", f"{user}@{wl.DOMAIN}")

    def command(self) -> list[str]:
        if self.front != "granian":
            return [sys.executable, str(BENCH_DIR / "fronts.py"), self.front, "--config",
                    str(self.config), "--host", "127.0.0.1", "--port", str(self.port)]
        return [str(self.kalend), "serve", "--config", str(self.config),
                "--host", "127.0.0.1", "--port", str(self.port)]

    def load(self, workload: wl.Workload) -> float:
        started = time.perf_counter()
        targets = [(wl.USER, workload.events)] + list(workload.busy.items())
        for user, events in targets:
            url = f"{self.base}/{user}/{wl.CALENDAR}/"
            if self.load_mode == "import":
                # kalend import: the bulk path for existing calendars.
                source = self.root / f"import-{user}.ics"
                source.write_text("".join(e.text for e in events), encoding="utf-8")
                self._kalend("import", f"{user}/{wl.CALENDAR}", str(source))
                source.unlink()
            elif self.load_mode == "collection":
                # One whole-collection PUT (RFC 4918 PUT on the collection URL,
                # which Radicale treats as an import): one transaction.
                r = requests.put(url, data=wl.as_collection(events).encode(),
                                 auth=self.auth(user), timeout=3600,
                                 headers={"Content-Type": "text/calendar; charset=utf-8"})
                if r.status_code not in (201, 204):
                    raise RuntimeError(f"{self.label}: collection PUT for {user} "
                                       f"answered {r.status_code}: {r.text[:300]}")
            else:
                r = requests.request(
                    "MKCOL", url, auth=self.auth(user), timeout=60,
                    data=_MKCALENDAR_BODY, headers={"Content-Type": "application/xml"})
                if r.status_code != 201:
                    raise RuntimeError(f"{self.label}: MKCOL {url} -> {r.status_code}")
                statuses = self.write_events(events, user=user)
                bad = [s for s in statuses if s not in (201, 204)]
                if bad:
                    raise RuntimeError(f"{self.label}: {len(bad)} PUTs failed, e.g. {bad[0]}")
        return time.perf_counter() - started

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "database": self.database_name,
                "load_mode": self.load_mode, "front": self.front}

    def index_storage(self) -> dict[str, float]:
        """What the occurrence index costs on disk: its rows and bytes (the
        table and its indexes), in all and per recurring series (an item
        with more than one row)."""
        series_sql = ("SELECT COUNT(*), COALESCE(SUM(n), 0) FROM (SELECT item_id, COUNT(*) AS n "
                      "FROM occurrence GROUP BY item_id HAVING COUNT(*) > 1) AS s")
        if self.backend == "sqlite":
            import sqlite3
            with sqlite3.connect(self.root / "data" / "kalend.sqlite3") as conn:
                rows = conn.execute("SELECT COUNT(*) FROM occurrence").fetchone()[0]
                series, series_rows = conn.execute(series_sql).fetchone()
                try:
                    size = conn.execute(
                        "SELECT SUM(pgsize) FROM dbstat WHERE name = 'occurrence' "
                        "OR name LIKE 'ix_occurrence%'").fetchone()[0] or 0
                except sqlite3.OperationalError:     # SQLite built without dbstat
                    size = 0
        else:
            import psycopg
            assert self.dsn is not None
            with psycopg.connect(self.dsn, connect_timeout=10) as conn:
                rows = conn.execute("SELECT COUNT(*) FROM occurrence").fetchone()[0]
                series, series_rows = conn.execute(series_sql).fetchone()
                size = conn.execute(
                    "SELECT pg_total_relation_size('occurrence')").fetchone()[0]
        # int(): PostgreSQL's SUM is a numeric, which JSON cannot hold.
        rows, series, series_rows, size = int(rows), int(series), int(series_rows), int(size)
        return {"occurrence_rows": rows, "series": series, "series_rows": series_rows,
                "rows_per_series": series_rows / series if series else 0.0,
                "bytes": size, "bytes_per_row": size / rows if rows else 0.0}


_MKCALENDAR_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
    '<D:resourcetype><D:collection/><C:calendar/></D:resourcetype>'
    '<D:displayname>bench</D:displayname></D:prop></D:set></D:mkcol>')


class RadicaleServer(Server):
    """Stock Radicale 3.9 from its own venv, file-system storage."""

    name = "radicale"
    label = "Radicale 3.9"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.collections = root / "collections"
        self.config = root / "radicale.conf"
        self.change_via_files_above = 10

    def _calendar_dir(self, user: str) -> Path:
        return self.collections / "collection-root" / user / wl.CALENDAR

    def _write_files(self, user: str, events: list[wl.Event]) -> None:
        folder = self._calendar_dir(user)
        folder.mkdir(parents=True, exist_ok=True)
        props = folder / ".Radicale.props"
        if not props.exists():
            props.write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "bench"}))
        for event in events:
            temporary = folder / f".{event.href}.tmp"
            # newline="" keeps the CRLF line endings byte-identical.
            with open(temporary, "w", encoding="utf-8", newline="") as out:
                out.write(event.text)
            os.replace(temporary, folder / event.href)

    def prepare(self, workload: wl.Workload) -> None:
        if self.collections.exists():
            shutil.rmtree(self.collections)
        started = time.perf_counter()
        for user, events in [(wl.USER, workload.events)] + list(workload.busy.items()):
            self._write_files(user, events)
        self.file_write_seconds = time.perf_counter() - started
        (self.root / "users").write_text(
            "".join(f"{u}:{PASSWORD}\n" for u in workload.principals()))

    def command(self) -> list[str]:
        self.config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\nmax_connections = 32\n"
            "max_content_length = 2000000000\ntimeout = 900\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {self.root / 'users'}\n"
            "htpasswd_encryption = plain\n"
            "[rights]\ntype = owner_only\n"
            f"[storage]\nfilesystem_folder = {self.collections}\n"
            "[logging]\nlevel = warning\n")
        return [str(RADICALE_VENV / "bin" / "radicale"), "--config", str(self.config)]

    def load(self, workload: wl.Workload) -> float:
        return self.file_write_seconds

    def change_events(self, events: list[wl.Event]) -> list[int]:
        """Many changes are written as files (through HTTP each costs a read of
        the whole collection); Radicale's sync compares item states, so the
        measured sync request sees them exactly like HTTP-made changes."""
        if len(events) <= self.change_via_files_above:
            return self.write_events(events, threads=1)
        self._write_files(wl.USER, events)
        return [204] * len(events)
