"""Calendar-user addresses (RFC 5545 §3.3.3, RFC 6638 §2.4.1) as compared by kalend.

An address is a URI. Clients write the same person as ``mailto:Bob@Example.com``,
``MAILTO:bob@example.com`` or ``mailto:bob@example.com`` with stray spaces, and a
server that compared them as written would invite Bob twice or miss his reply.
RFC 3986 makes the scheme case-insensitive; RFC 5321 leaves the local part of
an e-mail address case-sensitive in theory, but no mail system in use treats
it so, and every calendar server compares e-mail addresses without case. Other
URIs (``urn:uuid:…``, ``https://…/principals/…``) are opaque: only the scheme
is folded.
"""

from __future__ import annotations

MAILTO = "mailto:"


def normalize(address: str) -> str:
    """The form of ``address`` used for every comparison and every message field.

    ``mailto:`` addresses are lower-cased whole; other URIs keep their case
    except for the scheme; an empty or blank address gives ``""``.
    """
    text = (address or "").strip()
    if not text:
        return ""
    if text[: len(MAILTO)].lower() == MAILTO:
        return MAILTO + text[len(MAILTO) :].strip().lower()
    scheme, colon, rest = text.partition(":")
    if (
        colon
        and scheme.isascii()
        and scheme.replace("+", "").replace("-", "").replace(".", "").isalnum()
    ):
        return scheme.lower() + ":" + rest
    return text


def is_mailto(address: str) -> bool:
    """Whether ``address`` is an e-mail address (and so can be reached by iMIP, RFC 6047)."""
    return normalize(address).startswith(MAILTO)
