"""The measured requests, and the interleaved rounds that time them.

Why interleaved rounds: on a shared two-core machine the background noise
drifts over minutes. Running row R on server A, then B, then C, then the next
row (rotating who goes first each round) exposes all servers to the same
drift, so the ratios stay honest even when the absolute numbers wobble.

Every request checks its HTTP status; a wrong status marks the sample failed
(and the row, in the report) instead of being timed as if it had worked.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.client import HTTPException

from bench import workload as wl
from bench.servers import Server

DAV_NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8"}
_RESPONSE = re.compile(rb"<(?:[A-Za-z0-9_]+:)?response[\s>]")
_SYNC_TOKEN = re.compile(r"<(?:[A-Za-z0-9_]+:)?sync-token>([^<]+)<")
_HREF = re.compile(r"<(?:[A-Za-z0-9_]+:)?href>([^<]+)<")


def _utc(value: dt.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Sample:
    """One timed request (or one throughput window, value in ops/s)."""
    value: float | None
    status: int | None
    ok: bool
    count: int | None = None
    note: str = ""
    timeout: bool = False
    unsupported: bool = False


@dataclass
class Context:
    """Per-run settings and state shared by the row functions."""
    workload: wl.Workload
    timeout: float
    throughput_seconds: float
    multiget_hrefs: list[str]
    change_cursor: dict[str, int] = field(default_factory=dict)
    generation: dict[str, int] = field(default_factory=dict)
    new_counter: dict[str, int] = field(default_factory=dict)


def http(target: Server, method: str, url: str, body: str | None, ctx: Context,
         expect: Sequence[int], headers: dict[str, str] | None = None,
         depth: str | None = None) -> tuple[Sample, bytes]:
    """Time one request from sending to the last byte of the decoded answer
    (see ``bench.client`` for what the client does, and why not more)."""
    hdrs = dict(headers or XML_HEADERS)
    if depth is not None:
        hdrs["Depth"] = depth
    path = url.removeprefix(target.base)
    data = body.encode() if body else None
    started = time.perf_counter()
    try:
        status, content = target.thin_client().request(method, path, data, hdrs, ctx.timeout)
    except TimeoutError:
        return Sample(time.perf_counter() - started, None, False,
                      note=f"timeout after {ctx.timeout:.0f} s", timeout=True), b""
    except (OSError, HTTPException) as exc:
        return Sample(None, None, False, note=f"{type(exc).__name__}: {exc}"[:200]), b""
    elapsed = time.perf_counter() - started
    ok = status in expect
    note = "" if ok else f"HTTP {status}: {content[:160]!r}"
    return Sample(elapsed, status, ok, note=note), content


def _responses(content: bytes) -> int:
    return len(_RESPONSE.findall(content))


# -- read rows ---------------------------------------------------------------------

def _time_range(span: tuple[dt.datetime, dt.datetime]) -> str:
    return f'<C:time-range start="{_utc(span[0])}" end="{_utc(span[1])}"/>'


def _calendar_query(data: str, week: tuple[dt.datetime, dt.datetime] = wl.WEEK) -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-query {DAV_NS}>'
            f'<D:prop><D:getetag/>{data}</D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'{_time_range(week)}</C:comp-filter></C:comp-filter></C:filter>'
            '</C:calendar-query>')


def week_query(target: Server, ctx: Context) -> Sample:
    sample, content = http(target, "REPORT", target.calendar_url,
                           _calendar_query("<C:calendar-data/>"), ctx, (207,), depth="1")
    sample.count = _responses(content) if sample.ok else None
    return sample


def week_query_new(target: Server, ctx: Context) -> Sample:
    """The week view as a request the server has not seen before: a comment
    makes each body unique, so no answer kept for an earlier one applies."""
    body = _calendar_query("<C:calendar-data/>") + f"<!-- {time.time_ns()} -->"
    sample, content = http(target, "REPORT", target.calendar_url, body, ctx, (207,),
                           depth="1")
    sample.count = _responses(content) if sample.ok else None
    return sample


def week_expand(target: Server, ctx: Context,
                week: tuple[dt.datetime, dt.datetime] = wl.WEEK) -> Sample:
    expand = (f'<C:calendar-data><C:expand start="{_utc(week[0])}" '
              f'end="{_utc(week[1])}"/></C:calendar-data>')
    sample, content = http(target, "REPORT", target.calendar_url,
                           _calendar_query(expand, week), ctx, (207,), depth="1")
    # Instances, not resources: what a client draws in the week view.
    sample.count = content.count(b"BEGIN:VEVENT") if sample.ok else None
    return sample


def freebusy_month(target: Server, ctx: Context,
                   month: tuple[dt.datetime, dt.datetime] = wl.MONTH) -> Sample:
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:free-busy-query {DAV_NS}>'
            f'{_time_range(month)}</C:free-busy-query>')
    sample, content = http(target, "REPORT", target.calendar_url, body, ctx, (200,),
                           depth="1")
    sample.count = _busy_periods(content) if sample.ok else None
    return sample


def week_view_at(target: Server, ctx: Context,
                 week: tuple[dt.datetime, dt.datetime]) -> Sample:
    sample, content = http(target, "REPORT", target.calendar_url,
                           _calendar_query("<C:calendar-data/>", week), ctx, (207,),
                           depth="1")
    sample.count = _responses(content) if sample.ok else None
    return sample


def _busy_periods(content: bytes) -> int:
    """Periods, not lines: servers may put several on one FREEBUSY line."""
    text = content.decode("utf-8", "replace").replace("\r\n ", "").replace("\n ", "")
    return sum(line.split(":", 1)[1].count(",") + 1 for line in text.splitlines()
               if line.startswith("FREEBUSY") and ":" in line)


def multiget_100(target: Server, ctx: Context) -> Sample:
    hrefs = "".join(f"<D:href>/{wl.USER}/{wl.CALENDAR}/{h}</D:href>"
                    for h in ctx.multiget_hrefs)
    body = (f'<?xml version="1.0" encoding="utf-8"?><C:calendar-multiget {DAV_NS}>'
            f'<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}'
            '</C:calendar-multiget>')
    sample, content = http(target, "REPORT", target.calendar_url, body, ctx, (207,),
                           depth="1")
    sample.count = content.count(b"BEGIN:VCALENDAR") if sample.ok else None
    if sample.ok and sample.count != len(ctx.multiget_hrefs):
        sample.note = f"{sample.count} of {len(ctx.multiget_hrefs)} items returned"
    return sample


def propfind_etags(target: Server, ctx: Context) -> Sample:
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
            '<D:prop><D:getetag/></D:prop></D:propfind>')
    sample, content = http(target, "PROPFIND", target.calendar_url, body, ctx, (207,),
                           depth="1")
    sample.count = _responses(content) if sample.ok else None
    return sample


def _sync_body(token: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:">'
            f'<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>')


def sync_initial(target: Server, ctx: Context) -> Sample:
    sample, content = http(target, "REPORT", target.calendar_url, _sync_body(""), ctx,
                           (207,))
    sample.count = _responses(content) if sample.ok else None
    return sample


def _current_token(target: Server, ctx: Context) -> str | None:
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
            '<D:prop><D:sync-token/></D:prop></D:propfind>')
    sample, content = http(target, "PROPFIND", target.calendar_url, body, ctx, (207,),
                           depth="0")
    found = _SYNC_TOKEN.search(content.decode("utf-8", "replace")) if sample.ok else None
    return found.group(1) if found else None


def _sync_after(changes: int) -> Callable[[Server, Context], Sample]:
    def row(target: Server, ctx: Context) -> Sample:
        token = _current_token(target, ctx)
        if token is None:
            return Sample(None, None, False, note="no DAV:sync-token on the calendar")
        cursor = ctx.change_cursor.get(target.name, 0)
        generation = ctx.generation.get(target.name, 0) + 1
        ctx.generation[target.name] = generation
        events = ctx.workload.own_events
        chosen = [wl.modified(events[(cursor + i) % len(events)], generation)
                  for i in range(changes)]
        ctx.change_cursor[target.name] = cursor + changes
        statuses = target.change_events(chosen)
        bad = [s for s in statuses if s not in (201, 204)]
        if bad:
            return Sample(None, bad[0], False, note=f"{len(bad)} change PUTs failed")
        sample, content = http(target, "REPORT", target.calendar_url, _sync_body(token),
                               ctx, (207,))
        if sample.ok:
            sample.count = _responses(content)
            if sample.count != changes:
                sample.note = f"{sample.count} changes reported for {changes} made"
        return sample
    return row


sync_after_1 = _sync_after(1)
sync_after_100 = _sync_after(100)


def outbox_freebusy(target: Server, ctx: Context) -> Sample:
    """RFC 6638 §5: POST a VFREEBUSY request for 20 attendees to the outbox
    named by the principal's schedule-outbox-URL."""
    body = ('<?xml version="1.0" encoding="utf-8"?><D:propfind ' + DAV_NS + '>'
            '<D:prop><C:schedule-outbox-URL/></D:prop></D:propfind>')
    _probe, content = http(target, "PROPFIND", f"{target.base}/{wl.USER}/", body, ctx,
                          (207,), depth="0")
    text = content.decode("utf-8", "replace")
    match = re.search(r"schedule-outbox-URL[^>]*>\s*<(?:\w+:)?href>([^<]+)<", text)
    outbox = match.group(1) if match else f"/{wl.USER}/outbox/"
    attendees = wl.busy_principals(20)
    ical = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{wl.PRODID}", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", f"UID:fb-{time.time_ns()}@bench.kalend",
        f"DTSTAMP:{_utc(wl.ANCHOR)}", f"DTSTART:{_utc(wl.MONTH[0])}",
        f"DTEND:{_utc(wl.MONTH[1])}", f"ORGANIZER:mailto:{wl.USER}@{wl.DOMAIN}",
        *[f"ATTENDEE:mailto:{a}@{wl.DOMAIN}" for a in attendees],
        "END:VFREEBUSY", "END:VCALENDAR"]) + "\r\n"
    url = outbox if outbox.startswith("http") else target.base + outbox
    sample, content = http(target, "POST", url, ical, ctx, (200,),
                           headers={"Content-Type": "text/calendar; charset=utf-8",
                                    "Originator": f"mailto:{wl.USER}@{wl.DOMAIN}",
                                    "Recipient": ", ".join(
                                        f"mailto:{a}@{wl.DOMAIN}" for a in attendees)})
    if sample.ok:
        sample.count = content.count(b"<C:response>") or _responses(content)
    else:
        sample.unsupported = True
        sample.note = (("no schedule-outbox-URL on the principal; " if not match else "")
                       + f"POST {outbox} answered HTTP {sample.status}")
    return sample


# -- write rows --------------------------------------------------------------------

_FAR = dt.datetime(2035, 1, 1, 9, tzinfo=dt.UTC)


def _new_event(target: Server, ctx: Context, thread: int = 0) -> wl.Event:
    index = ctx.new_counter.get(target.name, 0)
    ctx.new_counter[target.name] = index + 1
    return wl.new_event(f"{target.name}-{thread}", index,
                        _FAR + dt.timedelta(hours=index % 5000))


def _put(target: Server, ctx: Context, event: wl.Event) -> Sample:
    sample, _ = http(target, "PUT", target.calendar_url + event.href, event.text, ctx,
                     (201,), headers={"Content-Type": "text/calendar; charset=utf-8",
                                      "If-None-Match": "*"})
    return sample


def put_latency(target: Server, ctx: Context) -> Sample:
    return _put(target, ctx, _new_event(target, ctx))


def put_throughput(target: Server, ctx: Context, clients: int = 8) -> Sample:
    """``clients`` threads PUT new events back to back for a fixed window;
    requests still running at the deadline are waited for and counted."""
    lock = threading.Lock()
    done: list[Sample] = []
    deadline = time.perf_counter() + ctx.throughput_seconds

    def worker(number: int) -> None:
        while time.perf_counter() < deadline:
            with lock:
                event = _new_event(target, ctx, number)
            sample = _put(target, ctx, event)
            with lock:
                done.append(sample)
            if sample.timeout:
                return

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=ctx.throughput_seconds + ctx.timeout + 30)
    elapsed = time.perf_counter() - started
    good = [s for s in done if s.ok]
    failed = [s for s in done if not s.ok]
    note = f"{len(good)} PUTs in {elapsed:.1f} s"
    if failed:
        note += f"; {len(failed)} failed, e.g. {failed[0].note or failed[0].status}"
    return Sample(len(good) / elapsed, None if not failed else failed[0].status,
                  not failed and bool(good), count=len(good), note=note)


# -- the floor: one bare SQL query on kalend's own PostgreSQL database ----------

class Floor:
    """The least any server on this database could do for the week view and
    the free-busy month: fetch the overlapping rows' text with one indexed
    query over a warm connection. Not an HTTP server; only timed for the rows
    in ``FLOOR_ROWS``."""

    name = "floor"
    label = "SQL floor"

    def __init__(self, dsn: str) -> None:
        import psycopg
        self.connection = psycopg.connect(dsn, autocommit=True, connect_timeout=10)

    def query(self, span: tuple[dt.datetime, dt.datetime]) -> Sample:
        started = time.perf_counter()
        rows = self.connection.execute(
            'SELECT i.text FROM item i JOIN collection c ON c.id = i.collection_id '
            'WHERE c.path = %s AND i.start < %s AND i."end" > %s',
            (f"{wl.USER}/{wl.CALENDAR}", int(span[1].timestamp()),
             int(span[0].timestamp()))).fetchall()
        return Sample(time.perf_counter() - started, None, True, count=len(rows))

    def close(self) -> None:
        self.connection.close()


FLOOR_ROWS: dict[str, Callable[[Floor], Sample]] = {
    "week_query": lambda f: f.query(wl.WEEK),
    "week_query_new": lambda f: f.query(wl.WEEK),
    "week_expand": lambda f: f.query(wl.WEEK),
    "freebusy_month": lambda f: f.query(wl.MONTH),
}


# -- the rows and the rounds -----------------------------------------------------------

@dataclass(frozen=True)
class Row:
    key: str
    title: str
    unit: str                       # "s" (lower is better) or "ops/s"
    func: Callable[[Server, Context], Sample]


READ_ROWS: list[Row] = [
    Row("week_query", "calendar-query, one week, calendar-data", "s", week_query),
    Row("week_query_new", "… the same, a body not seen before", "s", week_query_new),
    Row("week_expand", "calendar-query, one week, CALDAV:expand", "s", week_expand),
    Row("freebusy_month", "free-busy-query, one month", "s", freebusy_month),
    Row("outbox_freebusy_20", "POST outbox free-busy, 20 attendees", "s",
        outbox_freebusy),
    Row("multiget_100", "calendar-multiget, 100 hrefs", "s", multiget_100),
    Row("propfind_getetag", "PROPFIND Depth 1 getetag", "s", propfind_etags),
    Row("sync_initial", "sync-collection, initial", "s", sync_initial),
    Row("sync_after_1", "sync-collection after 1 change", "s", sync_after_1),
    Row("sync_after_100", "sync-collection after 100 changes", "s", sync_after_100),
]
WRITE_ROWS: list[Row] = [
    Row("put_latency", "PUT of a new event (latency)", "s", put_latency),
]
#: Points of the time axis (issue 16), in weeks from this week's Monday.
TIME_AXIS_POINTS: list[tuple[str, str, int]] = [
    ("now", "this week", 0),
    ("m9", "9 months back", -39),
    ("m13", "13 months back", -56),
    ("y3", "3 years back", -156),
    ("ahead2", "2 years ahead", 104),
]


def time_axis_rows(now: dt.datetime | None = None) -> list[Row]:
    """The week view, the expanded week and a month of free-busy at each of
    ``TIME_AXIS_POINTS``, for the history spread: what they cost must not
    depend on how far from today they are."""
    monday = now or wl.this_monday()
    rows = []
    for key, label, weeks in TIME_AXIS_POINTS:
        start = monday + dt.timedelta(weeks=weeks)
        week = (start, start + dt.timedelta(days=7))
        month = (start, start + dt.timedelta(days=30))
        rows += [
            Row(f"axis_{key}_week", f"week view, {label} ({start:%Y-%m-%d})", "s",
                functools.partial(week_view_at, week=week)),
            Row(f"axis_{key}_expand", f"expanded week, {label}", "s",
                functools.partial(week_expand, week=week)),
            Row(f"axis_{key}_freebusy", f"free-busy month, {label}", "s",
                functools.partial(freebusy_month, month=month)),
        ]
    return rows


THROUGHPUT_ROW = Row("put_throughput", "PUT throughput, 8 concurrent clients", "ops/s",
                     put_throughput)


@dataclass
class Plan:
    """How many samples to take and when to give up on a slow row."""
    warmup: int
    reps: int
    budget: float           # seconds per (row, server) after which we stop repeating
    slow: float             # a warm-up slower than this counts as a sample


def run_rounds(rows: list[Row], targets: list[Server], ctx: Context, plan: Plan,
               results: dict[str, dict[str, list[Sample]]], floor: Floor | None,
               log: Callable[[str], None]) -> None:
    """Interleave: round by round, row by row, every server in rotated order."""
    spent: dict[tuple[str, str], float] = {}
    stopped: set = set()
    for round_number in range(plan.warmup + plan.reps):
        warm = round_number < plan.warmup
        order = targets[round_number % len(targets):] + targets[:round_number % len(targets)]
        for row in rows:
            for target in order:
                key = (row.key, target.name)
                samples = results.setdefault(row.key, {}).setdefault(target.name, [])
                if key in stopped:
                    continue
                started = time.perf_counter()
                sample = row.func(target, ctx)
                took = time.perf_counter() - started
                spent[key] = spent.get(key, 0.0) + took
                counted = not warm or (took > plan.slow)
                if warm and counted:
                    sample.note = (sample.note + "; " if sample.note else "") + \
                        "slow warm-up counted as a sample"
                if counted or not sample.ok:
                    samples.append(sample)
                _log_sample(log, row, target, sample, warm and not counted)
                if (sample.timeout or sample.unsupported
                        or sum(1 for s in samples if not s.ok) >= 2
                        or (spent[key] > plan.budget and any(s.ok for s in samples))):
                    stopped.add(key)
            if floor is not None and row.key in FLOOR_ROWS:
                sample = FLOOR_ROWS[row.key](floor)
                if not warm:
                    results.setdefault(row.key, {}).setdefault(floor.name, []).append(sample)


def _log_sample(log: Callable[[str], None], row: Row, target: Server, sample: Sample,
                warm: bool) -> None:
    value = "-" if sample.value is None else (
        f"{sample.value * 1000:.1f} ms" if row.unit == "s" else f"{sample.value:.1f}/s")
    state = "ok" if sample.ok else ("unsupported" if sample.unsupported else "FAILED")
    log(f"  {row.key:<20} {target.label:<18} {value:>12} {state}"
        f"{' (warm-up)' if warm else ''}"
        f"{'' if sample.count is None else f' n={sample.count}'}"
        f"{' ' + sample.note if sample.note else ''}")


def summarise(samples: list[Sample]) -> dict[str, object]:
    """Median and spread of the good samples, plus what went wrong."""
    good = [s.value for s in samples if s.ok and s.value is not None]
    status = ("ok" if good and all(s.ok for s in samples) else
              "unsupported" if any(s.unsupported for s in samples) else
              "timeout" if any(s.timeout for s in samples) else
              "failed" if samples else "not run")
    out: dict[str, object] = {
        "status": status, "n": len(good),
        "samples": [s.value for s in samples],
        "http_status": sorted({s.status for s in samples if s.status is not None}),
        "counts": sorted({s.count for s in samples if s.count is not None}),
        "notes": sorted({s.note for s in samples if s.note}),
    }
    if good:
        ordered = sorted(good)
        out.update(median=statistics.median(ordered), min=ordered[0], max=ordered[-1])
        if len(ordered) >= 4:
            q = statistics.quantiles(ordered, n=4)
            out.update(q1=q[0], q3=q[2])
    return out


def pick_multiget_hrefs(workload: wl.Workload, count: int = 100) -> list[str]:
    rng = random.Random(workload.seed)
    return [e.href for e in rng.sample(workload.events, k=min(count, len(workload.events)))]
