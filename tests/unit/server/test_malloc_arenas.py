"""A serving process keeps one glibc malloc arena however many request
threads it has (server/malloc_arenas.py), unless MALLOC_ARENA_MAX says
otherwise. Each case runs in a fresh interpreter: the limit is process-wide
and glibc reads the environment variable only at start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

# Eight threads allocate at once through libc (ctypes releases the
# interpreter lock around the call, so they do contend for the heap), then
# malloc_info(3) reports the arenas ("heaps") the process has.
_CHILD = textwrap.dedent("""
    import ctypes, ctypes.util, re, sys, threading
    if sys.argv[1] == "limit":
        from kalend.server.malloc_arenas import limit_malloc_arenas
        print("applied", limit_malloc_arenas())
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    start = threading.Barrier(8)
    def allocate():
        start.wait()
        for _ in range(20000):
            libc.free(libc.malloc(4096))
    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc.malloc_info(0, stream)
    libc.fflush(stream)
    print("heaps", len(re.findall(r"<heap nr=", buffer.value.decode())))
""")


def _run(mode: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True,
                          text=True, timeout=120, env=environment)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _heaps(output: str) -> int:
    found = re.search(r"heaps (\d+)", output)
    assert found, output
    return int(found.group(1))


def test_without_the_limit_contending_threads_get_arenas_of_their_own():
    # What the limit is for: without it glibc hands out more arenas.
    assert _heaps(_run("none")) > 1


def test_with_the_limit_the_threads_share_one_arena():
    output = _run("limit")
    assert "applied True" in output
    assert _heaps(output) == 1


def test_an_administrators_malloc_arena_max_is_left_alone():
    output = _run("limit", MALLOC_ARENA_MAX="4")
    assert "applied False" in output
    assert 1 < _heaps(output) <= 4
