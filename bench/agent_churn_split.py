#!/usr/bin/env python3
"""Where each policy flip of an agent_churn run spent its time.

    BENCH_DEBUG=1 BENCH_AGENT_LOG=agent.log build/bench/agent_churn ... > run.out
    bench/agent_churn_split.py run.out agent.log

Per window and direction (deny, allow), percentiles of: the benchmark's write
into the fake API server, written -> queued in the agent (watch, decode),
queued -> applied (the agent's pass), applied -> first datagram changed, and
the whole flip minus the write. Lines flips up with the agent's
"policy_queued_mono_ms=... applied_mono_ms=..." debug lines (the same
monotonic clock): a flip's pass is the first one queued after it started.
"""
import re
import sys

PARTS = ["total", "write", "written->queued", "queued->applied", "applied->datapath", "total-write"]


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main(out_path, log_path):
    log = open(log_path).read()
    passes = sorted((float(q), float(a)) for q, a in
                    re.findall(r"policy_queued_mono_ms=([\d.]+) applied_mono_ms=([\d.]+)", log))
    flip = re.compile(r"flip (\w+) t0_mono_ms=([\d.]+) write_ms=([\d.]+) first_changed_ms=([\d.]+)")
    window = re.compile(r"^\s*(\d+)\s+\d+\s+\d+\s")  # a window's table row: ev/s first
    rows = {"deny": [], "allow": []}
    for line in open(out_path):
        m = flip.search(line)
        if m:
            kind, t0, write, first = m.group(1), *map(float, m.groups()[1:])
            q, a = next(((q, a) for q, a in passes if q >= t0), (None, None))
            if q is not None:
                rows[kind].append((first, write, q - t0 - write, a - q, first - (a - t0), first - write))
            continue
        m = window.match(line)
        if m and (rows["deny"] or rows["allow"]):
            print(f"{m.group(1)} events/s")
            for kind in ("deny", "allow"):
                r = rows[kind]
                if not r:
                    continue
                print(f"  {kind} ({len(r)} flips), ms: p50 / p99 / max")
                for i, name in enumerate(PARTS):
                    col = [x[i] for x in r]
                    print(f"    {name:18} {pct(col, 50):7.2f} {pct(col, 99):7.2f} {max(col):7.2f}")
            rows = {"deny": [], "allow": []}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
