"""Principals as scheduling sees them (RFC 6638 §2): their calendar-user
addresses, their groups, and the collections every home must have.

Scheduling delivers into homes of users who may never have started a client,
so the inbox, the outbox and a default calendar are created on demand here as
well as on first login. The collections are ordinary rows; what makes them an
inbox or an outbox is the ``kalend:schedule`` property, which the server turns
into the resource types of §2.1-§2.2.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from sqlalchemy import Connection, delete, insert, select

from kalend.storage_plugin import schema

#: Collection names inside a home.
INBOX = "inbox"
OUTBOX = "outbox"
DEFAULT_CALENDAR = "default"
#: The collection property that marks a scheduling collection.
SCHEDULE_PROPERTY = "kalend:schedule"
#: The inbox property naming the default calendar (§9.2), as a path.
DEFAULT_CALENDAR_PROPERTY = "C:schedule-default-calendar-URL"

INBOX_PROPS = {"tag": "VCALENDAR", SCHEDULE_PROPERTY: INBOX, "D:displayname": "Inbox",
               "C:supported-calendar-component-set": "VEVENT,VTODO,VFREEBUSY"}
OUTBOX_PROPS = {SCHEDULE_PROPERTY: OUTBOX, "D:displayname": "Outbox"}
CALENDAR_PROPS = {"tag": "VCALENDAR", "D:displayname": "Calendar",
                  "C:supported-calendar-component-set": "VEVENT,VTODO"}


def addresses_of(connection: Connection, principal: str) -> list[str]:
    """The principal's calendar-user addresses, primary first."""
    c = schema.calendar_user.c
    return list(connection.execute(
        select(c.address).where(c.principal == principal).order_by(c.position)).scalars())


def principal_of(connection: Connection, address: str) -> str | None:
    c = schema.calendar_user.c
    return connection.execute(select(c.principal).where(c.address == address)).scalar()


def group_members(connection: Connection, address: str) -> list[str]:
    """The principals behind a group address (empty: not a kalend group)."""
    g = schema.group_member.c
    return list(connection.execute(
        select(g.member).where(g.address == address).order_by(g.member)).scalars())


def schedule_kind(props_json: str | None) -> str | None:
    """"inbox", "outbox" or None for a collection's stored properties."""
    if not props_json or SCHEDULE_PROPERTY not in props_json:
        return None
    return json.loads(props_json).get(SCHEDULE_PROPERTY)


def calendars_of(connection: Connection, principal: str) -> list[tuple[int, str, str]]:
    """(id, path, props) of the principal's calendars, inbox left out."""
    c = schema.collection.c
    rows = connection.execute(
        select(c.id, c.path, c.props)
        .where(c.owner == principal, c.tag == "VCALENDAR").order_by(c.path)).all()
    return [(r.id, r.path, r.props) for r in rows if schedule_kind(r.props) is None]


def copies_of_uid(connection: Connection, principal: str, uid: str,
                  scheduling_only: bool = False) -> list[tuple[str, str]]:
    """(collection path, href) of the principal's resources with this UID,
    inbox left out, oldest first; ``scheduling_only``: those with an
    ORGANIZER (scheduling object resources)."""
    calendar_ids = {cid: path for cid, path, _ in calendars_of(connection, principal)}
    if not calendar_ids:
        return []
    i = schema.item.c
    query = select(i.collection_id, i.href).where(
        i.collection_id.in_(list(calendar_ids)), i.uid == uid)
    if scheduling_only:
        query = query.where(i.organizer.is_not(None))
    return [(calendar_ids[r.collection_id], r.href)
            for r in connection.execute(query.order_by(i.id))]


def find_by_uid(connection: Connection, principal: str, uid: str
                ) -> tuple[str, str] | None:
    """The principal's copy of a calendar object, wherever in their home it
    lives (RFC 6638 §3.2.4.1 allows one per UID)."""
    copies = copies_of_uid(connection, principal, uid)
    return copies[0] if copies else None


def ensure_home(storage, principal: str) -> None:
    """Create the principal's home, inbox, outbox and default calendar where
    missing (inside the caller's write transaction)."""
    now = time.time()
    storage._ensure_row(principal, now)
    for name, props in ((INBOX, INBOX_PROPS), (OUTBOX, OUTBOX_PROPS)):
        if storage.collection_at(f"{principal}/{name}") is None:
            storage.create_collection(f"/{principal}/{name}/", props=props)
    if not calendars_of(storage._conn, principal):
        storage.create_collection(f"/{principal}/{DEFAULT_CALENDAR}/", props=CALENDAR_PROPS)


def default_calendar_path(connection: Connection, principal: str) -> str | None:
    """The inbox's schedule-default-calendar-URL (§9.2) when it still names
    one of the principal's calendars, else their first calendar."""
    calendars = calendars_of(connection, principal)
    if not calendars:
        return None
    c = schema.collection.c
    inbox_props = connection.execute(
        select(c.props).where(c.path == f"{principal}/{INBOX}")).scalar()
    chosen = json.loads(inbox_props or "{}").get(DEFAULT_CALENDAR_PROPERTY, "")
    paths = [path for _, path, _ in calendars]
    chosen = chosen.strip("/")
    if chosen in paths:
        return chosen
    preferred = f"{principal}/{DEFAULT_CALENDAR}"
    return preferred if preferred in paths else paths[0]


def schedule_tags(connection: Connection, collection_id: int,
                  hrefs: Sequence[str]) -> dict[str, str | None]:
    i = schema.item.c
    return {r.href: r.schedule_tag for r in connection.execute(
        select(i.href, i.schedule_tag)
        .where(i.collection_id == collection_id, i.href.in_(list(hrefs))))}


def uid_taken_elsewhere(connection: Connection, principal: str, uid: str,
                        path: str, href: str) -> bool:
    """Another resource of the home holds a scheduling object with this UID
    (the precondition CALDAV:unique-scheduling-object-resource, §3.2.4.1)."""
    return any((p, h) != (path, href) for p, h in
               copies_of_uid(connection, principal, uid, scheduling_only=True))


def address_owners(connection: Connection, addresses: Sequence[str]) -> dict[str, str]:
    """The principal of each of ``addresses`` that one has, in few queries."""
    c = schema.calendar_user.c
    owners: dict[str, str] = {}
    wanted = list(dict.fromkeys(addresses))
    for start in range(0, len(wanted), _ADDRESS_CHUNK):
        for address, principal in connection.execute(
                select(c.address, c.principal)
                .where(c.address.in_(wanted[start:start + _ADDRESS_CHUNK]))):
            owners[address] = principal
    return owners


#: Addresses per ``IN (…)`` list (SQLite allows 32766 bound parameters).
_ADDRESS_CHUNK = 500


def add_principal(storage, principal: str, addresses: Sequence[str],
                  display_name: str | None) -> None:
    """A new principal's addresses (first one primary), home, inbox, outbox
    and default calendar, and its DAV:displayname, inside the caller's write
    transaction (``kalend user import`` writes many in one)."""
    connection: Connection = storage._conn
    c = schema.calendar_user.c
    # A principal an interrupted import stored already is written anew.
    connection.execute(delete(schema.calendar_user).where(c.principal == principal))
    if addresses:
        connection.execute(insert(schema.calendar_user), [
            {"address": a, "principal": principal, "position": i}
            for i, a in enumerate(addresses)])
    ensure_home(storage, principal)
    if display_name:
        home = storage.collection_at(principal)
        home.set_meta({**home.get_meta(), "D:displayname": display_name})
