"""``kalend user import``: many logins from a CSV or an htpasswd file, on
SQLite and PostgreSQL. What a user sees: the exit status and message, the
logins that work (or not) against the real server, the addresses `user
list` shows, and — for a refused file — nothing written at all."""

from __future__ import annotations

import os

import bcrypt
import pytest
import requests
from kalend_testing import KalendServer, write_config
from sqlalchemy import text
from test_cli import assert_refused, htpasswd_lines, kalend_cli

from kalend.server import config as kalend_config
from kalend.storage_plugin import Storage, principals
from kalend.storage_plugin.engine import make_engine
from kalend.storage_plugin.transaction import transaction

# A cheap bcrypt cost keeps the fixtures fast; the server verifies any cost.
_HASH = bcrypt.hashpw(b"hashed-pw", bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def setup(tmp_path, database_url):
    folder = str(tmp_path / "data")
    return write_config(folder, database_url), folder, database_url


def _file(tmp_path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return str(path)


def _database_rows(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return (connection.execute(text("SELECT count(*) FROM calendar_user")).scalar(),
                    connection.execute(text("SELECT count(*) FROM collection WHERE path <> ''")).scalar())
    finally:
        engine.dispose()


def test_a_csv_file_creates_working_logins_with_addresses_names_and_homes(setup, tmp_path):
    config, folder, database_url = setup
    users_csv = _file(tmp_path, "users.csv",
                      "name,password,password_hash,emails,display_name\n"
                      "alice,alice-pw,,Alice@Example.org a.smith@example.org,Alice Smith\n"
                      f"bob,,{_HASH},bob@example.org,\"Bob, the builder\"\n"
                      "carol,carol-pw,,,\n")

    result = kalend_cli("user", "import", users_csv, "--config", config)

    assert result.returncode == 0, result.stderr
    assert "3 users imported" in result.stdout
    listed = kalend_cli("user", "list", "--config", config).stdout.splitlines()
    assert "alice alice@example.org a.smith@example.org" in listed
    assert "bob bob@example.org" in listed
    assert "carol" in listed
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        def propfind(user: str, password: str, depth: str = "0") -> requests.Response:
            return requests.request(
                "PROPFIND", f"{server.url}{user}/", auth=(user, password), timeout=60,
                headers={"Depth": depth, "Content-Type": "application/xml"},
                data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                     '<D:displayname/></D:prop></D:propfind>')
        alice = propfind("alice", "alice-pw", "1")
        bob = propfind("bob", "hashed-pw")
        carol = propfind("carol", "carol-pw")
        wrong = propfind("alice", "hashed-pw")
    finally:
        server.stop()
    assert alice.status_code == bob.status_code == carol.status_code == 207
    assert wrong.status_code == 401
    assert "<D:displayname>Alice Smith</D:displayname>" in alice.text.replace("ns0:", "D:") \
        or "Alice Smith" in alice.text
    assert "Bob, the builder" in bob.text
    # The home holds the inbox, outbox and default calendar before any client came.
    for child in ("/alice/inbox/", "/alice/outbox/", "/alice/default/"):
        assert child in alice.text


def test_a_radicale_htpasswd_file_keeps_its_bcrypt_hashes(setup, tmp_path):
    config, folder, database_url = setup
    radicale_users = _file(tmp_path, "users", f"# from Radicale\n\ndave:{_HASH}\n"
                                              f"erin:{_HASH}\n")

    result = kalend_cli("user", "import", radicale_users, "--config", config)

    assert result.returncode == 0, result.stderr
    entries = htpasswd_lines(os.path.join(folder, "htpasswd"))
    assert entries == {"dave": _HASH, "erin": _HASH}
    server = KalendServer(config, database_url, folder).start_in_thread()
    try:
        answer = requests.request("PROPFIND", f"{server.url}erin/", auth=("erin", "hashed-pw"),
                                  headers={"Depth": "0"}, timeout=60)
    finally:
        server.stop()
    assert answer.status_code == 207


def test_a_thousand_users_with_hashes_in_one_process(setup, tmp_path):
    config, folder, database_url = setup
    lines = ["name,password_hash,emails"] + [
        f"user{n:04d},{_HASH},user{n:04d}@example.org" for n in range(1000)]
    big = _file(tmp_path, "big.csv", "\n".join(lines) + "\n")

    result = kalend_cli("user", "import", big, "--config", config)

    assert result.returncode == 0, result.stderr
    assert "1000 of 1000 users stored" in result.stdout
    assert len(htpasswd_lines(os.path.join(folder, "htpasswd"))) == 1000
    addresses, collections = _database_rows(database_url)
    assert addresses == 1000
    assert collections == 4000          # home, inbox, outbox, default calendar each


@pytest.mark.parametrize("body, expected", [
    ("name,password,email\nalice,pw,alice@example.org\n",
     ["unknown column(s) 'email'", "kalend reads name, password"]),
    ("name,emails\nalice,alice@example.org\n", ["a column password or password_hash"]),
    ("name,password\nalice,pw\nbob,\nalice,pw2\n",
     ["line 3: no password", "line 4: user 'alice' is on line 2 already"]),
    ("name,password,password_hash\nal/ice,pw,\nbob,pw,$2b$04$x\n",
     ["line 2: invalid user name 'al/ice'", "line 3: both password and password_hash"]),
    (("name,password,emails\nalice,pw,not-an-address\nbob,pw,b@example.org b@example.org\n"
      "carol,pw,B@example.org\n"),
     ["line 2: invalid e-mail address 'not-an-address'",
      "line 4: address b@example.org is 'bob''s on line 3"]),
    ("alice:$6$salt$hash\nbob\n",
     ["line 1: the hash of 'alice' is not one [auth] htpasswd_encryption = bcrypt verifies",
      "htpasswd_encryption = autodetect", "line 2: expected name:hash"]),
])
def test_a_file_with_any_wrong_line_imports_nothing(setup, tmp_path, body, expected):
    config, folder, database_url = setup
    bad = _file(tmp_path, "bad.csv", body)

    result = kalend_cli("user", "import", bad, "--config", config)

    assert_refused(result, "nothing imported", *expected)
    assert not os.path.exists(os.path.join(folder, "htpasswd"))
    assert _database_rows(database_url) == (0, 0)


def test_existing_logins_and_taken_addresses_are_refused_and_nothing_changes(setup, tmp_path):
    config, folder, database_url = setup
    assert kalend_cli("user", "add", "alice", "--password", "pw", "--email",
                      "alice@example.org", "--config", config).returncode == 0
    before_file = htpasswd_lines(os.path.join(folder, "htpasswd"))
    before_rows = _database_rows(database_url)
    clash = _file(tmp_path, "clash.csv", "name,password,emails\n"
                                         "alice,new-pw,\n"
                                         "mallory,pw,ALICE@example.org\n"
                                         "frank,pw,frank@example.org\n")

    result = kalend_cli("user", "import", clash, "--config", config)

    assert_refused(result, "line 2: user 'alice' exists already",
                   "line 3: address alice@example.org belongs to user 'alice'")
    assert htpasswd_lines(os.path.join(folder, "htpasswd")) == before_file
    assert _database_rows(database_url) == before_rows


def test_missing_files_and_folders_are_named(setup, tmp_path):
    config, _folder, _url = setup
    assert_refused(kalend_cli("user", "import", str(tmp_path / "nope.csv"), "--config", config),
                   "no such file")
    assert_refused(kalend_cli("user", "import", str(tmp_path), "--config", config),
                   "is a folder")
    empty = _file(tmp_path, "empty.csv", "name,password\n")
    assert_refused(kalend_cli("user", "import", empty, "--config", config), "holds no users")


def test_a_principal_stored_by_an_interrupted_import_is_imported_again(setup, tmp_path):
    # The database is written before the htpasswd file: a run that stopped
    # between the two left principals without logins. The same file again
    # finishes the job instead of refusing their addresses as taken.
    config, folder, database_url = setup
    configuration = kalend_config.load(config)
    engine = make_engine(database_url)
    try:
        storage = Storage(configuration, engine=engine)
        with transaction(engine, "w", ["grace"]):
            principals.add_principal(storage, "grace", ["mailto:grace@example.org"], None)
    finally:
        engine.dispose()
    again = _file(tmp_path, "again.csv", "name,password,emails,display_name\n"
                                         "grace,grace-pw,grace@example.org,Grace H.\n")

    result = kalend_cli("user", "import", again, "--config", config)

    assert result.returncode == 0, result.stderr
    assert "grace grace@example.org" in kalend_cli("user", "list", "--config",
                                                   config).stdout.splitlines()
    assert bcrypt.checkpw(b"grace-pw",
                          htpasswd_lines(os.path.join(folder, "htpasswd"))["grace"].encode())
    assert _database_rows(database_url) == (1, 4)
