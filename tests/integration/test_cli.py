"""The ``kalend`` command, run as an operator runs it: a separate process.

Every failure an operator can cause ends in exit status 2 and one message
naming what is wrong and the fix (no traceback). Commands that touch a
database run on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import bcrypt
import pytest
import requests
from dav_support import fixture_text
from kalend_testing import write_config
from sqlalchemy import inspect, text

import kalend
from kalend.server.cli import build_parser
from kalend.storage_plugin import migrate
from kalend.storage_plugin.engine import make_engine


def kalend_cli(*args: str, cwd: str | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kalend", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, check=False)


def assert_refused(result: subprocess.CompletedProcess, *expected: str) -> None:
    """Exit 2, a ``kalend:`` message containing every expected piece, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "kalend:" in result.stderr, result.stderr
    for piece in expected:
        assert piece in result.stderr, (piece, result.stderr)


def config_file(tmp_path, body: str) -> str:
    path = tmp_path / "kalend.conf"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def htpasswd_lines(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as handle:
        return dict(line.rstrip("\n").split(":", 1) for line in handle if ":" in line)


# -- version and help -----------------------------------------------------------


def test_version_prints_the_package_version():
    result = kalend_cli("--version")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"kalend {kalend.__version__}"


def _command_lines(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
                   ) -> list[tuple[str, ...]]:
    """Every verb and sub-verb the parser knows, as argument tuples."""
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_command_lines(sub, prefix + (name,)))
    return found


COMMANDS = _command_lines(build_parser())


def test_every_documented_verb_is_known():
    # The README's table of commands; new verbs may be added, none may vanish.
    for verb in [("serve",), ("user", "add"), ("user", "list"), ("user", "passwd"),
                 ("db", "upgrade"), ("db", "status"), ("config",), ("import",)]:
        assert verb in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "kalend")
def test_help_on_every_verb_exits_0(command):
    result = kalend_cli(*command, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: kalend" + "".join(" " + c for c in command))


def test_config_prints_every_option():
    result = kalend_cli("config")

    assert result.returncode == 0, result.stderr
    assert "[storage]" in result.stdout and "#url = " in result.stdout


# -- users ----------------------------------------------------------------------


@pytest.fixture
def cli_config(tmp_path, database_url) -> str:
    return write_config(str(tmp_path / "data"), database_url)


def test_user_add_list_and_passwd(cli_config, tmp_path, database_url):
    htpasswd = str(tmp_path / "data" / "htpasswd")

    added = kalend_cli("user", "add", "alice", "--password", "first-pw",
                       "--email", "Alice@Example.org", "--email", "a.smith@example.org",
                       "--config", cli_config)
    kalend_cli("user", "add", "bob", "--password", "bob-pw", "--config", cli_config)
    listed = kalend_cli("user", "list", "--config", cli_config)

    assert added.returncode == 0, added.stderr
    assert "alice" in added.stdout
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "alice alice@example.org a.smith@example.org" in lines
    assert any(line.split()[0] == "bob" for line in lines)
    first_hash = htpasswd_lines(htpasswd)["alice"]
    assert bcrypt.checkpw(b"first-pw", first_hash.encode())

    changed = kalend_cli("user", "passwd", "alice", "--password", "second-pw",
                         "--config", cli_config)

    assert changed.returncode == 0, changed.stderr
    entries = htpasswd_lines(htpasswd)
    assert entries["alice"] != first_hash
    assert bcrypt.checkpw(b"second-pw", entries["alice"].encode())
    assert not bcrypt.checkpw(b"first-pw", entries["alice"].encode())
    assert bcrypt.checkpw(b"bob-pw", entries["bob"].encode())
    # passwd without --email keeps the addresses.
    again = kalend_cli("user", "list", "--config", cli_config)
    assert "alice alice@example.org a.smith@example.org" in again.stdout.splitlines()


def test_user_add_reads_the_password_from_stdin(cli_config, tmp_path, database_url):
    result = kalend_cli("user", "add", "carol", "--email", "carol@example.org",
                        "--config", cli_config, stdin="piped-pw\n")

    assert result.returncode == 0, result.stderr
    entry = htpasswd_lines(str(tmp_path / "data" / "htpasswd"))["carol"]
    assert bcrypt.checkpw(b"piped-pw", entry.encode())


def test_user_added_by_the_cli_can_log_in(cli_config, tmp_path, database_url):
    from kalend_testing import KalendServer

    assert kalend_cli("user", "add", "dave", "--password", "dave-pw",
                      "--config", cli_config).returncode == 0
    server = KalendServer(cli_config, database_url, str(tmp_path / "data")).start_process()
    try:
        ok = requests.request("PROPFIND", server.url + "dave/", auth=("dave", "dave-pw"),
                              headers={"Depth": "0"}, timeout=60)
        wrong = requests.request("PROPFIND", server.url + "dave/", auth=("dave", "nope"),
                                 headers={"Depth": "0"}, timeout=60)
    finally:
        server.stop()
    assert ok.status_code == 207, ok.text
    assert wrong.status_code == 401


def test_duplicate_user_add_exits_2_and_changes_nothing(cli_config, tmp_path, database_url):
    htpasswd = str(tmp_path / "data" / "htpasswd")
    assert kalend_cli("user", "add", "alice", "--password", "pw", "--email", "alice@example.org",
                      "--config", cli_config).returncode == 0
    before = htpasswd_lines(htpasswd)

    result = kalend_cli("user", "add", "alice", "--password", "other",
                        "--email", "someone.else@example.org", "--config", cli_config)

    assert_refused(result, "alice", "exists", "kalend user passwd")
    assert htpasswd_lines(htpasswd) == before
    listed = kalend_cli("user", "list", "--config", cli_config).stdout.splitlines()
    assert "alice alice@example.org" in listed


def test_invalid_email_exits_2_and_creates_no_login(cli_config, tmp_path, database_url):
    result = kalend_cli("user", "add", "erin", "--password", "pw", "--email", "not-an-address",
                        "--config", cli_config)

    assert_refused(result, "not-an-address", "e-mail")
    htpasswd = tmp_path / "data" / "htpasswd"
    assert not htpasswd.exists() or "erin" not in htpasswd_lines(str(htpasswd))
    listed = kalend_cli("user", "list", "--config", cli_config)
    assert "erin" not in listed.stdout


def test_empty_password_exits_2_and_records_nothing(cli_config, database_url):
    result = kalend_cli("user", "add", "gina", "--password", "", "--email", "gina@example.org",
                        "--config", cli_config)

    assert_refused(result, "password")
    assert "gina" not in kalend_cli("user", "list", "--config", cli_config).stdout


def test_address_of_another_user_exits_2(cli_config, database_url):
    assert kalend_cli("user", "add", "alice", "--password", "pw", "--email", "team@example.org",
                      "--config", cli_config).returncode == 0

    result = kalend_cli("user", "add", "frank", "--password", "pw", "--email", "team@example.org",
                        "--config", cli_config)

    assert_refused(result, "team@example.org", "alice")
    assert "frank" not in kalend_cli("user", "list", "--config", cli_config).stdout


def test_invalid_user_name_and_unknown_user_exit_2(cli_config, database_url):
    assert_refused(kalend_cli("user", "add", "../evil", "--password", "pw",
                              "--config", cli_config), "invalid user name")
    assert_refused(kalend_cli("user", "passwd", "nobody", "--password", "pw",
                              "--config", cli_config), "nobody", "kalend user add")


# -- configuration errors stop start-up -------------------------------------------


def test_unknown_key_stops_start_up_and_suggests_the_right_one(tmp_path):
    path = config_file(tmp_path, """\
        [storage]
        uri = x
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, "'uri'", "[storage]", "'url'")
    assert "listening" not in result.stdout


def test_unknown_section_stops_start_up(tmp_path):
    path = config_file(tmp_path, """\
        [storrage]
        url = x
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, "[storrage]", "[storage]")


@pytest.mark.parametrize("section,option,value", [
    ("server", "max_connections", "abc"),
    ("storage", "pool_size", "-1"),
    ("storage", "sync_token_retention_days", "soon"),
    ("auth", "cache_logins", "maybe"),
])
def test_invalid_value_stops_start_up_naming_the_key(tmp_path, section, option, value):
    path = config_file(tmp_path, f"""\
        [{section}]
        {option} = {value}
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, f"[{section}] {option}", repr(value))
    assert "listening" not in result.stdout


def test_file_system_storage_type_is_refused_with_the_fix(tmp_path):
    path = config_file(tmp_path, """\
        [storage]
        type = multifilesystem
        filesystem_folder = /var/lib/radicale/collections
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, "[storage] type", "multifilesystem", "kalend.storage_plugin",
                   "remove the line")


def test_missing_config_file_is_named(tmp_path):
    result = kalend_cli("serve", "--config", str(tmp_path / "nope.conf"))

    assert_refused(result, "nope.conf", "does not exist")


def test_unreachable_postgresql_names_the_masked_url_and_the_error(tmp_path):
    path = config_file(tmp_path, f"""\
        [storage]
        url = postgresql+psycopg://kalend:SECRETPW@127.0.0.1:1/nope
        data_folder = {tmp_path / "data"}
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, "postgresql+psycopg://kalend:***@127.0.0.1:1/nope")
    assert re.search(r"refused|failed", result.stderr, re.IGNORECASE), result.stderr
    assert "SECRETPW" not in result.stdout + result.stderr
    assert "listening" not in result.stdout


@pytest.mark.parametrize("verb", [("db", "upgrade"), ("user", "list"), ("db", "status")])
def test_unreachable_database_in_other_verbs_is_named_without_password(tmp_path, verb):
    path = config_file(tmp_path, """\
        [storage]
        url = postgresql+psycopg://kalend:SECRETPW@127.0.0.1:1/nope
        """)

    result = kalend_cli(*verb, "--config", path)

    assert_refused(result, "127.0.0.1:1/nope")
    assert "SECRETPW" not in result.stdout + result.stderr


def test_unusable_sqlite_path_is_named(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    path = config_file(tmp_path, f"""\
        [storage]
        url = sqlite:///{blocker}/kalend.sqlite3
        data_folder = {tmp_path / "data"}
        """)

    result = kalend_cli("serve", "--config", path, "--host", "127.0.0.1", "--port", "0")

    assert_refused(result, str(blocker))


# -- schema versions ---------------------------------------------------------------


def test_out_of_date_schema_stops_serve_and_names_the_command(cli_config, database_url):
    engine = make_engine(database_url)
    head = migrate.head_revision()
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0000_old'"))

        result = kalend_cli("serve", "--config", cli_config, "--host", "127.0.0.1", "--port", "0")
        status = kalend_cli("db", "status", "--config", cli_config)
    finally:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"),
                               {"head": head})
        engine.dispose()

    assert_refused(result, "0000_old", head, "kalend db upgrade")
    assert "listening" not in result.stdout
    assert status.returncode == 1
    assert "kalend db upgrade" in status.stdout


def test_db_upgrade_creates_the_schema_on_an_empty_database(tmp_path, empty_database_url):
    path = write_config(str(tmp_path / "data"), empty_database_url)
    head = migrate.head_revision()

    before = kalend_cli("db", "status", "--config", path)
    upgraded = kalend_cli("db", "upgrade", "--config", path)
    after = kalend_cli("db", "status", "--config", path)
    again = kalend_cli("db", "upgrade", "--config", path)

    assert before.returncode == 1 and "empty" in before.stdout, before
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded" in upgraded.stdout and "empty" in upgraded.stdout and head in upgraded.stdout
    assert after.returncode == 0 and "up to date" in after.stdout, after
    assert again.returncode == 0 and "up to date" in again.stdout, again
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"collection", "item", "change", "calendar_user", "alembic_version"} <= tables
        assert migrate.current_revision(engine) == head
    finally:
        engine.dispose()


def test_database_downgraded_to_base_can_be_upgraded_and_served(tmp_path, empty_database_url):
    path = write_config(str(tmp_path / "data"), empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
    finally:
        engine.dispose()

    # Only Alembic's empty version table is left: as good as an empty
    # database, which any command initialises (as on first start).
    listed = kalend_cli("user", "list", "--config", path)
    upgraded = kalend_cli("db", "upgrade", "--config", path)

    assert listed.returncode == 0, listed.stderr
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    assert kalend_cli("db", "status", "--config", path).returncode == 0


# -- serve ----------------------------------------------------------------------------


def _start(args: list[str], cwd: str) -> tuple[subprocess.Popen, list[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "kalend", *args], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    while True:
        line = process.stdout.readline()
        if not line:
            process.wait()
            raise AssertionError("kalend serve ended before listening:\n" + "".join(lines))
        lines.append(line)
        match = re.search(r"listening on (http://\S+/)", line)
        if match:
            return process, lines, match.group(1)


def _stop(process: subprocess.Popen, signum: int, lines: list[str]) -> tuple[int, str]:
    assert process.stdout is not None
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.append(process.stdout.read()))
    reader.start()
    time.sleep(0.2)
    process.send_signal(signum)
    code = process.wait()
    reader.join()
    return code, "".join(lines) + "".join(rest)


def test_serve_without_config_runs_on_the_embedded_default(tmp_path):
    workdir = tmp_path / "fresh"
    workdir.mkdir()

    process, lines, url = _start(["serve", "--host", "127.0.0.1", "--port", "0"], str(workdir))
    try:
        unauthenticated = requests.request("PROPFIND", url, headers={"Depth": "0"}, timeout=60)
        data = workdir / "kalend-data"
        created = sorted(p.name for p in data.iterdir())
    finally:
        code, output = _stop(process, signal.SIGINT, lines)

    assert unauthenticated.status_code == 401
    assert "kalend.sqlite3" in created and "htpasswd" in created
    assert str(data) in output
    assert "listening on http://127.0.0.1:" in output
    assert code == 0, output
    assert "stopped" in output
    assert "Traceback" not in output


def test_serve_with_config_prints_masked_database_and_stops_on_sigterm(
        tmp_path, database_url):
    path = write_config(str(tmp_path / "data"), database_url)
    assert kalend_cli("user", "add", "alice", "--password", "pw", "--config", path).returncode == 0

    process, lines, url = _start(["serve", "--config", path, "--host", "127.0.0.1",
                                  "--port", "0"], str(tmp_path))
    try:
        response = requests.request("PROPFIND", url + "alice/", auth=("alice", "pw"),
                                    headers={"Depth": "0"}, timeout=60)
    finally:
        code, output = _stop(process, signal.SIGTERM, lines)

    assert response.status_code == 207, response.text
    assert "database " in output
    from sqlalchemy.engine import make_url
    assert make_url(database_url).render_as_string(hide_password=True) in output
    assert code == 0, output
    assert "stopped" in output


def test_a_request_in_flight_at_sigterm_finishes_and_is_kept(tmp_path):
    """Stopping lets a request the application is working on finish and
    commit: the client gets its answer and the rows are there."""
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    assert kalend_cli("user", "add", "bob", "--password", "pw", cwd=str(workdir)).returncode == 0
    events = "".join(f"BEGIN:VEVENT\r\nUID:e{n}\r\nDTSTAMP:20260101T000000Z\r\n"
                     f"DTSTART:20260302T090000Z\r\nSUMMARY:Event {n}\r\nEND:VEVENT\r\n"
                     for n in range(2000))
    upload = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{events}END:VCALENDAR\r\n"
    process, lines, url = _start(["serve", "--host", "127.0.0.1", "--port", "0"], str(workdir))
    answers: list[object] = []

    def put() -> None:
        try:
            answers.append(requests.put(url + "bob/big/", data=upload.encode(),
                                        auth=("bob", "pw"), timeout=300,
                                        headers={"Content-Type": "text/calendar"}).status_code)
        except requests.RequestException as error:
            answers.append(repr(error))

    client = threading.Thread(target=put)
    client.start()
    assert process.stdout is not None
    for line in process.stdout:              # Radicale logs the request as it begins
        lines.append(line)
        if "PUT request for '/bob/big/'" in line:
            break
    code, output = _stop(process, signal.SIGTERM, lines)
    client.join(300)
    rows = _rows("sqlite:///" + str(workdir / "kalend-data" / "kalend.sqlite3"),
                 "SELECT COUNT(*) FROM item WHERE href LIKE 'e%'")

    assert answers == [201], output
    assert rows == [(2000,)]
    assert code == 0, output
    assert "finishing requests in flight" in output


# -- import ---------------------------------------------------------------------------


def _rows(database_url: str, sql: str) -> list[tuple]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(sql))]
    finally:
        engine.dispose()


def test_user_add_creates_the_home_with_inbox_outbox_and_default_calendar(cli_config,
                                                                          database_url):
    assert kalend_cli("user", "add", "erin", "--password", "pw",
                      "--config", cli_config).returncode == 0
    assert _rows(database_url, "SELECT path FROM collection WHERE owner = 'erin' "
                               "ORDER BY path") == [("erin",), ("erin/default",),
                                                    ("erin/inbox",), ("erin/outbox",)]


def test_import_splits_an_export_and_indexes_every_object(cli_config, database_url, tmp_path):
    before = _rows(database_url, "SELECT CURRENT_TIMESTAMP")[0][0]
    export = tmp_path / "export.ics"
    export.write_text(fixture_text("calendars/google-export-recurring-with-exceptions.ics")
                      + fixture_text("calendars/outlook-export-recurring.ics"),
                      encoding="utf-8")
    first = kalend_cli("import", "frank/work", str(export), "--name", "Work",
                       "--config", cli_config)
    again = kalend_cli("import", "frank/work", str(export), "--config", cli_config)

    assert first.returncode == 0, first.stderr
    assert "2 new, 0 replaced" in first.stdout
    assert "0 new, 2 replaced" in again.stdout
    (items, indexed), = _rows(database_url,
                              "SELECT COUNT(*), SUM(CASE WHEN occ_from <= occ_until "
                              "THEN 1 ELSE 0 END) FROM item")
    assert (items, indexed) == (2, 2)
    assert _rows(database_url, "SELECT COUNT(*) FROM occurrence")[0][0] > 2
    (props,), = _rows(database_url, "SELECT props FROM collection WHERE path = 'frank/work'")
    assert '"D:displayname": "Work"' in props
    if database_url.startswith("postgresql"):
        # The planner's statistics and the visibility map are fresh at once.
        tidied = dict(_rows(database_url, "SELECT relname, LEAST(last_vacuum, last_analyze) "
                                          "FROM pg_stat_user_tables"))
        assert all(tidied[t] is not None and tidied[t] >= before
                   for t in ("item", "occurrence", "change"))


def test_import_of_a_file_without_calendar_exits_2_and_stores_nothing(cli_config, database_url,
                                                                      tmp_path):
    broken = tmp_path / "notes.ics"
    broken.write_text("just some notes\n", encoding="utf-8")
    result = kalend_cli("import", "frank/work", str(broken), "--config", cli_config)
    assert_refused(result, "notes.ics", "no VCALENDAR")
    assert _rows(database_url, "SELECT COUNT(*) FROM item") == [(0,)]


def test_group_set_records_members_and_refuses_a_users_own_address(cli_config, database_url):
    assert kalend_cli("user", "add", "gina", "--password", "pw", "--email", "gina@example.org",
                      "--config", cli_config).returncode == 0
    made = kalend_cli("group", "set", "Design@Example.org", "gina", "hal",
                      "--config", cli_config)
    assert made.returncode == 0, made.stderr
    assert _rows(database_url, "SELECT address, member FROM group_member ORDER BY member") == [
        ("mailto:design@example.org", "gina"), ("mailto:design@example.org", "hal")]
    refused = kalend_cli("group", "set", "gina@example.org", "hal", "--config", cli_config)
    assert_refused(refused, "gina@example.org", "belongs to user 'gina'")
    removed = kalend_cli("group", "set", "design@example.org", "--config", cli_config)
    assert removed.returncode == 0 and "group removed" in removed.stdout
    assert _rows(database_url, "SELECT COUNT(*) FROM group_member") == [(0,)]
