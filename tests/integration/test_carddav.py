"""CardDAV address books over raw HTTP (``requests`` only), on both databases.

The requests follow RFC 6352 as DAVx5 and Apple Contacts send them:
discovery through /.well-known/carddav, an extended MKCOL (RFC 5689) with the
addressbook resource type, vCard 3.0 and 4.0 resources, addressbook-multiget,
addressbook-query with text-match, sync-collection and DELETE.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import requests
from dav_support import CARDDAV, DAV, clark, fixture_text, ok_text, parse_multistatus

ADA = "carddav_vcard3_ada_lovelace.vcf"
ADA_NEW_EMAIL = "carddav_vcard3_ada_lovelace_new_email.vcf"
GRACE = "carddav_vcard4_grace_hopper.vcf"
ADA_UID = "9C1B7B8E-3F0A-4E55-9F0A-ADA000000001"
GRACE_UID = "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1"


EXTENDED_MKCOL = """<?xml version="1.0" encoding="UTF-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:set>
    <D:prop>
      <D:resourcetype>
        <D:collection/>
        <CR:addressbook/>
      </D:resourcetype>
      <D:displayname>Contacts</D:displayname>
      <CR:addressbook-description>People I work with</CR:addressbook-description>
    </D:prop>
  </D:set>
</D:mkcol>
"""


def make_addressbook(server, user: str = "alice", name: str = "contacts") -> requests.Response:
    response = server.request("MKCOL", f"/{user}/{name}/", user=user, body=EXTENDED_MKCOL,
                              headers={"Content-Type": "application/xml; charset=utf-8"})
    assert response.status_code == 201, response.text
    return response


def put_card(server, href: str, fixture: str, headers: dict | None = None) -> requests.Response:
    return server.request("PUT", f"/alice/contacts/{href}", user="alice",
                          body=fixture_text(fixture),
                          headers={"Content-Type": "text/vcard; charset=utf-8", **(headers or {})})


def card_rows(server) -> list[tuple]:
    return server.rows(
        "SELECT i.href, i.uid, i.etag, i.name FROM item i "
        "JOIN collection c ON c.id = i.collection_id WHERE c.path = 'alice/contacts' "
        "ORDER BY i.href")


def change_rows(server) -> list[tuple]:
    return [(href, bool(deleted)) for href, deleted in server.rows(
        'SELECT ch.href, ch.deleted FROM "change" ch JOIN collection c ON c.id = ch.collection_id '
        "WHERE c.path = 'alice/contacts' ORDER BY ch.seq, ch.id")]


def query(text_matches: str, test: str = "anyof") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop>
    <D:getetag/>
    <CR:address-data/>
  </D:prop>
  <CR:filter test="{test}">
    {text_matches}
  </CR:filter>
</CR:addressbook-query>
"""


def sync_body(token: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<D:sync-collection xmlns:D="DAV:"><D:sync-token>' + token + '</D:sync-token>'
            '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')


def test_well_known_carddav_redirects_permanently_to_the_root(server):
    server.add_user("alice")

    response = requests.request("PROPFIND", server.url.rstrip("/") + "/.well-known/carddav",
                                auth=("alice", "secret-pw"), headers={"Depth": "0"},
                                allow_redirects=False, timeout=60)

    assert response.status_code == 301
    assert response.headers["Location"] == "/"


def test_principal_gives_the_addressbook_home_set(server):
    server.add_user("alice")

    response = server.request(
        "PROPFIND", "/alice/", user="alice", headers={"Depth": "0"},
        body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
             'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:addressbook-home-set/>'
             '<D:current-user-principal/></D:prop></D:propfind>')

    props = parse_multistatus(response)["/alice/"]
    assert props[clark(CARDDAV, "addressbook-home-set")][1].findtext(clark(DAV, "href")) == \
        "/alice/"


def test_extended_mkcol_creates_an_address_book_with_its_properties(server):
    server.add_user("alice")

    make_addressbook(server)

    (tag, props), = server.rows("SELECT tag, props FROM collection WHERE path = 'alice/contacts'")
    assert tag == "VADDRESSBOOK"
    props = json.loads(props)
    assert props["D:displayname"] == "Contacts"
    assert props["CR:addressbook-description"] == "People I work with"
    listing = parse_multistatus(server.request(
        "PROPFIND", "/alice/", user="alice", headers={"Depth": "1"},
        body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
             'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:resourcetype/>'
             '<D:displayname/><CR:addressbook-description/><D:sync-token/></D:prop></D:propfind>'))
    book = listing["/alice/contacts/"]
    assert {c.tag for c in book[clark(DAV, "resourcetype")][1]} == {
        clark(DAV, "collection"), clark(CARDDAV, "addressbook")}
    assert ok_text(book, DAV, "displayname") == "Contacts"
    assert ok_text(book, CARDDAV, "addressbook-description") == "People I work with"
    assert ok_text(book, DAV, "sync-token").startswith("urn:kalend:sync:")
    again = server.request("MKCOL", "/alice/contacts/", user="alice", body=EXTENDED_MKCOL)
    assert again.status_code == 405
    assert server.rows("SELECT COUNT(*) FROM collection WHERE path = 'alice/contacts'") == [(1,)]


def test_put_vcard_3_and_4_then_get_returns_them_with_their_etags(server):
    server.add_user("alice")
    make_addressbook(server)

    ada = put_card(server, "ada.vcf", ADA, headers={"If-None-Match": "*"})
    grace = put_card(server, "grace.vcf", GRACE, headers={"If-None-Match": "*"})

    assert (ada.status_code, grace.status_code) == (201, 201)
    assert card_rows(server) == [
        ("ada.vcf", ADA_UID, ada.headers["ETag"], "VCARD"),
        ("grace.vcf", GRACE_UID, grace.headers["ETag"], "VCARD")]
    texts = dict(server.rows("SELECT href, text FROM item"))
    for href, response, version, line in (
            ("ada.vcf", ada, "3.0", "EMAIL;TYPE=INTERNET,WORK,pref:ada@engines.example"),
            ("grace.vcf", grace, "4.0", "EMAIL;TYPE=work:grace@navy.example")):
        fetched = server.request("GET", f"/alice/contacts/{href}", user="alice")
        assert fetched.status_code == 200
        assert fetched.headers["Content-Type"].startswith("text/vcard")
        assert fetched.headers["ETag"] == response.headers["ETag"]
        assert fetched.content == texts[href].encode("utf-8")
        lines = fetched.text.split("\r\n")
        assert f"VERSION:{version}" in lines
        assert line.lower() in (entry.lower() for entry in lines)
    assert "FN:Grace Hopper" in texts["grace.vcf"].split("\r\n")
    assert "BDAY:19061209" in texts["grace.vcf"].split("\r\n")
    assert change_rows(server) == [("ada.vcf", False), ("grace.vcf", False)]


def test_put_with_stale_if_match_leaves_the_card_unchanged(server):
    server.add_user("alice")
    make_addressbook(server)
    first = put_card(server, "ada.vcf", ADA).headers["ETag"]
    updated = put_card(server, "ada.vcf", ADA_NEW_EMAIL, headers={"If-Match": first})
    before = server.rows("SELECT href, etag, text FROM item")

    stale = put_card(server, "ada.vcf", ADA, headers={"If-Match": first})

    assert updated.status_code == 204
    assert stale.status_code == 412
    assert server.rows("SELECT href, etag, text FROM item") == before
    assert "countess@lovelace.example" in before[0][2]


def test_addressbook_multiget_returns_address_data_and_404_for_unknown_cards(server):
    server.add_user("alice")
    make_addressbook(server)
    put_card(server, "ada.vcf", ADA)
    put_card(server, "grace.vcf", GRACE)

    response = server.request(
        "REPORT", "/alice/contacts/", user="alice",
        headers={"Depth": "1", "Content-Type": "text/xml"},
        body='<?xml version="1.0" encoding="UTF-8"?>\n'
             '<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">'
             '<D:prop><D:getetag/><CR:address-data/></D:prop>'
             '<D:href>/alice/contacts/ada.vcf</D:href><D:href>/alice/contacts/grace.vcf</D:href>'
             '<D:href>/alice/contacts/nobody.vcf</D:href></CR:addressbook-multiget>')

    result = parse_multistatus(response)
    rows = {href: (etag, text) for href, etag, text in server.rows(
        "SELECT href, etag, text FROM item")}
    for href in ("ada.vcf", "grace.vcf"):
        props = result[f"/alice/contacts/{href}"]
        assert ok_text(props, DAV, "getetag") == rows[href][0]
        assert ok_text(props, CARDDAV, "address-data") == rows[href][1].replace("\r\n", "\n")
    assert " 404 " in result["/alice/contacts/nobody.vcf"]["status"][0]


def test_addressbook_query_text_match_on_fn_and_email_finds_the_right_cards(server):
    server.add_user("alice")
    make_addressbook(server)
    put_card(server, "ada.vcf", ADA)
    put_card(server, "grace.vcf", GRACE)

    def found(filter_xml: str, test: str = "anyof") -> set[str]:
        return set(parse_multistatus(server.request(
            "REPORT", "/alice/contacts/", user="alice",
            headers={"Depth": "1", "Content-Type": "text/xml"}, body=query(filter_xml, test))))

    by_name = found('<CR:prop-filter name="FN"><CR:text-match collation="i;unicode-casemap" '
                    'match-type="contains">hopper</CR:text-match></CR:prop-filter>')
    by_email = found('<CR:prop-filter name="EMAIL"><CR:text-match collation="i;unicode-casemap" '
                     'match-type="ends-with">@engines.example</CR:text-match></CR:prop-filter>')
    either = found('<CR:prop-filter name="FN"><CR:text-match match-type="starts-with">Grace'
                   '</CR:text-match></CR:prop-filter>'
                   '<CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">ada@'
                   '</CR:text-match></CR:prop-filter>')
    both = found('<CR:prop-filter name="FN"><CR:text-match match-type="contains">Ada'
                 '</CR:text-match></CR:prop-filter>'
                 '<CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">navy'
                 '</CR:text-match></CR:prop-filter>', test="allof")
    nobody = found('<CR:prop-filter name="FN"><CR:text-match match-type="equals">Alan Turing'
                   '</CR:text-match></CR:prop-filter>')
    negated = found('<CR:prop-filter name="FN"><CR:text-match negate-condition="yes" '
                    'match-type="contains">Ada</CR:text-match></CR:prop-filter>')

    assert by_name == {"/alice/contacts/grace.vcf"}
    assert by_email == {"/alice/contacts/ada.vcf"}
    assert either == {"/alice/contacts/ada.vcf", "/alice/contacts/grace.vcf"}
    assert both == set()
    assert nobody == set()
    assert negated == {"/alice/contacts/grace.vcf"}


def test_addressbook_query_returns_the_stored_vcard(server):
    server.add_user("alice")
    make_addressbook(server)
    put_card(server, "grace.vcf", GRACE)

    response = server.request(
        "REPORT", "/alice/contacts/", user="alice", headers={"Depth": "1"},
        body=query('<CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">'
                   'grace@navy</CR:text-match></CR:prop-filter>'))

    props = parse_multistatus(response)["/alice/contacts/grace.vcf"]
    (etag, text), = server.rows("SELECT etag, text FROM item")
    assert ok_text(props, DAV, "getetag") == etag
    assert ok_text(props, CARDDAV, "address-data") == text.replace("\r\n", "\n")


def test_sync_collection_reports_new_changed_and_deleted_cards(server):
    server.add_user("alice")
    make_addressbook(server)
    ada = put_card(server, "ada.vcf", ADA).headers["ETag"]
    initial = server.request("REPORT", "/alice/contacts/", user="alice",
                             headers={"Depth": "1"}, body=sync_body(""))
    listed = parse_multistatus(initial)
    token = ET.fromstring(initial.content).findtext(clark(DAV, "sync-token"))
    assert set(listed) == {"/alice/contacts/ada.vcf"}
    assert ok_text(listed["/alice/contacts/ada.vcf"], DAV, "getetag") == ada

    grace = put_card(server, "grace.vcf", GRACE).headers["ETag"]
    ada_new = put_card(server, "ada.vcf", ADA_NEW_EMAIL, headers={"If-Match": ada}).headers["ETag"]
    server.request("DELETE", "/alice/contacts/grace.vcf", user="alice",
                   headers={"If-Match": grace})
    delta = server.request("REPORT", "/alice/contacts/", user="alice",
                           headers={"Depth": "1"}, body=sync_body(token))

    changes = parse_multistatus(delta)
    assert set(changes) == {"/alice/contacts/ada.vcf", "/alice/contacts/grace.vcf"}
    assert ok_text(changes["/alice/contacts/ada.vcf"], DAV, "getetag") == ada_new
    assert list(changes["/alice/contacts/grace.vcf"]) == ["status"]
    assert " 404 " in changes["/alice/contacts/grace.vcf"]["status"][0]
    new_token = ET.fromstring(delta.content).findtext(clark(DAV, "sync-token"))
    assert new_token != token
    assert parse_multistatus(server.request("REPORT", "/alice/contacts/", user="alice",
                                            headers={"Depth": "1"},
                                            body=sync_body(new_token))) == {}
    assert change_rows(server) == [("ada.vcf", False), ("grace.vcf", False),
                                   ("ada.vcf", False), ("grace.vcf", True)]


def test_delete_removes_the_card_and_deleting_the_address_book_removes_everything(server):
    server.add_user("alice")
    make_addressbook(server)
    ada = put_card(server, "ada.vcf", ADA).headers["ETag"]
    put_card(server, "grace.vcf", GRACE)

    deleted = server.request("DELETE", "/alice/contacts/ada.vcf", user="alice",
                             headers={"If-Match": ada})

    assert deleted.status_code == 200
    assert server.request("GET", "/alice/contacts/ada.vcf", user="alice").status_code == 404
    assert [row[0] for row in card_rows(server)] == ["grace.vcf"]
    assert change_rows(server)[-1] == ("ada.vcf", True)

    dropped = server.request("DELETE", "/alice/contacts/", user="alice")

    assert dropped.status_code == 200
    assert server.request("PROPFIND", "/alice/contacts/", user="alice",
                          headers={"Depth": "0"}).status_code == 404
    assert server.rows("SELECT path FROM collection WHERE path LIKE 'alice/%' "
                       "ORDER BY path") == [("alice/default",), ("alice/inbox",),
                                            ("alice/outbox",)]
    assert server.count("item") == 0
    assert server.count("change") == 0
