"""Global sensitivity analysis with SALib (Sobol' indices or Morris elementary effects) over the Params bounds.

The sample (SALib) becomes a sweep (sim/sweep.py): the same executors, resumable results and stored runs. Every
point runs with the same seed (common random numbers), so the indices measure the parameters, not the luck of
each point's draws. Outputs: Kabul's fall day, tau-b against the observed order, and the number of capitals
fallen by 15 August, each averaged over a point's replicates.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .params import Params
from .scenario import Scenario, ScenarioError
from .sweep import Sweep

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
    names = names or numeric_parameters()
    unknown = [x for x in names if x not in numeric_parameters()]
    if unknown:
        raise ScenarioError(scenario.path, f"--params: {unknown} are not numeric model parameters; allowed: "
                                           + ", ".join(numeric_parameters()), "params")
    prob = problem(names)
    if method == "sobol":
        from SALib.sample import sobol

        x = sobol.sample(prob, n, calc_second_order=False, seed=seed)
    elif method == "morris":
        from SALib.sample import morris

        x = morris.sample(prob, n, num_levels=4, seed=seed)
    else:
        raise ScenarioError(scenario.path, f"unknown method {method!r}; allowed: {', '.join(METHODS)}", "method")
    text = json.dumps({"sensitivity": method, "n": n, "replicates": replicates, "seed": seed,
                       "scenario": scenario.text, "problem": prob})
    base = scenario.params
    points = []
    for row in x:
        values = dict(zip(names, map(float, row)))
        base.replace(**values)  # every point is a valid Params (SALib stays within the bounds)
        points.append(values)
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
        raise RuntimeError(f"{len(x) - len(means)} points have no results; run the command again to finish them")
    rows = []
    for output in OUTPUTS:
        y = means[output].to_numpy(float)
        y = np.where(np.isnan(y), np.nanmean(y), y)
        if method == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(prob, y, calc_second_order=False, seed=seed)
            for k, name in enumerate(prob["names"]):
                rows.append({"output": output, "parameter": name, "S1": res["S1"][k], "S1_conf": res["S1_conf"][k],
                             "ST": res["ST"][k], "ST_conf": res["ST_conf"][k]})
        else:
            from SALib.analyze import morris

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
