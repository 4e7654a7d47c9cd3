"""``kalend serve`` as an operator runs it: worker processes on PostgreSQL,
the background jobs once, TLS with Radicale's options.

Each test starts the real command in its own process and talks to it over
loopback; the certificates come from a throw-away CA (trustme).
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import trustme
from kalend_testing import PASSWORD, KalendServer, reset_database, write_config

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
    "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nSUMMARY:Processes\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _serve(config: str, database_url: str, folder: str) -> tuple[KalendServer, list[str]]:
    """``kalend serve`` started with its output kept, for the lines it logs."""
    instance = KalendServer(config, database_url, folder)
    process = subprocess.Popen(
        [sys.executable, "-m", "kalend", "serve", "--config", config,
         "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    instance._process = process
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "listening on " in line:
                instance.url = line.split("listening on ", 1)[1].split()[0]
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120):
        instance.stop()
        raise RuntimeError("kalend serve did not start:\n" + "".join(output))
    return instance, output


@pytest.fixture
def postgres_two_workers(tmp_path, request) -> Iterator[tuple[KalendServer, list[str]]]:
    url = request.getfixturevalue("postgres_url")
    reset_database(url)
    folder = str(tmp_path / "data")
    config = write_config(folder, url, server={"workers": "2", "max_connections": "2"})
    instance, output = _serve(config, url, folder)
    try:
        yield instance, output
    finally:
        instance.stop()


def test_two_worker_processes_share_the_requests_and_the_jobs_run_once(postgres_two_workers):
    server, output = postgres_two_workers
    server.add_user("alice")
    assert server.request("MKCOL", "/alice/work/", user="alice", body=(
        '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype>"
        "</D:prop></D:set></D:mkcol>"), headers={"Content-Type": "application/xml"}
    ).status_code == 201
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def put(number: int) -> None:
        answer = server.request("PUT", f"/alice/work/p{number}.ics", user="alice",
                                body=EVENT.format(uid=f"p{number}"),
                                headers={"Content-Type": "text/calendar"})
        with lock:
            statuses[answer.status_code] += 1

    threads = [threading.Thread(target=put, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert server._process is not None
    assert len(_children(server._process.pid)) >= 2
    assert statuses == Counter({201: 40})
    assert server.rows("SELECT COUNT(*) FROM item WHERE href LIKE 'p%'") == [(40,)]
    # The background jobs run in the supervising process only: the iMIP
    # worker's start-up warning (no [smtp] host here) is logged once.
    assert sum("[smtp] host is not set" in line for line in output) == 1


# -- TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def _tls_server(tmp_path, authority: trustme.CA, client_ca: bool) -> KalendServer:
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    certificate.cert_chain_pems[0].write_to_path(str(cert_path))
    certificate.private_key_pem.write_to_path(str(key_path))
    server_options = {"ssl": "True", "certificate": str(cert_path), "key": str(key_path)}
    if client_ca:
        ca_path = tmp_path / "clients-ca.pem"
        authority.cert_pem.write_to_path(str(ca_path))
        server_options["certificate_authority"] = str(ca_path)
    folder = str(tmp_path / "data")
    url = "sqlite:///" + str(tmp_path / "kalend.sqlite3")
    instance, _ = _serve(write_config(folder, url, server=server_options), url, folder)
    return instance


def test_ssl_true_serves_https_with_the_configured_certificate(tmp_path, authority):
    """``[server] ssl = True`` was silently ignored: the server stayed on
    plain HTTP while the operator believed it had TLS."""
    server = _tls_server(tmp_path, authority, client_ca=False)
    try:
        server.add_user("alice")
        bundle = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(bundle))
        answer = requests.request("PROPFIND", server.url + "alice/", auth=("alice", PASSWORD),
                                  headers={"Depth": "0"}, verify=str(bundle), timeout=60)
        address = urllib.parse.urlsplit(server.url)
        host, port = address.hostname or "127.0.0.1", address.port or 443
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://{host}:{port}/", timeout=10)
        tls12 = ssl.create_default_context(cafile=str(bundle))
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with tls12.wrap_socket(socket.create_connection((host, port), timeout=30),
                               server_hostname="127.0.0.1") as sock:
            version = sock.version()
    finally:
        server.stop()

    assert server.url.startswith("https://")
    assert answer.status_code == 207
    assert version == "TLSv1.2"         # older Apple and Android clients


def test_certificate_authority_asks_clients_for_a_certificate(tmp_path, authority):
    server = _tls_server(tmp_path, authority, client_ca=True)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    client = authority.issue_cert("alice@example.org")
    client_pem = tmp_path / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_pem))
    try:
        server.add_user("alice")
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(server.url, verify=str(bundle), timeout=30)
        shown = requests.request("PROPFIND", server.url + "alice/", auth=("alice", PASSWORD),
                                 headers={"Depth": "0"}, verify=str(bundle),
                                 cert=str(client_pem), timeout=60)
    finally:
        server.stop()

    assert shown.status_code == 207


@pytest.mark.parametrize("options, named", [
    ({"ssl": "True", "certificate": "/nonexistent/cert.pem"}, "certificate"),
    ({"protocol": "ALL -SSLv3"}, "protocol"),
    ({"ciphersuite": "HIGH"}, "ciphersuite"),
    ({"type": "hypercorn"}, "type"),
    ({"workers": "0"}, "workers"),
    ({"timeout": "0"}, "timeout"),
    ({"hosts": "127.0.0.1:5232, [::1]:5232"}, "hosts"),
])
def test_server_options_kalend_cannot_honour_stop_start_up(tmp_path, options, named):
    folder = str(tmp_path / "data")
    config = write_config(folder, "sqlite:///" + str(tmp_path / "k.sqlite3"), server=options)
    arguments = ["serve", "--config", config]
    if "hosts" not in options:
        arguments += ["--host", "127.0.0.1", "--port", "0"]
    result = subprocess.run([sys.executable, "-m", "kalend", *arguments],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"[server] {named}" in result.stderr
    assert "Traceback" not in result.stderr
