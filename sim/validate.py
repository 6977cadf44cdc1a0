"""`run.py validate`: rolling-origin evaluation, the project's measuring instrument.

For each forecast cut-off D (a forecast is made on the morning of D):
  1. calibrate the global parameters on what was known by the end of D - 1: the falls before D, the Long War
     Journal figures published before D, and that every other capital still held (sim/calibrate.py Target);
  2. seed the state at D from the record as known then, and forecast with the calibrated parameters and with
     the prior defaults, each with two root seeds (seed noise);
  3. score the capitals still held at D, beside null models restricted the same way: road km, great-circle km
     and hops from Kabul for the order, and for timing the null that spreads the remaining falls at the national
     rate observed before D;
  4. for each score, model minus each null with a 90 % paired bootstrap interval over capitals.
A pooled line averages every score over the cut-offs (the bootstrap replicates averaged the same way).
`--cutoffs none` gives the in-sample scorecard on all 34, with cross-validation over capitals (folds stratified
by fall date) as its out-of-sample counterpart.

Results (results/validate-<scenario>/): manifest.json (the definition), study.db (one Optuna study per cut-off),
cutoffs/<D>.json (every score of one cut-off, written when it is complete: a rerun skips it), validation.json
and report.html. Thirty-four dates with many ties cannot separate models whose tau-b differ by less than about
0.15: the intervals say so, and the table does not call a difference within them skill.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from . import folders
from .progress import progress_bar

if TYPE_CHECKING:  # the command line reads this module's defaults: the model's modules load when they are used
    from .scenario import Scenario
    from .world import World

DEFAULT_CUTOFFS = ("2021-07-01", "2021-08-01", "2021-08-06", "2021-08-08", "2021-08-10", "2021-08-12",
                   "2021-08-14")
DEFAULT_TRIALS = 100
DEFAULT_REPLICATES = 200  # runs per calibration trial
DEFAULT_RUNS = 1000  # runs per forecast
DEFAULT_BOOTSTRAP = 10_000
SEED_OFFSET = 1_000_003  # the second root seed: seed + SEED_OFFSET


@dataclass(frozen=True)
class Protocol:
    """Everything that defines a validation: equal protocols (and equal code and data) give equal tables."""

    scenario: Scenario
    cutoffs: tuple[dt.date, ...]  # empty: in sample on all 34, with cross-validation
    trials: int
    replicates: int
    runs: int
    seed: int
    bootstrap: int
    cv_folds: int = 4

    @property
    def seeds(self) -> tuple[int, int]:
        return self.seed, (self.seed + SEED_OFFSET) % (2**63)

    def definition(self, world: World) -> dict:
        from . import calibrate as cal, store

        return json.loads(store.to_json({
            "scenario_text": self.scenario.text, "cutoffs": [d.isoformat() for d in self.cutoffs],
            "trials": self.trials, "replicates": self.replicates, "runs": self.runs, "seeds": list(self.seeds),
            "bootstrap": self.bootstrap, "cv_folds": self.cv_folds, "calibrated": list(cal.CALIBRATED),
            "loss_scales": cal.SCALES, "data_sha256": store.data_checksums(world)}))


def prepare_folder(out: Path, protocol: Protocol, world: World, force: bool = False) -> None:
    """Create the folder with its manifest, or check that it holds this very protocol (to resume it)."""
    from . import store

    out = Path(out)
    wanted = protocol.definition(world)
    exists = folders.check_target(out, "validation", force)
    meta = folders.read_manifest(out) if exists else None
    if folders.same_definition(out, "validation", meta, wanted, force):
        return
    if exists:
        folders.clear_folder(out)
    (out / "cutoffs").mkdir(parents=True, exist_ok=True)
    store.write_json(out / "manifest.json", {**store.stamp("validation"), "name": out.name,
                                             "scenario": protocol.scenario.name, "definition": wanted})


def cutoff_path(out: Path, cutoff: dt.date | None) -> Path:
    return Path(out) / "cutoffs" / f"{cutoff.isoformat() if cutoff else 'in-sample'}.json"


def forecast(scenario: Scenario, params, start: dt.date, runs: int, seed: int, world: World,
             score_days=None):
    """The ensemble of a forecast made on the morning of `start` on `world` (the record as known then). It keeps
    the district share on `score_days` (the LWJ dates of the whole record, to score it), which it does not see."""
    from .ensemble import run_ensemble

    return run_ensemble(params, runs, seed, start, scenario.end, world, interventions=scenario.events,
                        initial=scenario.initial, daily=False, district_days=score_days)


def fall_days_of(result, world: World) -> tuple[np.ndarray, object]:
    """(n, k) censored fall days of the capitals scored (still held at the start) and their Observed."""
    from .metrics import censored, observed, seeded_capitals

    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    return censored(result.fall_day[:, obs.index], result.end_day), obs


def quick_scores(days: np.ndarray, obs) -> dict:
    """The headline scores of one forecast (no nulls): used for the seed-noise line."""
    from .metrics import kendall_tau_b

    med = np.median(days, axis=0)
    return {"tau_b_median_dates": float(kendall_tau_b(med[None, :], obs.day)[0]),
            "tau_b_median_run": float(np.nanmedian(kendall_tau_b(days, obs.day)))}


def observed_before(world: World, cutoff: dt.date) -> np.ndarray:
    """(P,) observed fall days known on the morning of `cutoff` (NOT_FALLEN for later or no falls)."""
    from .seeding import observed_fall_days
    from .world import day_index

    days = observed_fall_days(world).astype(int)
    return np.where((days >= 0) & (days < day_index(cutoff)), days, -1)


# ------------------------------------------------------------------------------------------------- one cut-off

VARIANTS = ("calibrated", "prior")


def _strip(obj):
    """A scorecard without its bootstrap replicate arrays (those go to the .npz beside it)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if not k.endswith("_replicates")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _replicates(card: dict, prefix: str) -> dict[str, np.ndarray]:
    """The replicate arrays of card['paired'], flattened to npz keys prefix/score/null/{model,null}."""
    out = {}
    for score, by_null in card["paired"].items():
        for null, res in by_null.items():
            for side in ("model", "null"):
                if f"{side}_replicates" in res:
                    out[f"{prefix}|{score}|{null}|{side}"] = res[f"{side}_replicates"]
    return out


def score_forecast(result, world: World, protocol: Protocol, keep_replicates: bool) -> dict:
    """Every score of one forecast against the whole record, on the capitals still held at its start."""
    from .patterns import pattern_scorecard

    days, obs = fall_days_of(result, world)
    card = pattern_scorecard(result, world, obs, n_boot=protocol.bootstrap, seed=protocol.seed % 2**32,
                             replicates=keep_replicates)
    card.update(quick_scores(days, obs))
    seeding = getattr(result, "seeding", None) or {}
    card["seeding"] = {k: seeding.get(k) for k in ("ess_share", "ess_share_min", "collapsed_chunks", "beta_min",
                                                   "n_forced", "floored", "floored_kept")}
    card["capitals"] = [world.names[i] for i in obs.index]
    card["median_days"] = np.median(days, axis=0).tolist()
    card["observed_days"] = obs.day.tolist()
    return card


def forecast_and_score(task) -> dict:
    """One forecast from a cut-off and its scorecard, in a worker: (protocol, params, cutoff, seed,
    keep_replicates, data dir). The forecast sees the record as known on the cut-off's morning; the scorecard
    scores it against the whole record (and the LWJ dates, which the forecast keeps but does not see)."""
    from .world import day_index, world_for

    protocol, params, cutoff, seed, keep_replicates, data_dir = task
    world = world_for(data_dir)
    lwj_days = [day_index(o.as_of) for o in world.record.district_series]
    r = forecast(protocol.scenario, params, cutoff, protocol.runs, seed, world.known_on(cutoff), lwj_days)
    return score_forecast(r, world, protocol, keep_replicates)


def run_cutoff(protocol: Protocol, cutoff: dt.date, world: World, out: Path, executor, batch: int,
               progress: bool, data_dir: str | None = None) -> dict:
    """Calibrate on what was known by the end of the day before `cutoff`, forecast from `cutoff` with the
    calibrated and the prior parameters (two seeds each), score. Writes cutoffs/<D>.json and .npz."""
    from . import calibrate as cal, store

    sc = protocol.scenario
    target = cal.target_until(world, cutoff - dt.timedelta(days=1))
    study = cal.calibrate(sc, world, out, executor, protocol.trials, protocol.replicates, protocol.seed, target,
                          batch=batch, progress=progress, study_name=f"cutoff-{cutoff.isoformat()}", data_dir=data_dir)
    best = study.best_params
    record = {"cutoff": cutoff.isoformat(), "fitted_capitals": int(target.fit.sum()),
              "trials": cal.completed_trials(study), "best_loss": study.best_value,
              "best_terms": study.best_trial.user_attrs, "best_params": best, "variants": {}}
    # The four forecasts and their scorecards (bootstraps: most of the time) run side by side on the executor.
    futures = {(variant, k): executor.submit(forecast_and_score, (
        protocol, sc.params.replace(**best) if variant == "calibrated" else sc.params, cutoff, seed, k == 0, data_dir))
        for variant in VARIANTS for k, seed in enumerate(protocol.seeds)}
    arrays = {}
    for variant in VARIANTS:
        cards = []
        for k in range(len(protocol.seeds)):
            card = futures[variant, k].result()
            if k == 0:
                arrays.update(_replicates(card, variant))
            cards.append(_strip(card))
        record["variants"][variant] = {"seed_a": cards[0], "seed_b": {key: cards[1][key] for key in
                                                                     ("tau_b_median_dates", "tau_b_median_run")}}
    path = cutoff_path(out, cutoff)
    with folders.atomic_path(path.with_suffix(".npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    store.write_json(path, record)  # written last: its presence marks the cut-off done
    return record


def load_replicates(out: Path, cutoff: dt.date) -> dict[str, np.ndarray]:
    with np.load(cutoff_path(out, cutoff).with_suffix(".npz")) as z:
        return {k: z[k] for k in z.files}


# ------------------------------------------------------------------------------------------------- the protocol

SCORES = {"tau_b": "tau-b of the median dates", "mae": "MAE of the median dates (days)", "crps": "mean CRPS (days)"}


def run_validation(protocol: Protocol, world: World, out: Path, executor, batch: int, progress: bool = True,
                   data_dir: str | None = None) -> dict:
    """Every cut-off (resuming: a cut-off whose file is written is read, not run again), then the pooled line.
    Writes validation.json and validation.csv; returns the summary."""
    from . import store

    bar = None
    if progress and protocol.cutoffs:
        bar = progress_bar(len(protocol.cutoffs), "validate", "cut-off")
    records = []
    for cutoff in protocol.cutoffs:
        path = cutoff_path(out, cutoff)
        if path.exists():
            records.append(json.loads(path.read_text(encoding="utf-8")))
        else:
            records.append(run_cutoff(protocol, cutoff, world, out, executor, batch, progress, data_dir))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    summary = {"cutoffs": records, "pooled": pooled(protocol, out) if records else None}
    if not protocol.cutoffs:
        path = cutoff_path(out, None)
        if not path.exists():
            run_in_sample(protocol, world, out, executor, batch, progress, data_dir)
        summary["in_sample"] = json.loads(path.read_text(encoding="utf-8"))
    store.write_json(out / "validation.json", summary)
    folders.write_text(out / "validation.csv", tidy(summary).to_csv(index=False))
    return summary


def pooled(protocol: Protocol, out: Path) -> dict:
    """Model minus null pooled over the cut-offs (metrics.pool_paired: replicate by replicate), per variant, score
    and null."""
    from .metrics import pool_paired

    arrays = [load_replicates(out, d) for d in protocol.cutoffs]
    result: dict = {}
    for variant in VARIANTS:
        result[variant] = {}
        for score in SCORES:
            result[variant][score] = {}
            nulls = sorted({k.split("|")[2] for k in arrays[0] if k.startswith(f"{variant}|{score}|")})
            for null in nulls:
                parts = []
                for a, d in zip(arrays, protocol.cutoffs):
                    rec = json.loads(cutoff_path(out, d).read_text(encoding="utf-8"))
                    res = dict(rec["variants"][variant]["seed_a"]["paired"][score][null])
                    res["model_replicates"] = a[f"{variant}|{score}|{null}|model"]
                    res["null_replicates"] = a[f"{variant}|{score}|{null}|null"]
                    if score == "tau_b":  # a forecast in which nothing falls orders nothing: tau-b 0 when pooled
                        res["model_replicates"] = np.nan_to_num(res["model_replicates"], nan=0.0)
                        res["model"] = 0.0 if res["model"] != res["model"] else res["model"]
                    parts.append(res)
                result[variant][score][null] = pool_paired(parts, parts[0]["level"])
    return result


def tidy(summary: dict):
    """One row per cut-off (and the pooled line), variant, score and null: a table for pandas."""
    import pandas as pd

    def row(cutoff, capitals, variant, score, null, res):
        return {"cutoff": cutoff, "capitals": capitals, "variant": variant, "score": score, "null_model": null,
                "model": res["model"], "null": res["null"], "difference": res["point"], "lo": res["lo"],
                "hi": res["hi"], "share_model_better": res["share_model_better"]}

    rows = [row(rec["cutoff"], v["seed_a"]["n_capitals"], variant, score, null, res)
            for rec in summary["cutoffs"] for variant, v in rec["variants"].items()
            for score, by_null in v["seed_a"]["paired"].items() for null, res in by_null.items()]
    rows += [row("pooled", None, variant, score, null, res)
             for variant, by_score in (summary.get("pooled") or {}).items()
             for score, by_null in by_score.items() for null, res in by_null.items()]
    table = pd.DataFrame(rows)
    if len(table):
        table["capitals"] = table["capitals"].astype("Int64")
    return table


def run_in_sample(protocol: Protocol, world: World, out: Path, executor, batch: int, progress: bool,
                  data_dir: str | None) -> dict:
    """`--cutoffs none`: calibrate on all 34 in hindsight (in sample), score the calibrated and the prior runs
    from the scenario's start, and cross-validate over capitals (folds stratified by fall date) for the
    out-of-fold median dates, scored against the nulls with the same intervals."""
    from . import calibrate as cal, store
    from .ensemble import run_ensemble
    from .metrics import observed
    from .world import day_index

    from .metrics import DISTANCE_NULLS, null_days, null_orders, paired_bootstrap
    sc = protocol.scenario.replace(hindsight=True)
    target = cal.Target(np.ones(world.n_provinces, bool), None)
    study = cal.calibrate(sc, world, out, executor, protocol.trials, protocol.replicates, protocol.seed, target,
                          batch=batch, progress=progress, study_name="in-sample", data_dir=data_dir)
    record = {"cutoff": None, "trials": cal.completed_trials(study), "best_loss": study.best_value,
              "best_params": study.best_params, "variants": {}}
    for variant in VARIANTS:
        params = sc.params.replace(**study.best_params) if variant == "calibrated" else sc.params
        r = run_ensemble(params, protocol.runs, protocol.seed, sc.start, sc.end, world, interventions=sc.events,
                         initial=sc.initial, daily=False)
        record["variants"][variant] = {"seed_a": _strip(score_forecast(r, world, protocol, False))}
    cv = cal.cross_validate(sc, world, out, executor, protocol.cv_folds, max(10, protocol.trials // 2),
                            protocol.replicates, protocol.seed, batch, progress, data_dir=data_dir, target=target,
                            medians=True)
    obs = observed(world, day_index(sc.start), day_index(sc.end))
    oof = np.asarray(cv.pop("out_of_fold_medians"))[obs.index]
    orders, timed = null_orders(world, obs), null_days(world, obs, "observed")
    boot = {"n": protocol.bootstrap, "seed": protocol.seed % 2**32}
    cv["paired"] = {"tau_b": {n: _strip(paired_bootstrap("tau_b", oof, -orders[n], obs.day, **boot))
                              for n in DISTANCE_NULLS},
                    "mae_observed_timing": {n: _strip(paired_bootstrap("mae", oof, timed[n], obs.day, obs.tolerance,
                                                                       **boot)) for n in DISTANCE_NULLS}}
    record["cross_validation"] = cv
    store.write_json(cutoff_path(out, None), record)
    return record


# ------------------------------------------------------------------------------------------------- the tables

SHORT = {"road distance from Kabul": "road km", "great-circle distance from Kabul": "great-circle",
         "hops from Kabul": "hops"}
COLUMNS = """\
columns: cut-off = the morning the forecast is made; capitals = those still held then (the only ones scored, and
the nulls are restricted to the same); calibrated / prior = the model with the parameters fitted on what was known
by the cut-off / with the prior defaults; road km, great-circle, hops = the distance nulls (farthest from Kabul
falls first); 'cal - best null' = calibrated minus the best of the three nulls at that cut-off (chosen after the
fact, which favours the null), with its 90 % paired bootstrap interval over capitals; 'seed' = calibrated tau-b
with the second root seed (seed noise). Timing: MAE and CRPS of the median dates in days (lower is better) against
the null that lets the remaining capitals fall in great-circle order at the national rate observed before the
cut-off (persistence, all held, before the first fall); Kabul = simulated minus observed fall day (median run);
pairs = among the pairs of capitals the best distance null orders wrongly, the share the model orders rightly.
ESS = the effective sample size of the seeded start (sequential importance resampling on the falls and LWJ
figures known before the cut-off) as a share of the runs; '!': the weights collapsed (below 5 %) and were tempered.
pooled = the mean over the cut-offs, its interval from the bootstrap replicates averaged across cut-offs; a
forecast in which nothing falls has no order (n/a) and counts as tau-b 0 there."""


def _ess(card: dict) -> str:
    """The seeded start's effective sample size as a share of the runs; '!' where the weights collapsed and the
    likelihood was tempered."""
    s = card.get("seeding") or {}
    if s.get("ess_share") is None:
        return "-"
    return f"{s['ess_share']:.2f}" + ("!" if s.get("collapsed_chunks") else "")


def _best_null(card: dict) -> str:
    taus = {n: r["null"] for n, r in card["paired"]["tau_b"].items() if r["null"] == r["null"]}
    return max(taus, key=taus.get) if taus else next(iter(card["paired"]["tau_b"]))


def _ci(res: dict, fmt: str = "{:+.2f}") -> str:
    from .report import fmt_interval

    return fmt_interval(res["point"], res["lo"], res["hi"], fmt)


def _f(x, fmt="{:.2f}") -> str:
    from .report import fmt_value

    return fmt_value(x, fmt)


def format_tables(summary: dict) -> str:
    lines = []
    recs = summary["cutoffs"]
    if recs:
        head = (f"{'cut-off':<10} {'capitals':>8} {'calibrated':>10} {'prior':>6} {'seed':>6} {'road km':>8} "
                f"{'great-circle':>12} {'hops':>6}  {'cal - best null [90 %]':<24} {'prior - best null [90 %]':<24}")
        lines += ["Order: Kendall tau-b of the median fall dates against the observed order", head, "-" * len(head)]
        for rec in recs:
            cal_, pri = (rec["variants"][v]["seed_a"] for v in VARIANTS)
            best = _best_null(cal_)
            nulls = {n: cal_["paired"]["tau_b"][n]["null"] for n in SHORT}
            lines.append(f"{rec['cutoff']:<10} {cal_['n_capitals']:>8} {_f(cal_['tau_b_median_dates']):>10} "
                         f"{_f(pri['tau_b_median_dates']):>6} "
                         f"{_f(rec['variants']['calibrated']['seed_b']['tau_b_median_dates']):>6} "
                         f"{_f(nulls['road distance from Kabul']):>8} {_f(nulls['great-circle distance from Kabul']):>12} "
                         f"{_f(nulls['hops from Kabul']):>6}  {_ci(cal_['paired']['tau_b'][best]) + ' ' + SHORT[best]:<24} "
                         f"{_ci(pri['paired']['tau_b'][best]):<24}")
        pool = summary["pooled"]
        if pool:
            cal_p, pri_p = pool["calibrated"]["tau_b"], pool["prior"]["tau_b"]
            best = max(cal_p, key=lambda n: cal_p[n]["null"])
            lines.append(f"{'pooled':<10} {'':>8} {_f(cal_p[best]['model']):>10} {_f(pri_p[best]['model']):>6} "
                         f"{'':>6} {_f(cal_p['road distance from Kabul']['null']):>8} "
                         f"{_f(cal_p['great-circle distance from Kabul']['null']):>12} "
                         f"{_f(cal_p['hops from Kabul']['null']):>6}  {_ci(cal_p[best]) + ' ' + SHORT[best]:<24} "
                         f"{_ci(pri_p[best]):<24}")
        head = (f"{'cut-off':<10} {'MAE cal':>8} {'prior':>6} {'null':>6}  {'cal - null [90 %]':<22} {'CRPS cal':>8} "
                f"{'null':>6}  {'cal - null [90 %]':<22} {'Kabul cal':>9} {'prior':>6} {'null':>6} {'pairs':>6} "
                f"{'ESS cal':>7} {'prior':>6}")
        lines += ["", "Timing: errors in days against the null at the national rate before the cut-off", head,
                  "-" * len(head)]
        gc = "great-circle distance from Kabul"
        for rec in recs:
            cal_, pri = (rec["variants"][v]["seed_a"] for v in VARIANTS)
            mae, crps = cal_["paired"]["mae"][gc], cal_["paired"]["crps"][gc]
            kab = [c["kabul"] for c in (cal_, pri)]
            pairs = cal_["discordant_pairs"]
            lines.append(f"{rec['cutoff']:<10} {_f(mae['model'], '{:.1f}'):>8} "
                         f"{_f(pri['paired']['mae'][gc]['model'], '{:.1f}'):>6} {_f(mae['null'], '{:.1f}'):>6}  "
                         f"{_ci(mae, '{:+.1f}'):<22} {_f(crps['model'], '{:.1f}'):>8} {_f(crps['null'], '{:.1f}'):>6}  "
                         f"{_ci(crps, '{:+.1f}'):<22} "
                         f"{(_f(kab[0]['model'], '{:+.0f}') if kab[0] else 'fallen'):>9} "
                         f"{(_f(kab[1]['model'], '{:+.0f}') if kab[1] else '-'):>6} "
                         f"{(_f(kab[0]['null'], '{:+.0f}') if kab[0] else '-'):>6} "
                         f"{_f(pairs['model'] if pairs else float('nan')):>6} "
                         f"{_ess(cal_):>7} {_ess(pri):>6}")
        if pool:
            mae, crps = pool["calibrated"]["mae"][gc], pool["calibrated"]["crps"][gc]
            lines.append(f"{'pooled':<10} {_f(mae['model'], '{:.1f}'):>8} "
                         f"{_f(pool['prior']['mae'][gc]['model'], '{:.1f}'):>6} {_f(mae['null'], '{:.1f}'):>6}  "
                         f"{_ci(mae, '{:+.1f}'):<22} {_f(crps['model'], '{:.1f}'):>8} {_f(crps['null'], '{:.1f}'):>6}  "
                         f"{_ci(crps, '{:+.1f}'):<22}")
    if summary.get("in_sample"):
        rec = summary["in_sample"]
        cal_, pri = (rec["variants"][v]["seed_a"] for v in VARIANTS)
        cv = rec["cross_validation"]
        head = f"{'on all 34 capitals':<44} {'tau-b':>6}  {'minus road km / great-circle / hops [90 %]'}"
        lines += ["In sample (fitted and scored on the same 34 capitals) and cross-validated over capitals", head,
                  "-" * len(head)]
        for label, card in (("calibrated on all 34 (in sample)", cal_), ("prior defaults", pri)):
            lines.append(f"{label:<44} {_f(card['tau_b_median_dates']):>6}  "
                         + " / ".join(_ci(card["paired"]["tau_b"][n]) for n in SHORT))
        oof = cv["paired"]["tau_b"]
        lines.append(f"{'out of fold (' + str(cv['folds']) + ' folds by fall date)':<44} "
                     f"{_f(cv['out_of_fold_tau_b_median_dates']):>6}  " + " / ".join(_ci(oof[n]) for n in SHORT))
    lines += ["", "An interval that holds 0 cannot tell the model from the null: with 34 dates and many ties, "
                  "differences in tau-b below about 0.15 are within the noise.", "", COLUMNS]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------- the report


def figure(summary: dict):
    """Model minus the best distance null (tau-b) and minus the timing null (MAE) per cut-off, with intervals."""
    import matplotlib.pyplot as plt

    recs = summary["cutoffs"]
    labels = [r["cutoff"][5:] for r in recs] + (["pooled"] if summary.get("pooled") else [])
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(labels) + 2.2), sharey=True)
    gc = "great-circle distance from Kabul"
    for ax, score, title in ((axes[0], "tau_b", "tau-b: model minus the best distance null (higher: model better)"),
                             (axes[1], "mae", "MAE (days): model minus the timing null (lower: model better)")):
        for shift, variant, colour in ((-0.15, "calibrated", "tab:blue"), (0.15, "prior", "tab:orange")):
            rows = []
            for r in recs:
                card = r["variants"][variant]["seed_a"]
                null = _best_null(r["variants"]["calibrated"]["seed_a"]) if score == "tau_b" else gc
                rows.append(card["paired"][score][null])
            if summary.get("pooled"):
                pool = summary["pooled"][variant][score]
                null = max(pool, key=lambda n: pool[n]["null"]) if score == "tau_b" else gc
                rows.append(pool[null])
            y = np.arange(len(rows)) + shift
            pts = np.array([x["point"] for x in rows], float)
            lo = np.array([x["lo"] for x in rows], float)
            hi = np.array([x["hi"] for x in rows], float)
            ax.errorbar(pts, y, xerr=[pts - lo, hi - pts], fmt="o", color=colour, capsize=3, label=variant)
        ax.axvline(0, color="0.3", lw=1)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(np.arange(len(labels)))
    axes[0].set_yticklabels(labels)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("forecast made on (2021)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Rolling-origin validation: 90 % paired bootstrap intervals over the capitals still held")
    fig.tight_layout()
    return fig


def write_report(out: Path, summary: dict, title: str) -> list[Path]:
    import html

    import matplotlib.pyplot as plt

    from .figures import _img, _page
    from .report import patterns_table

    paths = []
    body = [f"<pre>{html.escape(format_tables(summary))}</pre>"]
    if summary["cutoffs"]:
        fig = figure(summary)
        for suffix in ("png", "svg"):
            paths.append(folders.save_figure(fig, out / f"validation.{suffix}", dpi=130, bbox_inches="tight"))
        plt.close(fig)
        body.insert(0, _img(out / "validation.png"))
        for rec in summary["cutoffs"]:
            card = rec["variants"]["calibrated"]["seed_a"]
            body.append(f"<h2>Forecast from {rec['cutoff']} (calibrated on what was known by then: "
                        f"{rec['fitted_capitals']} falls, {rec['trials']} trials)</h2>"
                        f"<pre>{html.escape(patterns_table(card))}</pre>")
    page = out / "report.html"
    folders.write_text(page, _page(title, body))
    return paths + [page]
