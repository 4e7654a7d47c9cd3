"""Helpers for tests that speak raw WebDAV: namespaces, fixtures, multistatus."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import requests

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CS = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"


def clark(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def fixture_bytes(name: str) -> bytes:
    """A fixture with CRLF line ends, whatever the checkout did to them."""
    with open(os.path.join(FIXTURES, name), "rb") as handle:
        return handle.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def fixture_text(name: str) -> str:
    return fixture_bytes(name).decode("utf-8")


def parse_multistatus(response: requests.Response) -> dict[str, dict[str, tuple[str, ET.Element]]]:
    """href -> {property clark name -> (status line, element)}; a response
    without propstat (RFC 6578 removed member) maps to {"status": ...}."""
    assert response.status_code == 207, (response.status_code, response.text)
    root = ET.fromstring(response.content)
    assert root.tag == clark(DAV, "multistatus")
    result: dict[str, dict[str, tuple[str, ET.Element]]] = {}
    for resp in root.findall(clark(DAV, "response")):
        href = resp.findtext(clark(DAV, "href"))
        assert href is not None
        props: dict[str, tuple[str, ET.Element]] = {}
        status = resp.find(clark(DAV, "status"))
        if status is not None:
            props["status"] = (status.text or "", status)
        for propstat in resp.findall(clark(DAV, "propstat")):
            line = propstat.findtext(clark(DAV, "status")) or ""
            container = propstat.find(clark(DAV, "prop"))
            for prop in (container if container is not None else ()):
                props[prop.tag] = (line, prop)
        result[href] = props
    return result


def ok_text(props: dict[str, tuple[str, ET.Element]], namespace: str, name: str) -> str | None:
    line, element = props[clark(namespace, name)]
    assert " 200 " in line, (name, line)
    return element.text
