"""The model for the EMA Workbench 3.x (exploratory modelling: samplers, perform_experiments, PRIM, feature scoring).

    pip install -e ".[ema]"          # ema-workbench >= 3, which needs Python >= 3.12

    from ema_workbench import perform_experiments, Samplers
    from ema_workbench.analysis import prim, feature_scoring
    import sim.ema

    model = sim.ema.model(runs=100)                       # every numeric Params field an uncertainty
    experiments, outcomes = perform_experiments(model, 200, uncertainty_sampling=Samplers.LHS)
    x = experiments[[u.name for u in model.uncertainties]]
    box = prim.Prim(x, outcomes["held_aug31"] >= 10, threshold=0.8).find_box()     # where many capitals hold
    scores = feature_scoring.get_feature_scores_all(x, outcomes)                   # which parameters matter

An experiment is one parameter point: `runs` replicates of a scenario (the ensemble engine), scored as a sweep point
is (sim.sweep.run_point: the same per-run metrics as runs.parquet), each outcome summarised over the replicates.
Every experiment runs with the same seed (common random numbers), so differences between experiments come from
the parameters, not from the luck of the draws; pass another `seed` for another set of draws. The uncertainties
are Params' own bounds (Params.spec(): RealParameter(lo, hi) with the default), the switches optionally
BooleanParameters.

ema_workbench is imported only when a model is built, so this module imports (and its outcome function runs)
without it.
"""

from __future__ import annotations

import numpy as np

from .params import Params

DEFAULT_SCENARIO = "baseline"
DEFAULT_RUNS = 100
DEFAULT_SEED = 20210501

#: Outcome name -> (how it is summarised over an experiment's replicates, what it is).
OUTCOMES = {
    "kabul_fall_day": ("median", "Kabul's fall day: days since 2021-05-01 (day 0); the day after the end (day 129 "
                                 "for a run to 6 Sep) where Kabul held"),
    "p_kabul_by_aug31": ("mean", "share of the replicates in which Kabul fell by 31 August 2021"),
    "held_aug31": ("mean", "capitals government-held at the end of 31 August 2021"),
    "fallen_by_aug15": ("mean", "capitals fallen by the end of 15 August 2021"),
    "tau_b": ("mean", "Kendall tau-b between the simulated and observed fall order"),
    "mae_days": ("mean", "mean absolute error of the fall days, in days"),
    "kabul_error_days": ("mean", "Kabul's simulated minus observed fall day, in days"),
}


def uncertain_parameters(names=None, switches: bool = False) -> list[str]:
    """The Params fields to vary: `names`, or every numeric field (and every switch if `switches`)."""
    spec = Params.spec()
    if names is not None:
        from .api import check_names

        check_names(names)
        return list(names)
    return [n for n, s in spec.items() if switches or not isinstance(s["default"], bool)]


def uncertainties(names=None, switches: bool = False) -> list:
    """EMA parameters from Params.spec(): RealParameter(name, lo, hi, default=...) for a numeric field,
    BooleanParameter for a switch."""
    from ema_workbench import BooleanParameter, RealParameter

    spec = Params.spec()
    out = []
    for n in uncertain_parameters(names, switches):
        s = spec[n]
        if isinstance(s["default"], bool):
            out.append(BooleanParameter(n, default=s["default"]))
        else:
            out.append(RealParameter(n, float(s["lo"]), float(s["hi"]), default=float(s["default"])))
    return out


def outcomes(names=None) -> list:
    """EMA ScalarOutcomes for `names` (default: every outcome in OUTCOMES)."""
    from ema_workbench import ScalarOutcome

    names = list(OUTCOMES) if names is None else list(names)
    unknown = [n for n in names if n not in OUTCOMES]
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; allowed: {', '.join(OUTCOMES)}")
    return [ScalarOutcome(n) for n in names]


def evaluate(scenario: str = DEFAULT_SCENARIO, runs: int = DEFAULT_RUNS, seed: int = DEFAULT_SEED,
             data_dir: str | None = None, **parameters) -> dict[str, float]:
    """One experiment: the scenario with `parameters` on top, `runs` replicates from `seed`; returns every outcome
    in OUTCOMES. A module-level function, so that the workbench's MultiprocessingEvaluator can send it to workers.
    """
    from .scenario import load_scenario
    from .sweep import HELD_ON, run_point
    from .world import day_index, world_for

    spec = Params.spec()
    values = {k: (bool(v) if isinstance(spec.get(k, {}).get("default"), bool) else float(v))
              for k, v in parameters.items()}  # numpy scalars from the samplers -> what Params checks for
    sc = load_scenario(str(scenario), world_for(data_dir))
    point = run_point((0, values, int(seed), int(runs), sc, data_dir))
    m = point["metrics"]
    kabul = m["kabul_fall_day"]
    out = {"kabul_fall_day": float(np.median(kabul)),
           "p_kabul_by_aug31": float(np.mean(kabul <= day_index(HELD_ON)))}
    for name, (how, _) in OUTCOMES.items():
        if name not in out:
            x = m[name]
            out[name] = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
    return out


def model(name: str = "afghan2021", scenario: str = DEFAULT_SCENARIO, runs: int = DEFAULT_RUNS,
          seed: int = DEFAULT_SEED, parameters=None, switches: bool = False, outcome_names=None,
          data_dir: str | None = None):
    """An ema_workbench.Model of a scenario: its uncertainties from Params' bounds (`parameters`: the fields to
    vary, default every numeric one; `switches` adds the mechanism switches), its outcomes from OUTCOMES, and the
    scenario, replicates, seed and data folder as Constants."""
    from ema_workbench import Constant, Model

    m = Model(name, function=evaluate)
    m.uncertainties = uncertainties(parameters, switches)
    m.outcomes = outcomes(outcome_names)
    m.constants = [Constant("scenario", str(scenario)), Constant("runs", int(runs)), Constant("seed", int(seed)),
                   Constant("data_dir", data_dir)]
    return m


__all__ = ["OUTCOMES", "evaluate", "model", "outcomes", "uncertainties", "uncertain_parameters"]
