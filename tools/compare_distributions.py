"""Do this checkout's runs come from the same distribution as another checkout's (e.g. the previous main)?

    git worktree add /tmp/previous <commit>
    python tools/compare_distributions.py /tmp/previous        # 4,000 runs a side, baseline parameters

For each capital, a two-sample Kolmogorov-Smirnov test of the fall day (a capital that held to the end counts as
one day after it), with Holm's correction over the 34 capitals at a family-wise 5 %. The power check runs the
same test between the other checkout and itself with one rate changed by 7 % (--param, --change): a test
that cannot see that change would say nothing by finding no difference. Different seeds on the two sides (and
within the power check) are the point: the question is the distribution, not the draws. A line also says how
many runs are identical run for run with the other side's seed (all of them if only speed changed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ab_speed import HERE, load  # noqa: E402


def fall_days(run_ensemble, n: int, seed: int, **changes) -> np.ndarray:
    from sim.params import Params  # the side's own Params: load() made it the current sim package

    r = run_ensemble(Params().replace(**changes), n_runs=n, seed=seed)
    days = r.fall_day.astype(np.int64)
    return np.where(days < 0, r.end_day + 1, days)


def holm_rejections(p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    order = np.argsort(p)
    reject = np.zeros(p.size, dtype=bool)
    for k, i in enumerate(order):
        if p[i] > alpha / (p.size - k):
            break
        reject[i] = True
    return reject


def compare(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([stats.ks_2samp(a[:, i], b[:, i]).pvalue for i in range(a.shape[1])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("other", type=Path)
    ap.add_argument("--runs", type=int, default=4000)
    ap.add_argument("--param", default="withdrawal_morale_drop", help="the rate changed for the power check")
    ap.add_argument("--change", type=float, default=1.07, help="its factor in the power check (default 1.07)")
    a = ap.parse_args()
    other_run, *_ = load(a.other.resolve())
    from sim.params import Params

    rate = getattr(Params(), a.param)
    names = __import__("sim.world", fromlist=["default_world"]).default_world().names
    base_other = fall_days(other_run, a.runs, seed=11)
    power_other = fall_days(other_run, a.runs, seed=12, **{a.param: rate * a.change})
    this_run, *_ = load(HERE)
    this = fall_days(this_run, a.runs, seed=13)  # not the other side's seed: its stream may be the same
    same_seed = fall_days(this_run, a.runs, seed=11)
    p_same = compare(this, base_other)
    p_power = compare(power_other, base_other)
    same, power = holm_rejections(p_same), holm_rejections(p_power)
    print(f"{a.runs:,} runs a side, KS per capital, Holm at 5 % family-wise")
    print(f"this vs other:                           {same.sum()} of {len(names)} capitals rejected "
          f"(smallest p {p_same.min():.3g}, {names[int(p_same.argmin())]}; "
          f"{(p_same < 0.05).sum()} below 0.05 uncorrected)")
    identical = (same_seed == base_other).all(axis=1).mean()
    print(f"with the other side's seed: {identical:.1%} of runs have every fall day the same "
          f"(all of them if the streams and the arithmetic are the same)")
    print(f"power: other with {a.param} x {a.change} vs other: {power.sum()} of {len(names)} rejected")
    for i in np.flatnonzero(same):
        print(f"  rejected: {names[i]} p = {p_same[i]:.3g}; mean fall day {this[:, i].mean():.1f} "
              f"vs {base_other[:, i].mean():.1f}")


if __name__ == "__main__":
    main()
