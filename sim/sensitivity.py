"""Global sensitivity analysis with SALib (Sobol' indices or Morris elementary effects) over the Params bounds.

The sample (SALib) becomes a sweep (sim/sweep.py): the same executors, resumable results and stored runs. Every
point runs with the same seed (common random numbers), so the indices measure the parameters, not the luck of
each point's draws. Outputs: Kabul's fall day, tau-b against the observed order, and the number of capitals
fallen by 15 August, each averaged over a point's replicates.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .params import Params
from .scenario import MAX_SEED, Scenario, ScenarioError
from .sweep import MAX_POINTS, MAX_SWEEP_REPLICATES, MAX_SWEEP_RUNS, Sweep

OUTPUTS = {"kabul_fall_day": "Kabul's fall day", "tau_b": "tau-b with the observed order",
           "fallen_by_aug15": "capitals fallen by 15 Aug"}
METHODS = ("sobol", "morris")


def numeric_parameters() -> list[str]:
    return [n for n, s in Params.spec().items() if not isinstance(s["default"], bool)]


def problem(names: list[str]) -> dict:
    spec = Params.spec()
    return {"num_vars": len(names), "names": list(names), "bounds": [[spec[n]["lo"], spec[n]["hi"]] for n in names]}


def build_sweep(scenario: Scenario, method: str, n: int, replicates: int, seed: int,
                names: list[str] | None = None) -> tuple[Sweep, dict, np.ndarray]:
    """The SALib sample as a sweep whose points all share one seed; its text identifies it for resuming."""
    allowed = numeric_parameters()
    names = allowed if names is None else list(names)
    if not names or any(not x for x in names):
        raise ScenarioError(scenario.path, "--params: an empty name; give comma-separated names, allowed: "
                                           + ", ".join(allowed), "params")
    unknown = [x for x in names if x not in allowed]
    if unknown:
        raise ScenarioError(scenario.path, f"--params: {unknown} are not numeric model parameters; allowed: "
                                           + ", ".join(allowed), "params")
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        raise ScenarioError(scenario.path, f"--params: {twice} listed more than once; list each parameter once",
                            "params")
    if method not in METHODS:
        raise ScenarioError(scenario.path, f"unknown method {method!r}; allowed: {', '.join(METHODS)}", "method")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScenarioError(scenario.path, f"--n {n!r}: give a whole number of at least 1", "n")
    if isinstance(replicates, bool) or not isinstance(replicates, int) or not 1 <= replicates <= MAX_SWEEP_REPLICATES:
        raise ScenarioError(scenario.path, f"--replicates {replicates!r}: allowed 1 to {MAX_SWEEP_REPLICATES:,}",
                            "replicates")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ScenarioError(scenario.path, f"--seed {seed!r}: allowed a whole number 0 to {MAX_SEED}", "seed")
    # SALib's sample size, counted before sampling: Sobol' (first and total order) N (D + 2), Morris N (D + 1).
    n_points = n * (len(names) + (2 if method == "sobol" else 1))
    if n_points > MAX_POINTS:
        raise ScenarioError(scenario.path, f"--n {n:,} with {len(names)} parameters is {n_points:,} {method} points; "
                                           f"allowed: at most {MAX_POINTS:,} (a smaller --n or fewer --params)", "n")
    if n_points * replicates > MAX_SWEEP_RUNS:
        raise ScenarioError(scenario.path, f"{n_points:,} points x {replicates:,} replicates = "
                                           f"{n_points * replicates:,} runs; allowed: at most {MAX_SWEEP_RUNS:,}",
                            "replicates")
    prob = problem(names)
    if method == "sobol":
        from SALib.sample import sobol

        x = sobol.sample(prob, n, calc_second_order=False, seed=seed)
    else:
        from SALib.sample import morris

        x = morris.sample(prob, n, num_levels=4, seed=seed)
    text = json.dumps({"sensitivity": method, "n": n, "replicates": replicates, "seed": seed,
                       "scenario": scenario.text, "problem": prob})
    # SALib stays within the bounds (clipped against a rounding), and Params has no bound across parameters, so the
    # two corners stand for every point: checked once rather than per point.
    lo, hi = np.array(prob["bounds"], dtype=float).T
    x = np.clip(x, lo, hi)
    for corner in (lo, hi):
        scenario.params.replace(**dict(zip(names, corner.tolist())))
    points = [dict(zip(names, row)) for row in x.tolist()]
    point_seed = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0] >> np.uint64(1))
    sweep = Sweep(name=f"sensitivity-{method}-{scenario.name}", description=f"{method} sensitivity of {scenario.name}",
                  scenario=scenario, replicates=replicates, seed=seed, parameters=tuple(names), points=tuple(points),
                  point_seeds=tuple([point_seed] * len(points)), method=method, text=text, path=scenario.path)
    return sweep, prob, x


def analyse(out: Path, method: str, prob: dict, x: np.ndarray, seed: int):
    """Indices with 95 % confidence intervals per output: a pandas DataFrame, one row per parameter and output."""
    import pandas as pd

    from . import store

    _, runs = store.read_sweep(out)
    r = runs.to_pandas()
    means = r.groupby("point_id")[list(OUTPUTS)].mean().sort_index()
    if len(means) != len(x):
        raise store.ResultProblem(f"{out}: incomplete: {len(means):,} of {len(x):,} points; run the command again "
                                  "to finish them")
    rows = []
    for output in OUTPUTS:
        y = means[output].to_numpy(float)
        if np.all(np.isnan(y)) or np.nanstd(y) == 0:
            # The output does not vary over the sample: every index is undefined (SALib would divide by zero).
            nan = float("nan")
            cols = ("S1", "S1_conf", "ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf", "sigma")
            rows += [{"output": output, "parameter": name, **dict.fromkeys(cols, nan)} for name in prob["names"]]
            continue
        y = np.where(np.isnan(y), np.nanmean(y), y)
        if method == "sobol":
            from SALib.analyze import sobol

            with warnings.catch_warnings():  # tiny or partly constant samples give NaN, shown as such
                warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
                res = sobol.analyze(prob, y, calc_second_order=False, seed=seed)
            for k, name in enumerate(prob["names"]):
                rows.append({"output": output, "parameter": name, "S1": res["S1"][k], "S1_conf": res["S1_conf"][k],
                             "ST": res["ST"][k], "ST_conf": res["ST_conf"][k]})
        else:
            from SALib.analyze import morris

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (RuntimeWarning, UserWarning))
                res = morris.analyze(prob, x, y, num_levels=4, seed=seed)
            for k, name in enumerate(prob["names"]):
                rows.append({"output": output, "parameter": name, "mu_star": res["mu_star"][k],
                             "mu_star_conf": res["mu_star_conf"][k], "sigma": res["sigma"][k]})
    return pd.DataFrame(rows)


def bar_chart(table, method: str, title: str):
    import matplotlib.pyplot as plt

    key, conf = ("ST", "ST_conf") if method == "sobol" else ("mu_star", "mu_star_conf")
    outputs = list(OUTPUTS)
    fig, axes = plt.subplots(1, len(outputs), figsize=(5.2 * len(outputs), 0.3 * table["parameter"].nunique() + 2))
    for ax, output in zip(axes, outputs):
        t = table[table["output"] == output].sort_values(key)
        ax.barh(t["parameter"], t[key], xerr=t[conf], color="tab:blue", alpha=0.8, ecolor="0.3")
        if method == "sobol":
            ax.barh(t["parameter"], t["S1"], color="tab:orange", alpha=0.8, height=0.4, label="first order S1")
            ax.legend(["total ST (95 % CI)", "first order S1"], fontsize=8, loc="lower right")
        ax.set_xlabel(("total Sobol' index ST" if method == "sobol" else "Morris mu* (output units)")
                      + f"\n{OUTPUTS[output]}")
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes
