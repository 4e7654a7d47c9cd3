"""What the SQL storage guarantees: faults roll back, the change log is
pruned safely, collection deletion cascades, ``verify`` finds corruption."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sqlalchemy import text

from kalend.server import config as kalend_config
from kalend.server.maintenance import run_once
from kalend.storage_plugin import Storage

SYNC_REPORT = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <d:sync-collection xmlns:d="DAV:">
      <d:sync-token>{token}</d:sync-token>
      <d:sync-level>1</d:sync-level>
      <d:prop><d:getetag/></d:prop>
    </d:sync-collection>""")


def event(uid: str, summary: str = "Meeting") -> str:
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n"
            f"DTSTART:20261201T100000Z\r\nDTEND:20261201T110000Z\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def sync(server, token: str = ""):
    return server.request("REPORT", "/alice/cal/", user="alice",
                          body=SYNC_REPORT.format(token=token), headers={"Depth": "1"})


def token_of(response) -> str:
    import xml.etree.ElementTree as ET

    return ET.fromstring(response.content).find("{DAV:}sync-token").text


def setup_calendar(server) -> None:
    server.add_user("alice")
    assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201


def install_failing_change_trigger(server) -> None:
    """A real database fault: the change-log INSERT fails inside the write."""
    with server.engine.begin() as connection:
        if server.engine.dialect.name == "postgresql":
            connection.execute(text(
                "CREATE FUNCTION kalend_test_fail() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql"))
            connection.execute(text(
                "CREATE TRIGGER kalend_test_fail BEFORE INSERT ON change "
                "FOR EACH ROW EXECUTE FUNCTION kalend_test_fail()"))
        else:
            connection.execute(text(
                "CREATE TRIGGER kalend_test_fail BEFORE INSERT ON change "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"))


def remove_failing_change_trigger(server) -> None:
    with server.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS kalend_test_fail"
                                + (" ON change" if server.engine.dialect.name == "postgresql"
                                   else "")))
        if server.engine.dialect.name == "postgresql":
            connection.execute(text("DROP FUNCTION IF EXISTS kalend_test_fail()"))


def test_database_fault_mid_put_leaves_calendar_as_it_was(server):
    setup_calendar(server)
    assert server.request("PUT", "/alice/cal/a.ics", user="alice",
                          body=event("a", "before")).status_code == 201
    before = server.rows("SELECT href, etag, text FROM item ORDER BY href")
    seq_before = server.rows("SELECT sync_seq FROM collection WHERE path = 'alice/cal'")
    install_failing_change_trigger(server)
    try:
        update = server.request("PUT", "/alice/cal/a.ics", user="alice",
                                body=event("a", "after"))
        create = server.request("PUT", "/alice/cal/b.ics", user="alice", body=event("b"))
    finally:
        remove_failing_change_trigger(server)

    assert update.status_code == 500 and create.status_code == 500
    assert server.rows("SELECT href, etag, text FROM item ORDER BY href") == before
    assert server.rows("SELECT sync_seq FROM collection WHERE path = 'alice/cal'") == seq_before
    got = server.request("GET", "/alice/cal/a.ics", user="alice")
    assert "SUMMARY:before" in got.text


def test_sync_token_older_than_retention_gets_valid_sync_token_error(server):
    setup_calendar(server)
    server.request("PUT", "/alice/cal/a.ics", user="alice", body=event("a"))
    old_token = token_of(sync(server))
    server.request("PUT", "/alice/cal/b.ics", user="alice", body=event("b"))
    assert "b.ics" in sync(server, old_token).text

    configuration = kalend_config.load(server.config_path)
    configuration.update({"storage": {"sync_token_retention_days": "0"}}, "test")
    report = run_once(Storage(configuration))

    assert report.pruned_changes == 2  # the writes of a.ics and b.ics
    stale = sync(server, old_token)
    assert stale.status_code == 403
    assert "valid-sync-token" in stale.text
    fresh = sync(server)
    assert fresh.status_code == 207 and "a.ics" in fresh.text and "b.ics" in fresh.text
    server.request("DELETE", "/alice/cal/a.ics", user="alice")
    delta = sync(server, token_of(fresh))
    assert delta.status_code == 207 and "a.ics" in delta.text and "b.ics" not in delta.text
    assert "404" in delta.text


def test_deleting_a_calendar_removes_its_items_and_change_log(server):
    setup_calendar(server)
    for uid in ("a", "b"):
        server.request("PUT", f"/alice/cal/{uid}.ics", user="alice", body=event(uid))
    assert server.count("item") == 2

    assert server.request("DELETE", "/alice/cal/", user="alice").status_code == 200

    assert server.count("item") == 0
    assert server.count("change") == 0
    assert server.rows("SELECT COUNT(*) FROM collection WHERE path = 'alice/cal'") == [(0,)]
    assert server.request("GET", "/alice/cal/a.ics", user="alice").status_code == 404


def test_whole_calendar_put_replaces_items_and_keeps_sync_tokens_meaningful(server):
    setup_calendar(server)
    server.request("PUT", "/alice/cal/old.ics", user="alice", body=event("old"))
    token = token_of(sync(server))
    calendar = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
                + "".join(event(u).split("PRODID:-//kalend tests//EN\r\n", 1)[1]
                          .rsplit("END:VCALENDAR\r\n", 1)[0] for u in ("x", "y"))
                + "END:VCALENDAR\r\n")

    put = server.request("PUT", "/alice/cal/", user="alice", body=calendar,
                         headers={"Content-Type": "text/calendar"})

    assert put.status_code == 201, put.text
    assert sorted(server.rows("SELECT href, uid FROM item")) == [("x.ics", "x"), ("y.ics", "y")]
    delta = sync(server, token)
    assert delta.status_code == 207
    for href in ("old.ics", "x.ics", "y.ics"):
        assert href in delta.text


def test_verify_reports_an_item_whose_text_was_corrupted(server):
    setup_calendar(server)
    server.request("PUT", "/alice/cal/a.ics", user="alice", body=event("a"))
    command = [sys.executable, "-m", "kalend", "db", "verify", "--config", server.config_path]

    healthy = subprocess.run(command, capture_output=True, text=True)
    with server.engine.begin() as connection:
        connection.execute(text("UPDATE item SET text = 'BEGIN:VCALENDAR\r\nbroken'"))
    broken = subprocess.run(command, capture_output=True, text=True)

    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert broken.returncode == 1
    assert "does not parse" in broken.stderr


MULTIGET = textwrap.dedent("""\
    <?xml version="1.0" encoding="utf-8"?>
    <c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
      <d:prop><d:getetag/><c:calendar-data/></d:prop>
      <d:href>/alice/cal/a.ics</d:href>
    </c:calendar-multiget>""")


def test_get_and_multiget_serve_stored_text_without_parsing_it(server, monkeypatch):
    setup_calendar(server)
    body = event("a", "Stored once")
    assert server.request("PUT", "/alice/cal/a.ics", user="alice", body=body).status_code == 201
    (stored,), = server.rows("SELECT text FROM item WHERE href = 'a.ics'")
    import vobject

    def no_parsing(*args, **kwargs):
        raise AssertionError("calendar data was parsed while being served")

    monkeypatch.setattr(vobject, "readOne", no_parsing)
    monkeypatch.setattr(vobject, "readComponents", no_parsing)

    got = server.request("GET", "/alice/cal/a.ics", user="alice")
    multiget = server.request("REPORT", "/alice/cal/", user="alice", body=MULTIGET,
                              headers={"Depth": "1"})

    assert got.status_code == 200 and got.content == stored.encode()
    assert multiget.status_code == 207
    assert "SUMMARY:Stored once" in multiget.text
