"""``python -m bench.front_probe``: what each candidate HTTP front does with
the clients of issue 15, kalend's application behind every one of them.

For each front of ``bench/fronts.py`` it starts kalend on SQLite
(``[server] max_connections = 8`` request threads, ``timeout = 30``), then:

* the honest PROPFIND alone, and beside 12 connections that sent half a
  header, and beside 12 PUTs that announced 100 bytes and sent 2 (how long
  it waits, at most 40 s);
* a burst of 64 new connections, each a PUT: how many were answered, how
  many reset or failed;
* a PUT with a chunked body: its status, and whether it was stored;
* ten clients keeping their connections (8 writers of 25 PUTs each, 2
  syncing): how many requests were lost.

It asserts nothing and writes ``bench/results/<date>-fronts.md``. The
throughput and latency of the fronts come from ``python -m bench --front``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import fronts, servers

PASSWORD = "probe-pw"
AUTH = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend probe//EN\r\nBEGIN:VEVENT\r\n"
         "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T090000Z\r\n"
         "DTEND:20260302T100000Z\r\nSUMMARY:Probe\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
MKCALENDAR = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"/>')
WAIT = 40.0


class Probe:
    """One front under test: a kalend server on SQLite behind it."""

    def __init__(self, front: str, root: Path) -> None:
        self.front = front
        self.root = root
        self.port = servers.free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "kalend.conf"
        config.write_text(f"[server]\nmax_connections = 8\ntimeout = 30\n"
                          f"[storage]\ndata_folder = {self.root / 'data'}\n"
                          "[logging]\nlevel = warning\n")
        kalend = Path(sys.executable).with_name("kalend")
        subprocess.run([str(kalend), "user", "add", "alice", "--password", PASSWORD,
                        "--config", str(config)], check=True, capture_output=True)
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(servers.BENCH_DIR / "fronts.py"), self.front,
                 "--config", str(config), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.request("OPTIONS", "/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        status, _ = self.request("MKCALENDAR", "/alice/cal/", MKCALENDAR.encode())
        if status != 201:
            raise RuntimeError(f"{self.front}: MKCALENDAR answered {status}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def connection(self, timeout: float = WAIT) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                connection: http.client.HTTPConnection | None = None) -> tuple[int, bytes]:
        own = connection is None
        connection = connection or self.connection()
        try:
            connection.request(method, path, body=body,
                               headers={"Authorization": AUTH, "Depth": "0",
                                        "Content-Type": "text/calendar", **(headers or {})})
            answer = connection.getresponse()
            return answer.status, answer.read()
        finally:
            if own:
                connection.close()

    def timed_propfind(self) -> str:
        started = time.perf_counter()
        try:
            status, _ = self.request("PROPFIND", "/alice/cal/")
        except OSError as error:
            return f"{type(error).__name__} after {time.perf_counter() - started:.1f} s"
        return f"{status} in {(time.perf_counter() - started) * 1000:.0f} ms"

    def raw(self, head: bytes) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=WAIT)
        sock.sendall(head)
        return sock


def alone(probe: Probe) -> str:
    connection = probe.connection()
    samples = []
    try:
        for _ in range(30):
            started = time.perf_counter()
            probe.request("PROPFIND", "/alice/cal/", connection=connection)
            samples.append(time.perf_counter() - started)
    finally:
        connection.close()
    return f"{statistics.median(samples[5:]) * 1000:.1f} ms"


def beside(probe: Probe, head: bytes) -> str:
    hogs = [probe.raw(head) for _ in range(12)]
    time.sleep(1)           # the server has seen them all
    try:
        return probe.timed_propfind()
    finally:
        for hog in hogs:
            hog.close()


def burst(probe: Probe) -> str:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def put(number: int) -> None:
        try:
            status, _ = probe.request("PUT", f"/alice/cal/burst-{number}.ics",
                                      EVENT.format(uid=f"burst-{number}").encode())
            outcome = str(status)
        except OSError as error:
            outcome = type(error).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=put, args=(n,)) for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return ", ".join(f"{count}× {outcome}" for outcome, count in outcomes.most_common())


def chunked(probe: Probe) -> str:
    body = EVENT.format(uid="chunked").encode()
    framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with probe.raw(b"PUT /alice/cal/chunked.ics HTTP/1.1\r\nHost: x\r\nAuthorization: "
                   + AUTH.encode() + b"\r\nContent-Type: text/calendar\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + framed) as sock:
        status = sock.makefile("rb").readline().decode("latin-1").split(" ")[1:2]
    stored, text = probe.request("GET", "/alice/cal/chunked.ics")
    kept = stored == 200 and b"UID:chunked" in text
    return f"{status[0] if status else 'none'}, {'stored' if kept else 'not stored'}"


def team(probe: Probe) -> str:
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def record(outcome: str) -> None:
        with lock:
            outcomes[outcome] += 1

    def keep_asking(ask, expected: int) -> None:
        """25 requests on one kept connection; a lost one opens another."""
        connection = probe.connection()
        for step in range(25):
            try:
                status, _ = ask(step, connection)
                record("ok" if status == expected else str(status))
            except (OSError, http.client.HTTPException):
                record("lost")
                connection.close()
                connection = probe.connection()
        connection.close()

    def writer(number: int) -> None:
        keep_asking(lambda step, connection: probe.request(
            "PUT", f"/alice/cal/team-{number}-{step}.ics",
            EVENT.format(uid=f"team-{number}-{step}").encode(), connection=connection), 201)

    def syncer() -> None:
        keep_asking(lambda step, connection: probe.request(
            "PROPFIND", "/alice/cal/", headers={"Depth": "1"}, connection=connection), 207)

    threads = ([threading.Thread(target=writer, args=(n,)) for n in range(8)]
               + [threading.Thread(target=syncer) for _ in range(2)])
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    lost = sum(count for outcome, count in outcomes.items() if outcome != "ok")
    return f"{lost} of 250"


COLUMNS = [("PROPFIND alone", alone),
           ("… beside 12 half headers", lambda p: beside(p, b"GET / HTTP/1.1\r\nHost: x\r\n")),
           ("… beside 12 slow bodies", lambda p: beside(
               p, b"PUT /alice/cal/slow.ics HTTP/1.1\r\nHost: x\r\nAuthorization: "
               + AUTH.encode() + b"\r\nContent-Length: 100\r\n\r\nBE")),
           ("burst of 64 PUTs", burst),
           ("chunked PUT", chunked),
           ("10 kept clients: requests lost", team)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.front_probe")
    parser.add_argument("--fronts", default=",".join(fronts.FRONTS))
    args = parser.parse_args(argv)
    rows = []
    work = servers.WORK_DIR / f"fronts-{time.strftime('%Y%m%d-%H%M%S')}"
    for front in args.fronts.split(","):
        probe = Probe(front, work / front)
        print(f"{front}: starting", flush=True)
        try:
            probe.start()
            cells = []
            for title, measure in COLUMNS:
                # Let the previous column's hogs be noticed as gone.
                time.sleep(1)
                cells.append(measure(probe))
                print(f"{front}: {title}: {cells[-1]}", flush=True)
        except Exception as error:
            cells = [f"failed: {error}"] + [""] * (len(COLUMNS) - 1)
        finally:
            probe.stop()
        rows.append((front, cells))
    lines = ["| front | " + " | ".join(title for title, _ in COLUMNS) + " |",
             "|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {front} | " + " | ".join(cells) + " |" for front, cells in rows]
    table = "\n".join(lines)
    print(table)
    out = servers.BENCH_DIR / "results" / f"{dt.date.today().isoformat()}-fronts.md"
    out.write_text("# HTTP fronts for kalend (python -m bench.front_probe)\n\n" + table + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
