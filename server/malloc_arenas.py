"""Fewer glibc malloc arenas for a serving process.

Why: glibc gives each thread that allocates while another holds the main
heap's lock an arena of its own, up to eight per core, and memory freed in
an arena stays mapped in that arena. The HTTP front keeps a pool of request
threads (``[server] max_connections``) that take requests in turn, so after
a few thousand requests each of them has left an arena with freed answers,
parsed bodies and SQLite pages in it. Measured on the 10,000-event benchmark
data (SQLite, the bench's read rows, PUTs and two rounds of eight concurrent
writers, 2026-12-08): 152 MB resident with glibc's default, 126 MB with one
arena, 121 MB for kalend's first server, which ran each connection in a
thread that ended with it. Speed was the same within the noise (PUT
throughput 145/s against 146/s): Python allocates under its interpreter
lock, so threads seldom contend for the heap.

``MALLOC_ARENA_MAX`` in the environment still wins: glibc reads it when the
process starts, and this module then leaves the setting alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger("kalend.server")

#: glibc's mallopt parameter for the arena limit (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
#: Arenas a serving process may use.
SERVING_ARENAS = 1


def limit_malloc_arenas(count: int = SERVING_ARENAS) -> bool:
    """Cap this process's malloc arenas at ``count``; call it before the
    request threads start. False where there is no glibc (musl, macOS), or
    where the administrator chose a limit through ``MALLOC_ARENA_MAX``."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = mallopt(_M_ARENA_MAX, count) == 1
    if not applied:
        logger.debug("mallopt(M_ARENA_MAX, %d) was refused; glibc's default stays", count)
    return applied
