"""Do threads add anything to the process pool? The compiled rules release the GIL (nogil), so chunks can run in
threads of one process. This times 20 chunks of 1,000 runs (one parameter point) run in turn, in threads and in
a pool of processes, and checks that all three give the same runs.

    OPENBLAS_NUM_THREADS=1 python tools/threads_vs_processes.py [--workers 2]

Measured on 2 December 2026 (2-core Intel Xeon, idle): one thread 10,885 runs/s; two threads 21,241 (1.95x);
two processes 21,043 (1.93x), all three the same runs. Threads fill the cores as well as processes do, and no
better; the sweep, the calibration and the validation already spread their work over a process pool, so numba's
own threads (parallel=True) stay off.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.ensemble import chunk_seeds, run_chunk  # noqa: E402
from sim.params import Params  # noqa: E402
from sim.world import default_world  # noqa: E402

WORLD, PARAMS = default_world(), Params()
SEEDS = chunk_seeds(7, 20_000, 1000)


def job(chunk_seed) -> int:
    """One chunk of 1,000 runs, 1 May to 6 September; a checksum of its fall days."""
    return int(run_chunk(WORLD, PARAMS, 1000, int(chunk_seed), 0, 128)[0].astype(int).sum())


def rate(run_all) -> tuple[float, int]:
    """Runs a second (median of 3) and the checksum of every chunk."""
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        total = sum(run_all())
        times.append(time.perf_counter() - t0)
    return 20_000 / statistics.median(times), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="threads and processes (default 2)")
    n = ap.parse_args().workers
    job(SEEDS[0])  # loads the compiled rules
    one, expected = rate(lambda: [job(s) for s in SEEDS])
    print(f"one thread     {one:9,.0f} runs/s")
    for label, pool in (("threads", ThreadPoolExecutor), ("processes", ProcessPoolExecutor)):
        with pool(n) as ex:
            list(ex.map(job, SEEDS[:n]))  # warm-up: every worker loads the compiled rules
            r, total = rate(lambda: list(ex.map(job, SEEDS)))
        print(f"{n} {label:11s} {r:9,.0f} runs/s  ({r / one:.2f}x; same runs: {total == expected})")


if __name__ == "__main__":
    main()
