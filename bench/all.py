"""Every figure of issue 14 from one run (``./dev bench``): intake against the signing floor measured in
the same run (bench/pipeline.py: ours beside the naive pipeline, SQLite and PostgreSQL, a batch and one
order a call), then the dispatcher alone and with the sandbox in process and over HTTP, intake → released
(serially in one process, and pipelined: intake and dispatcher processes at once, bench/end_to_end.py),
single-order POST p50/p99 at concurrency 1 and 4 with the dispatcher running, and PostgreSQL 1 vs 2
dispatcher processes (bench/dispatch.py); last, single orders at concurrency 8 stored each alone against
grouped (bench/group_commit.py). Each part runs in its own process; sizes are chosen to finish
in about two minutes on two cores (five at most) (pass ``--full`` for each benchmark's own defaults).

    python bench/all.py [--full] [--sqlite-only]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"pipeline": ["--orders", "300", "--batch", "300", "--naive-orders", "10", "--floor-signatures", "1000"],
         "dispatch": ["--orders", "150", "--http-orders", "100", "--scale-orders", "150", "--requests", "40",
                      "--e2e-orders", "300"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="each benchmark's own (larger) defaults")
    ap.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    args = ap.parse_args()
    t0 = time.perf_counter()
    pipeline = [] if args.full else list(QUICK["pipeline"])
    dispatch = [] if args.full else list(QUICK["dispatch"])
    if args.sqlite_only:
        pipeline += ["--postgres", ""]
        dispatch += ["--sqlite-only"]
    for title, script, extra in (("Intake against the signing floor", "pipeline.py", pipeline),
                                 ("Dispatch, end to end, latency, scaling", "dispatch.py", dispatch),
                                 ("Group commit A/B", "group_commit.py", [])):
        print(f"== {title} (bench/{script} {' '.join(extra)})", flush=True)
        code = subprocess.call([sys.executable, str(ROOT / "bench" / script), *extra], cwd=ROOT)
        if code:
            return code
    print(f"== all figures in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
