#!/usr/bin/env python3
"""Turns the JSON lines of bench/run.sh into a Markdown table.

    bench/run.sh > results.jsonl
    python3 bench/table.py results.jsonl [more.jsonl ...]

With several files (repeated full runs), each figure's cell lists the value of
every run, and the median column is the median of those values.
"""
import json
import statistics
import sys

SKIP = {"bench", "mode", "value", "unit", "runs", "min", "median", "max", "load1", "error", "supervisor_rss_kib",
        # a comparison's fields vary from run to run; bench/compare.py tabulates them
        "peer", "peer_value", "ratio", "other_peers", "peer_error", "skipped"}


def key_of(j):
    extra = ", ".join(f"{k}={j[k]}" for k in sorted(j) if k not in SKIP)
    return (j["bench"], j["mode"], extra, j["unit"])


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def main(paths):
    order, rows = [], {}
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                j = json.loads(line)
                k = key_of(j)
                if k not in rows:
                    order.append(k)
                    rows[k] = []
                rows[k].append(j)
    print("| bench | mode | config | median | per run (min..max) | unit |")
    print("|---|---|---|---:|---|---|")
    for k in order:
        runs = rows[k]
        values = [r["value"] for r in runs if r["value"] is not None]
        med = statistics.median(values) if values else None
        cells = []
        for r in runs:
            if r["value"] is None:
                cells.append("FAILED: " + r.get("error", "?")[:80])
            else:
                cells.append(f"{fmt(r['value'])} ({fmt(r['min'])}..{fmt(r['max'])}, n={r['runs']})")
        bench, mode, extra, unit = k
        print(f"| {bench} | {mode} | {extra} | {fmt(med)} | {'; '.join(cells)} | {unit} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["/dev/stdin"])
