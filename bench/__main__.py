"""``python -m bench``: load the same workload into kalend (SQLite and
PostgreSQL) and stock Radicale 3.9, measure them interleaved, write results.

Why one process drives everything: the servers are measured in the same run,
round by round, so that their ratios are not skewed by a machine that got
slower between two runs. Everything started here is stopped on exit, also on
Ctrl-C or SIGTERM, and the PostgreSQL database made for the run is dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench import fronts, measure, report, servers
from bench import workload as wl

_T0 = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _T0:7.1f}s] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="1,000 events, few repetitions: a few minutes")
    p.add_argument("--sizes", default=None,
                   help="comma-separated event counts (default 1000,10000)")
    p.add_argument("--with-100k", action="store_true", help="also run 100,000 events")
    p.add_argument("--spread", choices=["dense", "scaling", "history"], default="dense",
                   help="history: four years back to one ahead of this week, and only "
                        "the time-axis rows (the week view, the expanded week and "
                        "free-busy at points from 3 years back to 2 years ahead)")
    p.add_argument("--seed", type=int, default=wl.DEFAULT_SEED)
    p.add_argument("--servers", default="kalend-sqlite,kalend-postgresql,radicale",
                   help="which servers to run (comma-separated)")
    p.add_argument("--reps", type=int, help="timed repetitions per row")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs per row")
    p.add_argument("--budget", type=float,
                   help="seconds per row and server after which repeating stops")
    p.add_argument("--timeout", type=float, help="per-request timeout in seconds")
    p.add_argument("--throughput-seconds", type=float, help="PUT throughput window")
    p.add_argument("--throughput-reps", type=int, help="PUT throughput windows")
    p.add_argument("--keep-data", action="store_true",
                   help="keep the run's server folders under bench/.work (kept anyway "
                        "when something failed)")
    p.add_argument("--load-mode", choices=["put", "collection", "import"], default="put",
                   help="load kalend by parallel PUTs (4 clients, default), by one "
                        "whole-collection PUT per calendar, or with `kalend import` "
                        "(the bulk path; use it for 100k)")
    p.add_argument("--front", choices=fronts.FRONTS, default="granian",
                   help="the HTTP front kalend is served with (bench/fronts.py): "
                        "granian is kalend serve; the others are the candidates "
                        "issue 15 compared it with")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {"reps": 3 if quick else 7, "warmup": 1,
                "budget": 20.0 if quick else 60.0, "timeout": 120.0 if quick else 300.0,
                "throughput_seconds": 5.0 if quick else 10.0,
                "throughput_reps": 1 if quick else 3}
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.sizes is None:
        args.sizes = "1000" if quick else "1000,10000"
    args.size_list = [int(s) for s in args.sizes.split(",") if s]
    if args.with_100k and 100000 not in args.size_list:
        args.size_list.append(100000)
    return args


def _versions() -> dict[str, str]:
    import radicale

    import kalend
    try:
        import psycopg
        with psycopg.connect(servers.PG_ADMIN_URL, connect_timeout=5) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
        postgresql = f"PostgreSQL {pg}"
    except Exception as exc:
        postgresql = f"PostgreSQL unavailable ({type(exc).__name__})"
    return {"kalend": kalend.__version__, "kalend_radicale": radicale.VERSION,
            "radicale": f"Radicale {servers.radicale_version()}",
            "python": platform.python_version(), "postgresql": postgresql}


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, cwd=servers.BENCH_DIR.parent,
                             check=False)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=False,
                               cwd=servers.BENCH_DIR.parent).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def _make_targets(args: argparse.Namespace, root: Path) -> list[servers.Server]:
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    made: list[servers.Server] = []
    for name in wanted:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        if name == "kalend-sqlite":
            made.append(servers.KalendServer(folder, "sqlite", args.load_mode, args.front))
        elif name == "kalend-postgresql":
            made.append(servers.KalendServer(folder, "postgresql", args.load_mode,
                                             args.front))
        elif name == "radicale":
            made.append(servers.RadicaleServer(folder))
        else:
            raise SystemExit(f"unknown server {name!r}")
    return made


def _single(value: float | None, ok: bool = True, note: str = "") -> dict[str, Any]:
    sample = measure.Sample(value, None, ok and value is not None, note=note)
    return measure.summarise([sample])


def run_size(n: int, args: argparse.Namespace, versions: dict[str, str]) -> Path:
    log(f"N={n}: generating the {args.spread} workload (seed {args.seed})")
    workload = wl.generate(n, args.spread, args.seed)
    root = servers.WORK_DIR / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{n}"
    targets = _make_targets(args, root)
    rows: dict[str, dict[str, Any]] = {}
    raw: dict[str, dict[str, list[measure.Sample]]] = {}
    floor: measure.Floor | None = None
    load: dict[str, dict[str, Any]] = {}
    cold: dict[str, list[measure.Sample]] = {}
    rss_queries: dict[str, dict[str, Any]] = {}
    rss_end: dict[str, dict[str, Any]] = {}
    storage: dict[str, dict[str, float]] = {}
    ctx = measure.Context(workload, args.timeout, args.throughput_seconds,
                          measure.pick_multiget_hrefs(workload))
    # The history spread is there for the time axis: its rows alone.
    history = args.spread == "history"
    read_rows = measure.time_axis_rows() if history else measure.READ_ROWS
    write_rows = not history
    try:
        for target in targets:
            log(f"{target.label}: preparing in {target.root}")
            started = time.perf_counter()
            target.prepare(workload)
            target.start()
            log(f"{target.label}: prepared and started in "
                f"{time.perf_counter() - started:.1f} s")
            try:
                seconds = target.load(workload)
                load[target.name] = _single(seconds)
                log(f"{target.label}: loaded {n} events (+{len(workload.busy)} busy "
                    f"calendars) in {seconds:.1f} s")
            except Exception as exc:
                load[target.name] = _single(None, False, str(exc)[:300])
                log(f"{target.label}: LOAD FAILED: {exc}")
            sample = measure.week_query(target, ctx)
            cold[target.name] = [sample]
            log(f"{target.label}: first week query after load "
                f"{sample.value if sample.value is not None else float('nan'):.2f} s, "
                f"status {sample.status} n={sample.count}")
        if history:
            for target in targets:
                if isinstance(target, servers.KalendServer):
                    storage[target.name] = target.index_storage()
                    log(f"{target.label}: occurrence index {storage[target.name]}")
        pg = next((t for t in targets if isinstance(t, servers.KalendServer)
                   and t.backend == "postgresql"), None)
        if pg is not None and pg.dsn:
            floor = measure.Floor(pg.dsn)
            # Statistics as autovacuum would have them on a live system.
            floor.connection.execute("ANALYZE")
        plan = measure.Plan(args.warmup, args.reps, args.budget, slow=args.budget / 4)
        log(f"read rows: {plan.warmup} warm-up + {plan.reps} rounds")
        measure.run_rounds(read_rows, targets, ctx, plan, raw, floor, log)
        for target in targets:
            rss = target.rss_bytes()
            rss_queries[target.name] = _single(rss / 2**20 if rss else None)
        if write_rows:
            log("write rows")
            # A PUT is cheap and noisy (new connection, fsync): twice the samples.
            wplan = measure.Plan(args.warmup, 2 * args.reps, args.budget,
                                 slow=args.budget / 4)
            measure.run_rounds(measure.WRITE_ROWS, targets, ctx, wplan, raw, None, log)
            tplan = measure.Plan(0, args.throughput_reps, budget=1e9, slow=1e9)
            measure.run_rounds([measure.THROUGHPUT_ROW], targets, ctx, tplan, raw, None,
                               log)
            for target in targets:
                rss = target.rss_bytes()
                rss_end[target.name] = _single(rss / 2**20 if rss else None)
    finally:
        if floor is not None:
            floor.close()
        servers.cleanup_all()

    def add(key: str, title: str, unit: str, per: dict[str, dict[str, Any]],
            compare: bool = False) -> None:
        rows[key] = {"title": title, "unit": unit, "servers": per,
                     "compare_counts": compare}

    counted = {"week_query", "week_query_new", "week_expand", "freebusy_month", "multiget_100",
               "propfind_getetag", "sync_initial", "sync_after_1", "sync_after_100",
               *(row.key for row in read_rows if row.key.startswith("axis_"))}
    measured = read_rows + (measure.WRITE_ROWS + [measure.THROUGHPUT_ROW] if write_rows
                            else [])
    for row in measured:
        if row.key not in raw:
            continue
        add(row.key, row.title, row.unit,
            {name: measure.summarise(s) for name, s in raw.get(row.key, {}).items()},
            row.key in counted)
    add("first_week_query", "first week query after start (cold)", "s",
        {name: measure.summarise(s) for name, s in cold.items()})
    add("load", "load the workload (Radicale: write files; kalend: "
        + {"put": "parallel PUTs)", "collection": "collection PUT)",
           "import": "kalend import)"}[args.load_mode], "s", load)
    add("rss_after_queries", "server RSS after the queries", "MB", rss_queries)
    if rss_end:
        add("rss_end", "server RSS after the PUT rows", "MB", rss_end)
    order = ["load", "first_week_query", *(r.key for r in measured),
             "rss_after_queries", "rss_end"]
    memory = psutil.virtual_memory().total
    result = {
        "meta": {
            "date": dt.date.today().isoformat(), "n": n, "spread": args.spread,
            "seed": args.seed, "quick": args.quick, "commit": _git_commit(),
            "versions": versions,
            "machine": {"cores": os.cpu_count(), "memory_gb": memory / 2**30,
                        "platform": platform.platform()},
            "plan": {"warmup": args.warmup, "reps": args.reps, "budget": args.budget,
                     "timeout": args.timeout, "throughput_seconds": args.throughput_seconds,
                     "throughput_reps": args.throughput_reps, "load_mode": args.load_mode},
            "workload": {"events": len(workload.events),
                         "recurring": sum(e.recurring for e in workload.events),
                         "busy_principals": len(workload.busy),
                         "span": [workload.span[0].isoformat(), workload.span[1].isoformat()],
                         "week": [wl.WEEK[0].isoformat(), wl.WEEK[1].isoformat()],
                         "month": [wl.MONTH[0].isoformat(), wl.MONTH[1].isoformat()]},
            "servers": {t.name: t.describe() for t in targets},
            "index_storage": storage,
            "row_order": [k for k in order if k in rows],
        },
        "rows": rows,
    }
    path = report.write_json(result)
    log(f"N={n}: wrote {path}")
    failed = any(s.get("status") not in ("ok", "unsupported")
                 for row in rows.values() for s in row["servers"].values())
    if args.keep_data or failed:
        log(f"server folders and logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        servers.ensure_radicale_venv(log)
        versions = _versions()
        log(f"versions: {versions}")
        for n in args.size_list:
            run_size(n, args, versions)
            md = report.write_markdown(dt.date.today().isoformat())
            log(f"wrote {md} and {md.parent / 'latest.md'}")
        print((report.RESULTS_DIR / "latest.md").read_text())
    finally:
        servers.cleanup_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
