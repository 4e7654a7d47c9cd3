"""Writing results: one JSON file per run and size, and Markdown tables.

Why JSON plus Markdown: the JSON keeps every sample, status and version so a
later run can be compared row by row by a script; the Markdown is what a
person reads in the README. The Markdown of a day is rebuilt from all of that
day's JSON files, so running 1k and 10k separately still gives one page.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SERVERS = ["kalend-sqlite", "kalend-postgresql", "radicale"]
LABELS = {"kalend-sqlite": "kalend SQLite", "kalend-postgresql": "kalend PostgreSQL",
          "radicale": "Radicale 3.9", "floor": "SQL floor"}


def json_path(date: str, n: int, quick: bool, spread: str) -> Path:
    suffix = ("" if spread == "dense" else f"-{spread}") + ("-quick" if quick else "")
    return RESULTS_DIR / f"{date}-{n}{suffix}.json"


def write_json(result: dict[str, Any]) -> Path:
    meta = result["meta"]
    path = json_path(meta["date"], meta["n"], meta["quick"], meta["spread"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return path


def _fmt(value: float, unit: str) -> str:
    if unit == "ops/s":
        return f"{value:.1f}/s" if value < 100 else f"{value:.0f}/s"
    if unit == "MB":
        return f"{value:.0f} MB"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1000:.0f} ms"
    return f"{value * 1000:.2f} ms"


def _cell(summary: dict[str, Any] | None, unit: str) -> str:
    if not summary:
        return "–"
    status = summary["status"]
    http = ",".join(str(s) for s in summary.get("http_status", []))
    if "median" not in summary:
        return f"{status}" + (f" (HTTP {http})" if http else "")
    text = _fmt(summary["median"], unit)
    if summary.get("n", 0) > 1:
        low, high = summary.get("q1", summary["min"]), summary.get("q3", summary["max"])
        text += f" ({_fmt(low, unit)}–{_fmt(high, unit)})"
    if status != "ok":
        text += f" **{status}**"
    return text


def _ratio(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None
           ) -> str:
    if not numerator or not denominator:
        return "–"
    a, b = numerator.get("median"), denominator.get("median")
    if a is None or b is None or b == 0 or numerator["status"] != "ok" \
            or denominator["status"] != "ok":
        return "–"
    ratio = a / b
    if ratio >= 100:
        return f"{ratio:.0f}×"
    return f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2g}×"


def render_one(result: dict[str, Any]) -> str:
    meta = result["meta"]
    rows = result["rows"]
    lines = [(f"### N = {meta['n']:,} events ({meta['spread']} spread"
              f"{', quick' if meta['quick'] else ''})"), ""]
    lines.append(f"kalend {meta['versions']['kalend']}, stock {meta['versions']['radicale']}, "
                 f"Python {meta['versions']['python']}, {meta['versions']['postgresql']}; "
                 f"{meta['machine']['cores']} cores, "
                 f"{meta['machine']['memory_gb']:.0f} GB; "
                 f"{meta['plan']['reps']} repetitions after {meta['plan']['warmup']} "
                 f"warm-up (fewer on rows slower than {meta['plan']['budget']:.0f} s "
                 "in total); median (IQR or min–max).")
    lines += ["", ("| row | kalend SQLite | kalend PostgreSQL | Radicale 3.9 "
                   "| Radicale / kalend SQLite | Radicale / kalend PG "
                   "| kalend PG / SQL floor |"),
              "|---|---|---|---|---|---|---|"]
    for key in meta.get("row_order", list(rows)):
        row = rows[key]
        unit = row["unit"]
        per = row["servers"]
        cells = [_cell(per.get(s), unit) for s in SERVERS]
        if unit == "ops/s":   # higher is better: show how many times more kalend does
            r_sqlite = _ratio(per.get("kalend-sqlite"), per.get("radicale"))
            r_pg = _ratio(per.get("kalend-postgresql"), per.get("radicale"))
        else:
            r_sqlite = _ratio(per.get("radicale"), per.get("kalend-sqlite"))
            r_pg = _ratio(per.get("radicale"), per.get("kalend-postgresql"))
        floor = per.get("floor")
        r_floor = (_ratio(per.get("kalend-postgresql"), floor) +
                   f" (floor {_fmt(floor['median'], 's')})") if floor and "median" in floor \
            else ""
        lines.append(f"| {row['title']} | " + " | ".join(cells) +
                     f" | {r_sqlite} | {r_pg} | {r_floor} |")
    lines += ["", ("Ratios: time and memory rows are Radicale's value over kalend's; the "
                   "throughput row is kalend's over Radicale's; above 1× kalend is better.")]
    if any(key.startswith("axis_") for key in rows):
        lines += ["", *_time_axis(rows, meta)]
    mismatches = _count_mismatches(rows)
    problems = _problems(rows)
    if mismatches or problems:
        lines += ["", "Notes:"] + [f"- {m}" for m in mismatches + problems]
    return "\n".join(lines) + "\n"


def _time_axis(rows: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """Each time-axis point against this week, per server: what reading
    further from today costs (issue 16: within 2× on kalend)."""
    lines = [("Time axis: each point's median over this week's, per server "
              "(week view / expanded week / free-busy month)."), "",
             "| point | " + " | ".join(LABELS[s] for s in SERVERS) + " |",
             "|---|" + "---|" * len(SERVERS)]
    # In the order measured (the JSON's keys are sorted): axis_<point>_week, …
    points = [key.split("_")[1] for key in meta.get("row_order", list(rows))
              if key.startswith("axis_") and key.endswith("_week")]
    for point in points:
        title = rows[f"axis_{point}_week"]["title"].removeprefix("week view, ")
        cells = []
        for server in SERVERS:
            parts = []
            for kind in ("week", "expand", "freebusy"):
                here = rows[f"axis_{point}_{kind}"]["servers"].get(server)
                base = rows[f"axis_now_{kind}"]["servers"].get(server)
                parts.append(_ratio(here, base))
            cells.append(" / ".join(parts))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    for server, cost in sorted(meta.get("index_storage", {}).items()):
        lines.append("")
        lines.append(f"{LABELS.get(server, server)}: the occurrence index holds "
                     f"{cost['occurrence_rows']:,} rows"
                     + (f", {cost['bytes'] / 2**20:.1f} MB with its indexes "
                        f"({cost['bytes_per_row']:.0f} bytes a row)" if cost["bytes"] else "")
                     + f"; {cost['series']:,} recurring series hold {cost['series_rows']:,} "
                       f"of them, {cost['rows_per_series']:.0f} rows a series.")
    return lines


def _count_mismatches(rows: dict[str, Any]) -> list[str]:
    """Result sizes differ between servers: one of them answers wrongly."""
    out = []
    for row in rows.values():
        if not row.get("compare_counts"):
            continue
        counts = {s: tuple(row["servers"][s]["counts"]) for s in SERVERS
                  if s in row["servers"] and row["servers"][s].get("counts")}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{LABELS[s]} {list(c)}" for s, c in counts.items())
            out.append(f"{row['title']}: result sizes differ: {shown}")
    return out


def _problems(rows: dict[str, Any]) -> list[str]:
    out = []
    for key, row in rows.items():
        for server, summary in row["servers"].items():
            if summary.get("status") not in ("ok", None) or (
                    server != "floor" and summary.get("notes") and key != "put_throughput"):
                notes = "; ".join(summary.get("notes", []))[:300]
                out.append(f"{row['title']} on {LABELS.get(server, server)}: "
                           f"{summary['status']}{': ' + notes if notes else ''}")
    return out


def render_day(date: str) -> str:
    results = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob(f"{date}-*.json"))]
    results.sort(key=lambda r: (r["meta"]["quick"], r["meta"]["spread"] != "dense",
                                r["meta"]["n"]))
    parts = [f"# kalend vs stock Radicale: benchmark of {date}", "",
             ("Produced by `python -m bench` (see bench/README.md). Same workload, same "
              "machine, servers measured interleaved in one run."), ""]
    parts += [render_one(r) for r in results]
    return "\n".join(parts)


def write_markdown(date: str) -> Path:
    path = RESULTS_DIR / f"{date}.md"
    path.write_text(render_day(date))
    shutil.copyfile(path, RESULTS_DIR / "latest.md")
    return path
