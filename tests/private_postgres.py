"""A PostgreSQL cluster of the test's own, to stop and start under kalend.

The shared test server must keep running for every other test, so a test
that takes the database away starts a cluster of its own: ``initdb`` in a
temporary folder, a free port on 127.0.0.1, trust authentication. As root
(CI), the cluster runs as the ``postgres`` user, since PostgreSQL refuses to
run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def _binaries() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL's pg_ctl is not installed (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    """``start()``, ``stop()``, ``start()`` again: the same data each time.

    The folder is a new one in the system's temporary folder, not pytest's:
    that one is readable by root only, and the postgres user must reach it."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="kalend-test-pg-")
        self.data = os.path.join(self.folder, "pgdata")
        self.port = _free_port()
        self.bin = _binaries()
        self._as_postgres = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url_of(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check,
                              timeout=120)

    def init(self) -> PrivateCluster:
        os.makedirs(self.data, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.data, "postgres")
        self._run(os.path.join(self.bin, "initdb"), "-D", self.data, "-A", "trust",
                  "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.data} -c fsync=off")
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-o", options,
                  "-l", os.path.join(self.data, "log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and shuts down; ``immediate`` is a crash."""
        self._run(os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                  "-t", "60", "stop", check=False)

    def create_database(self, name: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            try:
                engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT",
                                       poolclass=NullPool)
                with engine.connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                engine.dispose()
                return self.url_of(name)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
