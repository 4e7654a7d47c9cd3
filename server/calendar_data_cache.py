"""Calendar objects' text, escaped for XML, kept by ETag between listings.

A week view sends the calendar data of a few hundred objects; reading their
text from the database, decoding it and escaping it for XML cost more than
finding which objects are in the week. The text of most of them has not
changed since the last listing, and an ETag names one text: it is the
SHA-256 of the stored text (Radicale's ``get_etag``, which ``kalend verify``
checks), and it must change whenever the text does, or clients syncing by
ETag would miss the change. So a listing reads only the ETags, takes the
escaped text of the ETags seen before from here, and reads the text of the
others only (in the same transaction, so the two agree).

Who may see a cached text needs no check: a hit requires an object with
that very ETag in a collection the user may read, i.e. the same text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from kalend.server.byte_lru import ByteBoundedLRU
from kalend.server.multistatus import escape_text


class CalendarDataCache:
    """ETag -> calendar data escaped for XML; ``max_bytes`` 0 turns it off."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(max_bytes)

    @property
    def enabled(self) -> bool:
        return self._lru.enabled

    def known(self, etags: Iterable[str]) -> dict[str, str]:
        """The escaped text of those ETags seen before."""
        return self._lru.get_many(etags)

    def escaped(self, etag: str, text: str) -> str:
        """``text`` (whose ETag is ``etag``) escaped, and kept."""
        data = escape_text(text)
        self._lru.put(etag, data, sys.getsizeof(data) + sys.getsizeof(etag))
        return data
