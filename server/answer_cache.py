"""Answers of listing REPORTs, reused while their collection is unchanged.

Calendar clients ask the same thing again and again: Thunderbird and DAVx5
poll "this month's events" on a timer, a team's members open the same shared
calendar for the same week, a web view refreshes. Every write, delete and
PROPPATCH advances the collection's sync sequence, which is part of its
ETag (``Collection.etag``), so an answer computed at one ETag is the answer
for any later identical request that finds the same ETag — in the same
transaction that would otherwise read the rows. Apple's CalendarServer kept a
response cache for PROPFIND on the same reasoning.

What an answer depends on, and why the key covers it:

* the request body (filter, properties, CALDAV:timezone) — hashed into the key;
* the collection's items and properties (its calendar-timezone decides how
  floating times compare) — the ETag, checked on every use, together with
  the oldest sync token still honoured (``Collection.answer_version``);
* the URL prefix the hrefs are written with — in the key;
* who asks — in the key, although rights are checked before the cache is
  consulted, so that no answer is ever handed across users.

Nothing in a listing depends on the clock: items outside the materialised
window are expanded on the fly to the same answer. Each process keeps its
own cache, bounded in bytes, least recently used first out; several kalend
processes on one database stay correct because the ETag is read from the
database each time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kalend.server import compression
from kalend.server.byte_lru import ByteBoundedLRU


@dataclass
class CachedAnswer:
    """A 207 answer and, once a client has asked for it, its gzip form."""

    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Bytes held, counting room for the gzip form (iCalendar XML shrinks
        six- to eightfold at level 1, so a quarter is ample)."""
        return len(self.body) + len(self.body) // 4

    def gzipped(self) -> bytes:
        # Computed at most a few times under a race; each result is the same.
        if self._gzipped is None:
            self._gzipped = compression.gzip_bytes(self.body)
        return self._gzipped


#: The WSGI environ key under which a REPORT leaves the answer it served, so
#: that the compression step can reuse its gzip form.
ENVIRON_KEY = compression.CACHED_ANSWER_KEY

CacheKey = tuple[str, str, str, bytes]


def cache_key(user: str, base_prefix: str, path: str, body: bytes) -> CacheKey:
    return (user, base_prefix, path, hashlib.blake2b(body, digest_size=20).digest())


class AnswerCache:
    """A byte-bounded LRU of answers; ``max_bytes`` 0 turns it off."""

    def __init__(self, max_bytes: int) -> None:
        self._lru: ByteBoundedLRU[CacheKey, CachedAnswer] = ByteBoundedLRU(max_bytes)

    def get(self, key: CacheKey, version: str) -> CachedAnswer | None:
        entry = self._lru.get(key)
        if entry is not None and entry.version != version:
            self._lru.discard(key)
            return None
        return entry

    def put(self, key: CacheKey, version: str, headers: dict[str, str],
            body: bytes) -> CachedAnswer:
        entry = CachedAnswer(version, tuple(headers.items()), body)
        self._lru.put(key, entry, entry.size)
        return entry
