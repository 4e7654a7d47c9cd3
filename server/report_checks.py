"""What a REPORT body must be before kalend or Radicale acts on it.

Radicale reads a filter as it goes and raises ValueError (a 500) or an
assertion on what it does not expect: two comp-filters in one filter, an
empty multiget href, a text-match with a collation or match type it does
not know; kalend's range code failed on a DATE or an unreadable
time-range. Checked here first, each of those is a 400 with the
precondition RFC 4791 (or RFC 6352 for address books) names for it.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from radicale import xmlutils


def _c(tag: str) -> str:
    return xmlutils.make_clark(tag)


@dataclass(frozen=True)
class BodyProblem:
    precondition: str
    reason: str


def body_problem(root: ET.Element) -> BodyProblem | None:
    """The first problem of a REPORT body, or None."""
    reason = _time_range_problem(root)
    if reason is not None:
        return BodyProblem("C:valid-filter", reason)
    reason = _href_problem(root)
    if reason is not None:
        # No precondition names a malformed multiget; the nearest is the
        # filter's, the part of the body that says what is asked for.
        return BodyProblem("CR:valid-filter" if root.tag == _c("CR:addressbook-multiget")
                           else "C:valid-filter", reason)
    if root.tag == _c("C:calendar-query"):
        reason = _calendar_filter_problem(root.find(_c("C:filter")))
        if reason is not None:
            return BodyProblem("C:valid-filter", reason)
    if root.tag == _c("CR:addressbook-query"):
        reason = _card_filter_problem(root.find(_c("CR:filter")))
        if reason is not None:
            return BodyProblem("CR:valid-filter", reason)
    return None


# -- time ranges (RFC 4791 §9.9) ------------------------------------------------

#: "date with UTC time": YYYYMMDDTHHMMSSZ.
_UTC_DATE_TIME = re.compile(r"^\d{8}T\d{6}Z$")
_RANGED = tuple(_c(t) for t in ("C:time-range", "C:expand", "C:limit-recurrence-set",
                                "C:limit-freebusy-set"))


def _time_range_problem(root: ET.Element) -> str | None:
    """RFC 4791 §9.9: a time-range's start and end are date-times in UTC, and
    at least one is present (§9.6.5-9.6.7 ask both of expand and the limit
    elements, which ``report.calendar_data_shape`` checks); a DATE, a
    floating time or anything else unreadable reached the range code and
    answered 500."""
    for element in root.iter():
        if element.tag not in _RANGED:
            continue
        name = xmlutils.make_human_tag(element.tag)
        values = [(attribute, element.get(attribute)) for attribute in ("start", "end")]
        if element.tag == _c("C:time-range") and not any(v for _, v in values):
            return f"{name} has neither start nor end"
        for attribute, value in values:
            if value is None:
                continue
            if not _UTC_DATE_TIME.match(value.strip()):
                return f"{name} {attribute}={value!r} is not a UTC date-time (YYYYMMDDTHHMMSSZ)"
            try:
                dt.datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ")
            except ValueError:
                return f"{name} {attribute}={value!r} is not a date"
    return None


# -- multiget (RFC 4791 §7.9, RFC 6352 §8.7) -------------------------------------

_MULTIGETS = (_c("C:calendar-multiget"), _c("CR:addressbook-multiget"))


def _href_problem(root: ET.Element) -> str | None:
    """A multiget names its resources by DAV:href; an empty one made
    Radicale's handler fail."""
    if root.tag not in _MULTIGETS:
        return None
    for href in root.findall(_c("D:href")):
        if not (href.text or "").strip():
            return "a multiget with an empty DAV:href"
    return None


# -- calendar-query filters (RFC 4791 §9.7) ----------------------------------------

#: RFC 4791 §7.5.1: the collations a server must support (Radicale's too).
_CALDAV_COLLATIONS = ("i;octet", "i;ascii-casemap")
#: RFC 6352 §8.3: CardDAV adds i;unicode-casemap, which Radicale also reads.
_CARDDAV_COLLATIONS = (*_CALDAV_COLLATIONS, "i;unicode-casemap")
_MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")


def _calendar_filter_problem(filter_: ET.Element | None) -> str | None:
    """``filter (comp-filter)`` whose comp-filter is the VCALENDAR one, and
    the grammar of §9.7.1-9.7.5 below it."""
    if filter_ is None:
        return None     # lenient: Radicale answers every object then
    children = list(filter_)
    if len(children) != 1 or children[0].tag != _c("C:comp-filter"):
        return "CALDAV:filter must hold exactly one comp-filter"
    if (children[0].get("name") or "").upper() != "VCALENDAR":
        return "the top comp-filter must be VCALENDAR"
    return _comp_filter_problem(children[0])


def _named(element: ET.Element) -> str | None:
    name = xmlutils.make_human_tag(element.tag)
    if not (element.get("name") or "").strip():
        return f"{name} without a name"
    return None


def _alone(element: ET.Element, children: list[ET.Element], ns: str) -> str | None:
    """is-not-defined excludes every other test (§9.7.1-9.7.3)."""
    if any(c.tag == _c(f"{ns}:is-not-defined") for c in children) and len(children) > 1:
        return f"{xmlutils.make_human_tag(element.tag)}: is-not-defined with other tests"
    return None


def _comp_filter_problem(element: ET.Element) -> str | None:
    allowed = {_c("C:is-not-defined"), _c("C:time-range"), _c("C:prop-filter"),
               _c("C:comp-filter")}
    children = list(element)
    problem = _named(element) or _alone(element, children, "C") or _unexpected(
        element, children, allowed)
    if problem is None and sum(c.tag == _c("C:time-range") for c in children) > 1:
        problem = "comp-filter with two time-ranges"
    for child in children:
        if problem is not None:
            break
        if child.tag == _c("C:comp-filter"):
            problem = _comp_filter_problem(child)
        elif child.tag == _c("C:prop-filter"):
            problem = _prop_filter_problem(child, "C")
    return problem


def _prop_filter_problem(element: ET.Element, ns: str) -> str | None:
    tests = {_c(f"{ns}:text-match")} | ({_c("C:time-range")} if ns == "C" else set())
    allowed = {_c(f"{ns}:is-not-defined"), _c(f"{ns}:param-filter")} | tests
    children = list(element)
    problem = _named(element) or _alone(element, children, ns) or _unexpected(
        element, children, allowed) or _test_attribute(element, ns)
    if problem is None and ns == "C" and sum(c.tag in tests for c in children) > 1:
        problem = "prop-filter with more than one time-range or text-match"
    for child in children:
        if problem is not None:
            break
        if child.tag == _c(f"{ns}:param-filter"):
            problem = _param_filter_problem(child, ns)
        elif child.tag == _c(f"{ns}:text-match"):
            problem = _text_match_problem(child, ns)
    return problem


def _param_filter_problem(element: ET.Element, ns: str) -> str | None:
    allowed = {_c(f"{ns}:is-not-defined"), _c(f"{ns}:text-match")}
    children = list(element)
    problem = _named(element) or _alone(element, children, ns) or _unexpected(
        element, children, allowed)
    if problem is None and len(children) > 1:
        problem = "param-filter with more than one test"
    for child in children:
        if problem is None and child.tag == _c(f"{ns}:text-match"):
            problem = _text_match_problem(child, ns)
    return problem


def _text_match_problem(element: ET.Element, ns: str) -> str | None:
    collations = _CALDAV_COLLATIONS if ns == "C" else _CARDDAV_COLLATIONS
    collation = element.get("collation")
    if collation is not None and collation not in collations:
        return f"text-match collation {collation!r} is not supported"
    negate = element.get("negate-condition")
    if negate is not None and negate not in ("yes", "no"):
        return f"text-match negate-condition={negate!r} is neither yes nor no"
    match_type = element.get("match-type")
    if match_type is not None and match_type not in _MATCH_TYPES:
        return f"text-match match-type={match_type!r} is not one of {', '.join(_MATCH_TYPES)}"
    if len(element):
        return "text-match holds elements"
    return None


def _test_attribute(element: ET.Element, ns: str) -> str | None:
    test = element.get("test")
    if test is not None and test not in ("anyof", "allof"):
        return f"{xmlutils.make_human_tag(element.tag)} test={test!r} is neither anyof nor allof"
    return None


def _unexpected(element: ET.Element, children: list[ET.Element],
                allowed: set[str]) -> str | None:
    for child in children:
        if child.tag not in allowed:
            return (f"{xmlutils.make_human_tag(element.tag)} holds "
                    f"{xmlutils.make_human_tag(child.tag)}")
    return None


# -- addressbook-query filters (RFC 6352 §10.5) -------------------------------------


def _card_filter_problem(filter_: ET.Element | None) -> str | None:
    if filter_ is None:
        return None
    problem = _test_attribute(filter_, "CR") or _unexpected(
        filter_, list(filter_), {_c("CR:prop-filter")})
    for child in filter_:
        if problem is not None:
            break
        problem = _prop_filter_problem(child, "CR")
    return problem
