#!/usr/bin/env python3
"""Python's multiprocessing.Pool doing the work of procpool's bench programs.

The bench programs run this script once per repetition, between two runs of
the matching procpool configuration, and read its figures from stdout: one
JSON array of numbers on one line, in the order the program expects.

    mp_peer.py submit   --items N   # [tasks/s]   apply_async one by one, then every .get()
    mp_peer.py map      --items N   # [inputs/s, inputs/s]  Pool.map over N ints, default
                                    #             chunksize: the pool's first such map, then
                                    #             the same map again on the same pool
    mp_peer.py echo     --items N --kind str|bytes
                                    # [MiB/s]     imap_unordered echo of 64 KiB payloads
    mp_peer.py apply    --items N   # [p50 us, p99 us]  Pool.apply round trips
    mp_peer.py lifecycle            # [us]        Pool(2) + one apply + close + join

Every figure uses a pool of --workers (default 2) processes started with
"fork" (named explicitly: Python 3.14 changes the default), warmed up before
the clock starts where procpool's side is warmed up too. Results are checked
as procpool's are (every square, every echoed payload's checksum); a wrong one
exits non-zero. Only the timed region is measured: interpreter start-up and
imports are not.
"""
import argparse
import json
import math
import multiprocessing
import random
import sys
import time
import zlib

PAYLOAD_BYTES = 64 * 1024
VARIANTS = 16  # distinct random blocks, as in bench_payload.cpp


def square(x):
    return x * x


def echo(payload):
    return payload


def fail(why):
    sys.exit(f"mp_peer.py: CHECK FAILED: {why}")


def quantile(values, q):
    """Nearest-rank quantile, as bench::quantile computes it."""
    v = sorted(values)
    rank = min(max(math.ceil(q * len(v)), 1), len(v))  # 1-based
    return v[rank - 1]


def warm(pool, workers):
    # Pool starts its workers eagerly; one small map makes sure each has run
    # a task (imported the function, touched its pages) before the clock.
    if pool.map(square, range(16 * workers)) != [i * i for i in range(16 * workers)]:
        fail("warm-up map")


def bench_submit(ctx, args):
    with ctx.Pool(args.workers) as pool:
        warm(pool, args.workers)
        t0 = time.perf_counter()
        handles = [pool.apply_async(square, (i,)) for i in range(args.items)]
        for i, h in enumerate(handles):
            if h.get() != i * i:
                fail(f"square({i})")
        dt = time.perf_counter() - t0
    return [args.items / dt]


def bench_map(ctx, args):
    inputs = list(range(args.items))  # built before the clock, as in bench_map.cpp
    figures = []
    with ctx.Pool(args.workers) as pool:
        warm(pool, args.workers)
        for _ in range(2):
            t0 = time.perf_counter()
            out = pool.map(square, inputs)
            dt = time.perf_counter() - t0
            if len(out) != len(inputs) or any(y != x * x for x, y in zip(inputs, out)):
                fail("map: wrong values")
            figures.append(args.items / dt)
    return figures


def make_payloads(kind):
    """Payload i: one of 16 random printable blocks with i in its first 8 bytes.

    The index is written as 8 hex digits (procpool's side writes it binary):
    that keeps a str payload ASCII, one character per byte, so both kinds are
    64 KiB on the wire.
    """
    rng = random.Random(42)
    printable = bytes(33 + b % 90 for b in range(256))  # the same alphabet as procpool's
    blocks = [rng.randbytes(PAYLOAD_BYTES).translate(printable) for _ in range(VARIANTS)]

    def make(i):
        b = b"%08x" % i + blocks[i % VARIANTS][8:]
        return b.decode("ascii") if kind == "str" else b

    return make


def bench_echo(ctx, args):
    make = make_payloads(args.kind)
    crc = (lambda p: zlib.crc32(p.encode("ascii"))) if args.kind == "str" else zlib.crc32
    # Checksums of what is sent, computed before the clock (as bench_payload.cpp does).
    sent = [crc(make(i)) for i in range(args.items)]
    with ctx.Pool(args.workers) as pool:
        warm(pool, args.workers)
        t0 = time.perf_counter()
        # The generator builds each argument lazily (a 64 KiB copy, timed, as
        # procpool's side builds its arguments inside the clock too); Pool
        # feeds it through a pipe, so only a pipe's worth is in flight.
        # Results come back in completion order: match them by the index in
        # their first 8 bytes.
        seen = 0
        for p in pool.imap_unordered(echo, (make(i) for i in range(args.items))):
            i = int(p[:8], 16)
            if crc(p) != sent[i]:
                fail(f"echoed payload {i} differs")
            seen += 1
        dt = time.perf_counter() - t0
    if seen != args.items:
        fail(f"{seen} payloads came back, expected {args.items}")
    return [args.items * PAYLOAD_BYTES / (1024 * 1024) / dt]


def bench_apply(ctx, args):
    with ctx.Pool(args.workers) as pool:
        warm(pool, args.workers)
        us = []
        warmup = args.items // 10  # the first tenth warms up, as in bench_latency.cpp
        for i in range(args.items + warmup):
            t0 = time.perf_counter_ns()
            v = pool.apply(square, (i,))
            dt = (time.perf_counter_ns() - t0) / 1000
            if v != i * i:
                fail(f"square({i})")
            if i >= warmup:
                us.append(dt)
    return [quantile(us, 0.50), quantile(us, 0.99)]


def bench_lifecycle(ctx, args):
    t0 = time.perf_counter()
    pool = ctx.Pool(args.workers)
    v = pool.apply(square, (7,))
    pool.close()
    pool.join()
    dt = time.perf_counter() - t0
    if v != 49:
        fail(f"square(7) = {v}")
    return [dt * 1e6]


FIGURES = {
    "submit": bench_submit,
    "map": bench_map,
    "echo": bench_echo,
    "apply": bench_apply,
    "lifecycle": bench_lifecycle,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("figure", choices=sorted(FIGURES))
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kind", choices=["str", "bytes"], default="bytes")
    args = ap.parse_args()
    ctx = multiprocessing.get_context("fork")
    print(json.dumps(FIGURES[args.figure](ctx, args)), flush=True)


if __name__ == "__main__":
    main()
