"""Side-by-side speed of this checkout against another one (e.g. the previous main), interleaved in one process.

    git worktree add /tmp/previous <commit>
    python tools/ab_speed.py /tmp/previous            # ensemble N = 10,000 (defaults, and every mechanism
                                                      # on trial switched on) and Mesa runs, 5 rounds

Each round times the other checkout, then this one, then the reference kernel of sim/bench.py, so a slow spell
of a shared machine falls on both; the medians and their ratio are printed. Both checkouts run in this
interpreter: the other one must import with the packages installed here. Compare the Mesa model only against a
checkout with the numpy rules (before issue 14): with two checkouts of the compiled rules in one process, the
second one's Mesa runs took 145 ms instead of 13 (measured; no recompilation, one signature, so each of the 129
daily calls into the compiled rules is slow to dispatch), while its ensemble, one call a chunk, is unaffected.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def load(path: Path):
    """The sim package of the checkout at `path`, imported afresh: (run_ensemble, TerritoryModel)."""
    for name in [m for m in sys.modules if m == "sim" or m.startswith("sim.")]:
        del sys.modules[name]
    sys.path.insert(0, str(path))
    try:
        from sim.bench import trial_switches
        from sim.ensemble import run_ensemble
        from sim.model import TerritoryModel
        from sim.params import Params
    finally:
        sys.path.pop(0)
    all_on = Params().replace(**{name: True for name in trial_switches()})
    return run_ensemble, TerritoryModel, all_on


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("other", type=Path, help="the other checkout (a folder holding sim/)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=10_000, help="ensemble runs per timing (default 10,000)")
    ap.add_argument("--models", type=int, default=20, help="Mesa runs per timing (default 20)")
    a = ap.parse_args()
    sides = {"other": load(a.other.resolve()), "this": load(HERE)}
    from sim.bench import reference_kernel

    for run_ensemble, model, all_on in sides.values():  # warm-up (and compile)
        run_ensemble(n_runs=1000, seed=0)
        run_ensemble(all_on, n_runs=1000, seed=0)
        model(seed=0).run()
    kinds = ("ensemble", "ensemble, all mechanisms on", "mesa")
    times = {(side, kind): [] for side in sides for kind in kinds}
    ref = []
    for k in range(a.rounds):
        for side, (run_ensemble, model, all_on) in sides.items():
            t0 = time.perf_counter()
            run_ensemble(n_runs=a.n, seed=k)
            times[side, "ensemble"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_ensemble(all_on, n_runs=a.n, seed=k)
            times[side, "ensemble, all mechanisms on"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for seed in range(a.models):
                model(seed=seed).run()
            times[side, "mesa"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        reference_kernel()
        ref.append(time.perf_counter() - t0)
        print(f"round {k + 1}/{a.rounds} done", file=sys.stderr)
    ref_rate = 1.0 / statistics.median(ref)
    print(f"reference kernel v1: {ref_rate:.1f} calls/s (median of {a.rounds})")
    for kind, n in zip(kinds, (a.n, a.n, a.models)):
        rate = {side: n / statistics.median(times[side, kind]) for side in sides}
        print(f"{kind:27s} other {rate['other']:9,.1f} runs/s   this {rate['this']:9,.1f} runs/s   "
              f"this / other {rate['this'] / rate['other']:.2f}x   "
              f"this per reference call {rate['this'] / ref_rate:,.1f}")


if __name__ == "__main__":
    main()
