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

A calendar-query answer is also kept response by response (``Responses``),
with the collection's sequence it was computed at. After a few writes the
next identical query need not be computed afresh: the change log names the
items written since, and only they are looked up again (``report``). A
client polling "this week" while its team edits the calendar sees each
change at the cost of the change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from kalend.server import compression
from kalend.server.byte_lru import ByteBoundedLRU


@dataclass(frozen=True)
class Responses:
    """A calendar-query answer's ``<D:response>`` texts by href, and the
    collection (row id and change sequence) they describe. Never changed
    once made: an answer brought up to date is a new one."""

    collection_id: int
    seq: int
    by_href: dict[str, str]


@dataclass
class CachedAnswer:
    """A 207 answer and, once a client has asked for it, its gzip form."""

    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    responses: Responses | None = None
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        """Bytes held, counting room for the gzip form (iCalendar XML shrinks
        six- to eightfold at level 1, so a quarter is ample) and the
        responses, which hold the body's text once more."""
        body = len(self.body)
        return body + body // 4 + (body if self.responses is not None else 0)

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
        """The answer for ``key`` at this collection ``version``, if kept.
        An older one is dropped unless it can be brought up to date."""
        entry = self._lru.get(key)
        if entry is not None and entry.version != version:
            if entry.responses is None:
                self._lru.discard(key)
            return None
        return entry

    def previous(self, key: CacheKey) -> Responses | None:
        """The responses of the last answer for ``key``, whatever its version."""
        entry = self._lru.get(key)
        return None if entry is None else entry.responses

    def put(self, key: CacheKey, version: str, headers: dict[str, str],
            body: bytes, responses: Responses | None = None) -> CachedAnswer:
        entry = CachedAnswer(version, tuple(headers.items()), body, responses)
        self._lru.put(key, entry, entry.size)
        return entry
