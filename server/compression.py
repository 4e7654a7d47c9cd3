"""gzip for responses, at a level chosen for a calendar server's answers.

Radicale compresses every answer a client accepts gzip for at zlib's default
level 6. A week view with its calendar data is about 300 KB of XML, and level 6
spends about 3 ms on it, a sixth of the whole request; level 1 spends about a
quarter of that and the answer grows by a few percent, which matters far less
than the time on the networks calendar clients sync over. Small answers (a
PUT's empty body, a 404, one ETag) are sent as they are: compressing them
costs more than the bytes it saves.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

from radicale import types

#: zlib level: 1 is the fastest that still shrinks iCalendar XML about sixfold.
LEVEL = 1
#: Answers shorter than this are not compressed.
MIN_SIZE = 1024
#: Where a REPORT leaves an answer it keeps in ``answer_cache`` (the same
#: value as ``answer_cache.ENVIRON_KEY``; that module imports this one).
CACHED_ANSWER_KEY = "kalend.cached_answer"

Handled = tuple[str, list[tuple[str, str]], Iterable[bytes]]


def accepts_gzip(environ: types.WSGIEnviron) -> bool:
    """Accept-Encoding lists gzip (without ``;q=0``, RFC 9110 §12.5.3)."""
    for entry in environ.get("HTTP_ACCEPT_ENCODING", "").split(","):
        coding, _, params = entry.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            return _quality(params) > 0
    return False


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def gzip_handled(handle: Callable[[types.WSGIEnviron], Handled],
                 environ: types.WSGIEnviron) -> Handled:
    """Run Radicale's request handler without its compression, then compress
    the answer here."""
    accept = environ.pop("HTTP_ACCEPT_ENCODING", None)
    try:
        status, headers, answers = handle(environ)
    finally:
        if accept is not None:
            environ["HTTP_ACCEPT_ENCODING"] = accept
    answers = list(answers)
    body = answers[0] if len(answers) == 1 else b"".join(answers)
    names = {name.lower() for name, _ in headers}
    if len(body) < MIN_SIZE or "content-encoding" in names:
        return status, headers, [body]
    cached = environ.get(CACHED_ANSWER_KEY)
    if cached is not None and cached.body is body:
        body = cached.gzipped()      # compressed once per cached answer
    else:
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        body = compressor.compress(body) + compressor.flush()
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body))),
                ("Vary", "Accept-Encoding")]
    return status, headers, [body]
