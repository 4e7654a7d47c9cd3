"""The rows a refused request must leave as they were.

A status code alone would not show a half-written item, a stray occurrence
or a bumped sync token: tests that send something to be refused take a
``snapshot`` of kalend's tables before and ``assert_unchanged`` after.
"""

from __future__ import annotations


def snapshot(server) -> dict[str, list[tuple]]:
    """Everything a request could change, in a stable order (collection
    rows carry the properties and the sync sequence)."""
    return {
        "collection": server.rows(
            "SELECT path, owner, tag, props, sync_seq, sync_floor FROM collection "
            "ORDER BY path"),
        "item": server.rows(
            "SELECT c.path, i.href, i.uid, i.etag, i.component, i.text, i.start, i.\"end\", "
            "i.schedule_tag, i.organizer "
            "FROM item i JOIN collection c ON c.id = i.collection_id ORDER BY c.path, i.href"),
        "change": server.rows(
            "SELECT c.path, ch.seq, ch.href, ch.deleted FROM change ch "
            "JOIN collection c ON c.id = ch.collection_id ORDER BY c.path, ch.seq"),
        "occurrence": server.rows(
            "SELECT c.path, i.href, o.component, o.start, o.\"end\", o.recurrence_id, o.status "
            "FROM occurrence o JOIN item i ON i.id = o.item_id "
            "JOIN collection c ON c.id = o.collection_id "
            "ORDER BY c.path, i.href, o.start, o.recurrence_id"),
        "calendar_user": server.rows(
            "SELECT address, principal, position FROM calendar_user ORDER BY address"),
        "outbox": server.rows(
            "SELECT method, sender, recipient, uid, principal, status FROM outbox "
            "ORDER BY id"),
    }


def assert_unchanged(server, before) -> None:
    after = snapshot(server)
    for table in before:
        assert after[table] == before[table], f"table {table} changed"
