#!/usr/bin/env python3
"""Prints the targets table of a bench/run.sh run: procpool against its peers.

    bench/run.sh --compare > results.jsonl     # prints this table on stderr at the end
    python3 bench/compare.py results.jsonl     # the same table again, on stdout

Reads the JSON lines of the bench programs. A figure compared with a peer
carries "peer", "peer_value" and "ratio" (the median of per-repetition
ratios, oriented so that > 1 means procpool is better). Each target below is a
bound on that ratio (the memory targets bound the figure itself); "met?"
says whether this run's figure reaches it. The
second table lists every comparison of the run, targets or not. Nothing here
judges a run as failed: the bench programs report, they never assert times.
"""
import json
import sys
from dataclasses import dataclass, field

from table import fmt  # bench/table.py: the same number format in both tables


@dataclass
class Target:
    label: str
    bench: str = ""  # "" : no bench measures it yet
    where: dict = field(default_factory=dict)  # keys the line must have ("mode", "workers", ...)
    min_ratio: float = 0.0  # None: no target stated, the ratio is only shown
    text: str = ""  # the target as people state it
    why_missing: str = ""
    max_value: float = None  # an absolute bound on the figure itself (no peer), instead of a ratio


# The targets, as ratios: > 1 means procpool is better. "<= 1.5x the pipe's
# time" is a ratio (pipe / procpool) of at least 1 / 1.5.
TARGETS = [
    Target("one by one, process, 2 workers", "submit_all", {"mode": "process", "workers": 2}, 40,
           ">= 40x Pool.apply_async"),
    Target("one by one, thread, 2 workers", "submit_all", {"mode": "thread", "workers": 2}, 0.5,
           ">= 0.5x asio thread_pool"),
    Target("map over ints, typed", "map_typed", {"mode": "process", "workers": 2}, 10, ">= 10x Pool.map"),
    Target("map over ints, JSON", "map", {"mode": "process", "workers": 2}, 3, ">= 3x Pool.map"),
    # The same maps once more on the same pool, against Pool.map again on its Pool.
    Target("map over ints, typed, same pool again", "map_typed_again", {"mode": "process", "workers": 2}, 10,
           ">= 10x Pool.map (again)"),
    Target("map over ints, JSON, same pool again", "map_again", {"mode": "process", "workers": 2}, 3,
           ">= 3x Pool.map (again)"),
    Target("64 KiB echo, string", "payload_echo", {"mode": "process", "kind": "string"}, 5,
           ">= 5x imap_unordered (str)"),
    Target("64 KiB echo, binary", "payload_echo", {"mode": "process", "kind": "binary"}, 5,
           ">= 5x imap_unordered (bytes)"),
    Target("round trip p50, process", "roundtrip_p50", {"mode": "process", "workers": 2}, 1 / 1.5,
           "<= 1.5x the pipe (ratio >= 0.67)"),
    Target("round trip p50, thread", "roundtrip_p50", {"mode": "thread", "workers": 2}, 1 / 1.5,
           "<= 1.5x the pipe (ratio >= 0.67)"),
    Target("start + first result + close + join (fork_server)", "start_first_close_join",
           {"mode": "process", "start": "fork_server"}, 1 / 2.5, "<= 2.5x the fork floor (ratio >= 0.4)"),
    Target("exec true jobs, procpool run -j2", "run_exec_true", {"mode": "process"}, 2,
           "<= 0.5x xargs -P2 time (ratio >= 2)"),
    Target("memory: trivial tasks, results dropped once delivered", "supervisor_rss_growth",
           {"mode": "process"}, text="supervisor RSS growth < 16 MiB (1M tasks)", max_value=16),
    Target("memory: a retained result, over its value", "retained_result_overhead",
           {"mode": "process"}, text="<= 200 bytes each", max_value=200),
    # The MPI backend against the local pool, same workers (bench_mpi.cpp). On
    # one machine the ratio is the protocol's overhead, not a cluster's gain.
    Target("MPI 3 ranks x 1 vs local 3 workers, trivial", "mpi_submit_all", {"backend": "mpi"}, None,
           "none stated (ratio shown)"),
    Target("MPI 3 ranks x 1 vs local 3 workers, 10 ms tasks", "mpi_sleep_10ms", {"backend": "mpi"}, None,
           "none stated (ratio shown)"),
]


def read_lines(paths):
    lines = []
    for path in paths:
        with open(path) as f:
            for text in f:
                text = text.strip()
                if text.startswith("{"):
                    lines.append(json.loads(text))
    return lines


def find(lines, target):
    """The last line for the target's figure and configuration, or None."""
    hits = [j for j in lines
            if j["bench"] == target.bench and all(j.get(k) == v for k, v in target.where.items())]
    return hits[-1] if hits else None


def target_row(lines, t):
    if not t.bench:
        return f"| {t.label} | - | - | - | {t.text} | {t.why_missing} |"
    j = find(lines, t)
    if j is None:
        return f"| {t.label} | - | - | - | {t.text} | not in this run |"
    label = f"{t.label} ({j['items']:,} items)" if "items" in j else t.label
    mine = f"{fmt(j['value'])} {j['unit']}"
    if j.get("value") is None:
        return f"| {label} | {j.get('error') or j.get('skipped')} | - | - | {t.text} | no figure |"
    if t.max_value is not None:
        met = "yes" if j["value"] <= t.max_value else "**no**"
        return f"| {label} | {mine} | - | - | {t.text} | {met} |"
    if j.get("ratio") is None:
        why = j.get("peer_error", "no peer figure")
        return f"| {label} | {mine} | {j.get('peer', '-')}: {why} | - | {t.text} | {why} |"
    peer = f"{j['peer']}: {fmt(j['peer_value'])} {j['unit']}"
    if t.min_ratio is None:
        met = "-"
    else:
        met = "yes" if j["ratio"] >= t.min_ratio else "**no**"
    return f"| {label} | {mine} | {peer} | {j['ratio']:.3g}x | {t.text} | {met} |"


def comparisons(lines):
    """Every comparison of the run: (figure, procpool value, unit, comparison)."""
    for j in lines:
        if "peer" not in j or j.get("value") is None:
            continue
        config = ", ".join(f"{k}={j[k]}" for k in ("mode", "backend", "workers", "start", "kind", "items") if k in j)
        for c in [j] + j.get("other_peers", []):
            yield f"{j['bench']} ({config})", j["value"], j["unit"], c


def main(paths):
    lines = read_lines(paths)
    loads = [j["load1"] for j in lines if "load1" in j]
    if loads:
        print(f"load average (1 min) while figures were printed: {min(loads)}..{max(loads)}\n")
    print("| figure | procpool | peer | ratio | target | met? |")
    print("|---|---:|---|---:|---|---|")
    for t in TARGETS:
        print(target_row(lines, t))
    print("\nEvery comparison (ratio > 1: procpool is better):\n")
    print("| figure | procpool | peer | peer value | ratio |")
    print("|---|---:|---|---:|---:|")
    for figure, value, unit, c in comparisons(lines):
        ratio = "-" if c.get("ratio") is None else f"{c['ratio']:.3g}x"
        peer_value = c.get("peer_error") or f"{fmt(c['peer_value'])} {unit}"
        print(f"| {figure} | {fmt(value)} {unit} | {c['peer']} | {peer_value} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["/dev/stdin"])
