"""The byte-bounded LRU behind kalend's answer and calendar-data caches."""

from __future__ import annotations

from kalend.server.byte_lru import ByteBoundedLRU


def test_the_least_recently_used_values_go_first_when_the_bytes_run_out():
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(100)
    lru.put("a", "A", 25)
    lru.put("b", "B", 25)
    lru.put("c", "C", 25)
    assert lru.get("a") == "A"          # "b" is now the least recently used
    lru.put("d", "D", 25)
    lru.put("e", "E", 25)

    assert lru.get_many(["a", "b", "c", "d", "e"]) == {"a": "A", "c": "C", "d": "D",
                                                       "e": "E"}
    assert lru.held_bytes == 100


def test_get_many_counts_as_a_use():
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(60)
    for key in "abcd":
        lru.put(key, key.upper(), 15)
    lru.get_many(["a"])                 # "b" is now the least recently used
    lru.put("e", "E", 15)

    assert set(lru.get_many(["a", "b", "c", "d", "e"])) == {"a", "c", "d", "e"}


def test_a_value_over_a_quarter_of_the_bound_is_not_kept():
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(100)
    lru.put("small", "s", 25)
    lru.put("big", "b", 26)

    assert lru.get("big") is None
    assert lru.get("small") == "s"


def test_replacing_a_key_counts_its_bytes_once():
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(100)
    lru.put("a", "old", 20)
    lru.put("a", "new", 10)

    assert lru.get("a") == "new"
    assert lru.held_bytes == 10 and len(lru) == 1
    lru.discard("a")
    assert lru.held_bytes == 0 and lru.get("a") is None


def test_a_bound_of_zero_keeps_nothing():
    lru: ByteBoundedLRU[str, str] = ByteBoundedLRU(0)
    lru.put("a", "A", 1)

    assert not lru.enabled
    assert lru.get("a") is None and lru.get_many(["a"]) == {}
