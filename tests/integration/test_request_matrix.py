"""Every method on every kind of resource, as its owner, as another user and
unauthenticated: the status its RFC gives, never a 5xx (issue 15, point 3).

The tables below are the expected answers, read left to right as the
resources of ``RESOURCES``; ``--`` marks a cell that is not sent (an owner's
successful write, which ``OWNER_WRITES`` covers). Every refused request
(4xx) must leave kalend's tables as they were. Runs on SQLite and
PostgreSQL.

Where the RFCs leave a choice, the table follows Radicale's: another user's
resource is 403 whether it exists or not (nothing about it is disclosed),
a resource the user may not read at all is 403, and a method Radicale does
not implement is 405 before any login is asked for.
"""

from __future__ import annotations

import pytest
from kalend_testing import write_config
from table_snapshots import snapshot

X = '<?xml version="1.0" encoding="utf-8"?>'
NS = ('xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
      'xmlns:CR="urn:ietf:params:xml:ns:carddav"')

#: The resources of every table, in column order. ``message`` is the
#: invitation bob's PUT delivered to alice's inbox (its href is found then).
RESOURCES = {
    "root": "/",
    "home": "/alice/",
    "calendar": "/alice/cal/",
    "book": "/alice/book/",
    "inbox": "/alice/inbox/",
    "outbox": "/alice/outbox/",
    "event": "/alice/cal/e1.ics",
    "contact": "/alice/book/c1.vcf",
    "message": None,
    "missing": "/alice/missing/",
    "missing-item": "/alice/cal/missing.ics",
}

CALENDAR_EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
                  "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T090000Z\r\n"
                  "DTSTART:20261123T100000Z\r\nDTEND:20261123T110000Z\r\n{extra}"
                  "SUMMARY:Planning\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CONTACT = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ada Lovelace\r\n"
           "N:Lovelace;Ada;;;\r\nEMAIL:ada@example.org\r\nEND:VCARD\r\n")
MKCOL_BOOK = (X + '<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
              "<D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/>"
              "</D:resourcetype></D:prop></D:set></D:mkcol>")

PROPFIND_BODIES = {
    "allprop": X + '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
    "propname": X + '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>',
    "empty": "",
    "named": X + f"<D:propfind {NS}><D:prop><D:resourcetype/><D:getetag/><D:displayname/>"
                 "<C:calendar-home-set/><C:supported-calendar-component-set/>"
                 "<D:current-user-privilege-set/><D:sync-token/></D:prop></D:propfind>",
}
WEEK = 'start="20261101T000000Z" end="20261201T000000Z"'
REPORT_BODIES = {
    "calendar-query": X + f"<C:calendar-query {NS}><D:prop><D:getetag/><C:calendar-data/>"
                          '</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
                          f'<C:comp-filter name="VEVENT"><C:time-range {WEEK}/>'
                          "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>",
    "calendar-multiget": X + f"<C:calendar-multiget {NS}><D:prop><D:getetag/>"
                             "<C:calendar-data/></D:prop><D:href>/alice/cal/e1.ics</D:href>"
                             "</C:calendar-multiget>",
    "free-busy-query": X + f"<C:free-busy-query {NS}><C:time-range {WEEK}/>"
                           "</C:free-busy-query>",
    "sync-collection": X + f"<D:sync-collection {NS}><D:sync-token/><D:sync-level>1"
                           "</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>",
    "addressbook-query": X + f"<CR:addressbook-query {NS}><D:prop><D:getetag/></D:prop>"
                             '<CR:filter><CR:prop-filter name="FN"/></CR:filter>'
                             "</CR:addressbook-query>",
    "addressbook-multiget": X + f"<CR:addressbook-multiget {NS}><D:prop><D:getetag/>"
                                "</D:prop><D:href>/alice/book/c1.vcf</D:href>"
                                "</CR:addressbook-multiget>",
    "principal-property-search": X + f"<D:principal-property-search {NS}><D:property-search>"
                                     "<D:prop><D:displayname/></D:prop><D:match>a</D:match>"
                                     "</D:property-search><D:prop><D:displayname/></D:prop>"
                                     "</D:principal-property-search>",
    "expand-property": X + f'<D:expand-property {NS}><D:property name="current-user-principal"/>'
                           "</D:expand-property>",
}
PROPPATCH_BODY = (X + '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                  "<D:displayname>New</D:displayname></D:prop></D:set></D:propertyupdate>")
FREEBUSY_POST = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//kalend tests//EN\r\n"
                 "METHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:fb-1\r\nDTSTAMP:20261101T000000Z\r\n"
                 "DTSTART:20261101T000000Z\r\nDTEND:20261102T000000Z\r\n"
                 "ORGANIZER:mailto:alice@example.org\r\nATTENDEE:mailto:bob@example.org\r\n"
                 "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")


def request_of(variant: str, resource: str) -> tuple[str, str | None, dict]:
    """(method, body, headers) of a table row's request."""
    method, _, detail = variant.partition(" ")
    if method == "PROPFIND":
        depth, _, kind = detail.partition(" ")
        return method, PROPFIND_BODIES[kind], {"Depth": depth}
    if method == "REPORT":
        return method, REPORT_BODIES[detail], {"Depth": "1"}
    if method == "PROPPATCH":
        return method, PROPPATCH_BODY, {}
    if method == "POST":
        return method, FREEBUSY_POST, {"Content-Type": "text/calendar"}
    if method == "PUT":
        if resource == "contact":
            return method, CONTACT, {"Content-Type": "text/vcard"}
        uid = "e1" if resource == "event" else "put-1"
        return method, CALENDAR_EVENT.format(uid=uid, extra=""), {
            "Content-Type": "text/calendar"}
    if method in ("MOVE", "COPY"):
        return method, None, {"Destination": DESTINATIONS[resource], "Overwrite": "F"}
    if method == "MKCOL" and detail == "book":
        return method, MKCOL_BOOK, {}
    return method, None, {}


#: Where MOVE and COPY send each resource: a free name beside it.
DESTINATIONS = {
    "root": "/moved/", "home": "/moved-home/", "calendar": "/alice/moved-cal/",
    "book": "/alice/moved-book/", "inbox": "/alice/moved-inbox/",
    "outbox": "/alice/moved-outbox/", "event": "/alice/cal/moved.ics",
    "contact": "/alice/book/moved.vcf", "message": "/alice/cal/from-inbox.ics",
    "missing": "/alice/moved-missing/", "missing-item": "/alice/cal/moved-missing.ics",
}

#: Expected answers: one row per (request, user), one column per resource
#: in RESOURCES' order. owner = alice, other = bob, anonymous = no login.
#:
#: Why some cells are what they are:
#: * GET of a collection without calendar data (the home, the outbox) is
#:   Radicale's 403; a free-busy, sync or multiget REPORT on a resource it
#:   is not defined for is 403 DAV:supported-report (RFC 3253 §3.6, RFC
#:   6578 §3.2, RFC 4791 §7.9-7.10); POST is only for an outbox (RFC 6638
#:   §5), elsewhere 405; COPY is not implemented (405).
#: * the free-busy of the inbox is refused: it holds messages, not time.
READ_TABLE = """
# request                          user        root home cal book inbox outbox event contact message missing missing-item
OPTIONS                            owner       200  200  200  200  200   200    200   200     200     200     200
OPTIONS                            other       200  200  200  200  200   200    200   200     200     200     200
OPTIONS                            anonymous   200  200  200  200  200   200    200   200     200     200     200
GET                                owner       200  403  200  200  200   403    200   200     200     404     404
GET                                other       200  403  403  403  403   403    403   403     403     403     403
GET                                anonymous   200  401  401  401  401   401    401   401     401     401     401
HEAD                               owner       200  403  200  200  200   403    200   200     200     404     404
HEAD                               other       200  403  403  403  403   403    403   403     403     403     403
HEAD                               anonymous   200  401  401  401  401   401    401   401     401     401     401
PROPFIND_ALL                       owner       207  207  207  207  207   207    207   207     207     404     404
PROPFIND_ALL                       other       207  403  403  403  403   403    403   403     403     403     403
PROPFIND_ALL                       anonymous   401  401  401  401  401   401    401   401     401     401     401
PROPPATCH                          other       403  403  403  403  403   403    403   403     403     403     403
PROPPATCH                          anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT calendar-query              owner       207  207  207  403  207   207    207   403     207     404     404
REPORT calendar-query              other       207  403  403  403  403   403    403   403     403     403     403
REPORT calendar-query              anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT calendar-multiget           owner       403  403  207  403  207   403    207   403     207     404     404
REPORT calendar-multiget           other       403  403  403  403  403   403    403   403     403     403     403
REPORT calendar-multiget           anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT free-busy-query             owner       403  403  200  403  403   403    403   403     403     404     404
REPORT free-busy-query             other       403  403  403  403  403   403    403   403     403     403     403
REPORT free-busy-query             anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT sync-collection             owner       403  403  207  207  207   403    403   403     403     404     404
REPORT sync-collection             other       403  403  403  403  403   403    403   403     403     403     403
REPORT sync-collection             anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT addressbook-query           owner       207  207  403  207  403   207    403   207     403     404     404
REPORT addressbook-query           other       207  403  403  403  403   403    403   403     403     403     403
REPORT addressbook-query           anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT addressbook-multiget        owner       403  403  403  207  403   403    403   207     403     404     404
REPORT addressbook-multiget        other       403  403  403  403  403   403    403   403     403     403     403
REPORT addressbook-multiget        anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT principal-property-search   owner       207  207  207  207  207   207    207   207     207     404     404
REPORT principal-property-search   other       207  403  403  403  403   403    403   403     403     403     403
REPORT principal-property-search   anonymous   401  401  401  401  401   401    401   401     401     401     401
REPORT expand-property             owner       207  207  207  207  207   207    207   207     207     404     404
REPORT expand-property             other       207  403  403  403  403   403    403   403     403     403     403
REPORT expand-property             anonymous   401  401  401  401  401   401    401   401     401     401     401
POST                               owner       405  405  405  405  405   200    405   405     405     405     405
POST                               other       405  405  405  405  405   403    405   405     405     405     405
POST                               anonymous   405  405  405  405  405   401    405   405     405     405     405
COPY                               owner       405  405  405  405  405   405    405   405     405     405     405
COPY                               other       405  405  405  405  405   405    405   405     405     405     405
COPY                               anonymous   405  405  405  405  405   405    405   405     405     405     405
MOVE                               other       403  403  403  403  403   403    403   403     403     403     403
MOVE                               anonymous   401  401  401  401  401   401    401   401     401     401     401
MKCALENDAR                         other       403  403  403  403  403   403    403   403     403     403     403
MKCALENDAR                         anonymous   401  401  401  401  401   401    401   401     401     401     401
MKCOL                              other       403  403  403  403  403   403    403   403     403     403     403
MKCOL                              anonymous   401  401  401  401  401   401    401   401     401     401     401
PUT                                other       403  403  403  403  403   403    403   403     403     403     403
PUT                                anonymous   401  401  401  401  401   401    401   401     401     401     401
DELETE                             other       403  403  403  403  403   403    403   403     403     403     403
DELETE                             anonymous   401  401  401  401  401   401    401   401     401     401     401
"""

#: PROPFIND_ALL stands for every Depth (0, 1, infinity) with every body
#: (allprop, propname, empty, named properties): all answer alike.
PROPFIND_VARIANTS = [f"PROPFIND {depth} {kind}" for depth in ("0", "1", "infinity")
                     for kind in PROPFIND_BODIES]

#: The owner's writes, each table row sent in the order of its columns on
#: one server, so that each cell meets the state the cells before it left.
#: The order of the columns is given per row (items first, then collections).
#:
#: * MKCALENDAR of what exists fails DAV:resource-must-be-null (RFC 4791
#:   §5.3.1.1: 403 or 409, as RFC 4918 §16 leaves it); inside a calendar it
#:   fails CALDAV:calendar-collection-location-ok (403). MKCOL without a body
#:   would make a plain collection, which kalend's rights (Radicale's
#:   owner_only) keep out of a home: 403.
#: * PUT onto the event keeps its UID (another UID is CALDAV:no-uid-conflict,
#:   409); a calendar upload onto an address book is refused (409), it would
#:   replace the contacts; onto the calendar it replaces its events (Radicale's
#:   whole-collection PUT, 201).
#: * MOVE of a collection is not implemented (405); an inbox message is an
#:   iTIP message, which no calendar may hold (403).
#: * DELETE answers 200 with a multistatus (RFC 4918 §9.6.1 allows it); the
#:   home, inbox and outbox are not deleted by a client (403).
OWNER_WRITES = """
# request      order: status per resource
PROPPATCH      root 403 | home 207 | calendar 207 | book 207 | inbox 207 | outbox 403 | event 403 | contact 403 | message 403 | missing 404 | missing-item 404
MKCALENDAR     root 403 | home 403 | calendar 409 | book 409 | inbox 409 | outbox 403 | event 403 | contact 403 | message 403 | missing-item 403 | missing 201
MKCOL          root 403 | home 405 | calendar 403 | book 403 | inbox 403 | outbox 403 | event 403 | contact 403 | message 403 | missing-item 403 | missing 403
PUT            event 204 | contact 204 | message 403 | missing-item 201 | inbox 403 | outbox 403 | root 403 | home 403 | book 409 | missing 201 | calendar 201
MOVE           event 201 | contact 201 | message 403 | missing-item 404 | inbox 405 | outbox 403 | root 403 | home 403 | book 405 | missing 404 | calendar 405
DELETE         event 200 | contact 200 | message 200 | missing-item 404 | inbox 403 | outbox 403 | root 403 | missing 404 | book 200 | calendar 200 | home 403
"""

USERS = {"owner": "alice", "other": "bob", "anonymous": None}


def read_table() -> list[tuple[str, str, dict[str, int]]]:
    rows = []
    columns = list(RESOURCES)
    for line in READ_TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        *request, user = line.split()[:-len(columns)]
        statuses = [int(s) for s in line.split()[-len(columns):]]
        variant = " ".join(request)
        variants = PROPFIND_VARIANTS if variant == "PROPFIND_ALL" else [variant]
        for one in variants:
            rows.append((one, user, dict(zip(columns, statuses, strict=True))))
    return rows


def owner_writes() -> list[tuple[str, list[tuple[str, int]]]]:
    rows = []
    for line in OWNER_WRITES.strip().splitlines():
        if line.startswith("#"):
            continue
        method, _, cells = line.partition(" ")
        order = []
        for cell in cells.split("|"):
            resource, status = cell.split()
            order.append((resource, int(status)))
        assert sorted(r for r, _ in order) == sorted(RESOURCES), method
        rows.append((method, order))
    return rows


@pytest.fixture
def server_config(tmp_path, database_url: str) -> str:
    """Without Radicale's pause after a refused login ([auth] delay, 1 s by
    default): the matrix asks for 300 refusals, and the pause is not what
    it tests."""
    return write_config(str(tmp_path / "data"), database_url, extra="[auth]\ndelay = 0\n")


@pytest.fixture
def world(server):
    """alice with a calendar holding an event, an address book holding a
    contact, and in her inbox bob's invitation; bob with a calendar."""
    server.add_user("alice")
    server.add_user("bob")
    for user in ("alice", "bob"):
        assert server.request("MKCALENDAR", f"/{user}/cal/", user=user).status_code == 201
    assert server.request("MKCOL", "/alice/book/", user="alice",
                          body=MKCOL_BOOK).status_code == 201
    assert server.request("PUT", "/alice/cal/e1.ics", user="alice",
                          body=CALENDAR_EVENT.format(uid="e1", extra=""),
                          headers={"Content-Type": "text/calendar"}).status_code == 201
    assert server.request("PUT", "/alice/book/c1.vcf", user="alice", body=CONTACT,
                          headers={"Content-Type": "text/vcard"}).status_code == 201
    invitation = CALENDAR_EVENT.format(
        uid="invitation-1",
        extra="ORGANIZER:mailto:bob@example.org\r\nATTENDEE:mailto:bob@example.org\r\n"
              "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:alice@example.org\r\n")
    assert server.request("PUT", "/bob/cal/invitation.ics", user="bob", body=invitation,
                          headers={"Content-Type": "text/calendar"}).status_code == 201
    (href,), = server.rows("SELECT i.href FROM item i JOIN collection c "
                           "ON c.id = i.collection_id WHERE c.path = 'alice/inbox'")
    paths = {**RESOURCES, "message": f"/alice/inbox/{href}"}
    return server, paths


def send(server, paths: dict[str, str], variant: str, resource: str, user: str | None):
    method, body, headers = request_of(variant, resource)
    return server.request(method, paths[resource], user=user, body=body, headers=headers)


def test_every_request_answers_as_the_table_says_and_refusals_change_nothing(world):
    server, paths = world
    wrong = []
    for variant, who, expected in read_table():
        for resource, status in expected.items():
            before = snapshot(server)
            response = send(server, paths, variant, resource, USERS[who])
            if response.status_code != status:
                wrong.append(f"{variant} as {who} on {resource}: "
                             f"{response.status_code}, expected {status}")
            if response.status_code >= 400 and snapshot(server) != before:
                wrong.append(f"{variant} as {who} on {resource}: refused but changed rows")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("method", "order"), owner_writes(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_the_owners_writes_answer_as_the_table_says(world, method, order):
    server, paths = world
    wrong = []
    for resource, status in order:
        before = snapshot(server)
        response = send(server, paths, method, resource, "alice")
        if response.status_code != status:
            wrong.append(f"{method} on {resource}: {response.status_code}, expected {status}"
                         f" ({response.text[:200]!r})")
        if response.status_code >= 400 and snapshot(server) != before:
            wrong.append(f"{method} on {resource}: refused but changed rows")
    assert not wrong, "\n".join(wrong)
