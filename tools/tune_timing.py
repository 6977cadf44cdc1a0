"""How the pre-issue-11 timing defaults were tuned: a random search on aggregate timing only. Its output is a
*fitted* set, never a default.

Kept as the record of how sim/params.py TUNED_2021 (the defaults until they were re-derived as priors) was made.
The objective uses three targets, all observed after the withdrawal began on 1 May 2021, so whatever it returns is
fitted on post-May data up to 2021-09-06 and must be labelled so (provenance "fitted"), as in TUNED_2021:
  - the national share of districts under Taliban control on the LWJ dates (mid-June, 10 July, 27 July 2021);
  - the number of capitals fallen by each day from 1 August to 6 September 2021 (the national curve);
  - the day Kabul fell.
The order in which the other 33 capitals fell is not in the objective. Candidates are drawn over the ranges below
with a Latin hypercube, then refined around the best few; each term is scaled (district share by 0.05, the curve by
2 capitals, Kabul by 2 days) and a candidate is ranked by its worst term, so no target is traded away for another.
The other parameters are held at their TUNED_2021 values, as they were when the search was run.
`python run.py calibrate --fit-until D` is the maintained way to fit (any cut-off, held-out scores,
cross-validation); this script is not used by the model, the tests or the defaults.
Usage: python tools/tune_timing.py [--points 200] [--refine 100] [--runs 300]
"""

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
from scipy.stats import qmc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sim.ensemble import observed_fall_days, run_ensemble  # noqa: E402
from sim.params import TUNED_2021, Params  # noqa: E402
from sim.world import day_index, default_world  # noqa: E402

SEARCH = {  # name: (low, high)
    "rural_rate": (0.03, 0.2),
    "rural_morale_exponent": (1.5, 4.0),
    "road_cut_rate": (0.002, 0.03),
    "siege_morale_rate": (0.0, 0.01),
    "isolation_morale_rate": (0.0, 0.01),
    "withdrawal_morale_drop": (0.1, 0.4),
    "surrender_threshold": (0.15, 0.4),
    "surrender_rate": (0.05, 0.6),
    "cascade_national": (0.0, 0.03),
    "cascade_neighbour": (0.0, 0.15),
}


def objective(params: Params, runs: int, world) -> float:
    r = run_ensemble(params, runs, seed=12345, world=world)
    series = [o for o in world.record.district_series if dt.date(2021, 6, 1) <= o.as_of <= dt.date(2021, 7, 31)]
    district = np.mean([abs(r.district_share_on(day_index(o.as_of)).mean() - o.taliban / (o.total or 407)) / 0.05
                        for o in series])
    obs = observed_fall_days(world)
    days = np.arange(day_index(dt.date(2021, 8, 1)), r.end_day + 1)
    obs_fallen = np.array([(obs <= d).sum() for d in days])
    sim_fallen = 34 - np.median(r.held_count[:, days - r.start_day], axis=0)
    curve = np.mean(np.abs(sim_fallen - obs_fallen)) / 2.0
    kabul_days = np.where(r.fall_day[:, world.kabul] < 0, r.end_day + 1, r.fall_day[:, world.kabul])
    kabul = abs(np.median(kabul_days) - obs[world.kabul]) / 2.0
    return max(district, curve, kabul), district, curve, kabul


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--refine", type=int, default=100)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    world = default_world()
    lo = np.array([v[0] for v in SEARCH.values()])
    hi = np.array([v[1] for v in SEARCH.values()])
    design = qmc.scale(qmc.LatinHypercube(d=len(SEARCH), seed=args.seed).random(args.points), lo, hi)
    base = Params(**TUNED_2021)
    rows = [(objective(base, args.runs, world), {"TUNED_2021": "as it is"})]
    for x in design:
        p = base.replace(**dict(zip(SEARCH, map(float, x))))
        rows.append((objective(p, args.runs, world), {k: round(float(v), 4) for k, v in zip(SEARCH, x)}))
    rows.sort(key=lambda t: t[0][0])
    # Refine: perturb the best five by 10 % of each range, clipped to the ranges.
    rng = np.random.default_rng(args.seed)
    best = [np.array([r[1][k] for k in SEARCH]) for r in rows[:5] if set(r[1]) == set(SEARCH)]
    for k in range(args.refine if best else 0):
        x = np.clip(best[k % len(best)] + rng.normal(0, 0.1, len(SEARCH)) * (hi - lo), lo, hi)
        p = base.replace(**dict(zip(SEARCH, map(float, x))))
        rows.append((objective(p, args.runs, world), {k: round(float(v), 4) for k, v in zip(SEARCH, x)}))
    rows.sort(key=lambda t: t[0][0])
    print("ranked by the worst of the three scaled terms (1 = one unit of tolerance)")
    for (worst, dis, cur, kab), ch in rows[:10]:
        print(f"worst {worst:5.2f}  district {dis:5.2f}  curve {cur:5.2f}  kabul {kab:4.1f}  {ch}")


if __name__ == "__main__":
    main()
