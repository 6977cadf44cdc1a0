"""Several observed patterns at once (pattern-oriented modelling, Grimm et al. 2005), each with an interval and
beside a null where one exists: one good fit can be luck, several patterns reproduced together are harder to fake.

The patterns (pattern_scorecard), over the capitals scored (metrics.observed: those still held at the start):
- the capitals-fallen curve: mean over runs of the per-run curve error (capitals); null: the national-rate timing;
- Kabul's date: median over runs of simulated minus observed (days); null: the national-rate timing;
- the national district share on the LWJ dates in the window: mean over runs of the per-run mean absolute error;
  null: the latest LWJ figure known before the start, carried forward (persistence; none if none was known);
- the manner of fall, over the capitals that fell in the window and whose manner the record knows: mean
  log-likelihood of the observed manners under the model's per-capital shares, and the share of capitals whose
  modal manner is the observed one; null: the national proportions of the record (which uses the outcome);
- Panjshir held after Kabul: share of runs in which Panjshir's capital still holds the day after Kabul falls;
  null: the national-rate timing in great-circle order;
- the discordant pairs: of the pairs the best distance null orders wrongly, the share the model's median dates order
  rightly (metrics.discordant_pairs); no null (0 by construction; a coin would get about half).
Intervals (level 90 % by default): bootstrap over runs for per-run patterns (curve, Kabul, districts, Panjshir; the
Monte Carlo error of the ensemble, which shrinks with more runs), over capitals for per-capital ones (manner,
pairs, and the model-minus-null scores in "paired"), which is what limits 34 dates with ties.
"""

from __future__ import annotations

import numpy as np

from .ensemble import EnsembleResult
from .metrics import (BLOCK, BOOTSTRAP_LEVEL, BOOTSTRAP_N, DISTANCE_NULLS, TIMING_NULL_ORDER, Observed,
                      bootstrap_capitals, bootstrap_runs, capital_table, discordant_pairs, known_before, null_days,
                      null_models, null_orders, observed, paired_bootstrap, per_run_metrics, seeded_capitals,
                      share_right_rows)
from .rules import FIGHTING, NEGOTIATED, NOT_FALLEN, SURRENDER
from .world import World, day_index

MANNERS = ("fighting", "negotiated", "surrender")  # the record's fell_how values, in the order of the model's codes
MANNER_CODES = (FIGHTING, NEGOTIATED, SURRENDER)
#: Every manner gets at least this probability (a mix with the uniform), so a manner the model never produced for a
#: capital costs log(0.01) instead of -inf.
MANNER_FLOOR = 0.01
PANJSHIR = "Panjshir"


# ---------------------------------------------------------------------------------------------- manner of fall


def floored(p: np.ndarray, floor: float = MANNER_FLOOR) -> np.ndarray:
    """(..., 3) probabilities mixed with the uniform so that none is below `floor`: (1 - 3 floor) p + floor."""
    return (1 - len(MANNERS) * floor) * np.asarray(p, dtype=float) + floor


def manner_shares(fall_how: np.ndarray, index: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """(k, 3) share of runs falling by fighting / negotiated / surrender, among the runs in which each capital of
    `index` fell in the window (a manner given a fall: whether and when it falls is scored elsewhere); uniform for a
    capital that fell in no run. Counted over blocks of runs."""
    counts = np.zeros((len(index), len(MANNERS)), dtype=np.int64)
    for lo in range(0, fall_how.shape[0], block):
        how = fall_how[lo:lo + block][:, index]
        counts += np.stack([(how == c).sum(axis=0) for c in MANNER_CODES], axis=1)
    total = counts.sum(axis=1, keepdims=True)
    return np.where(total > 0, counts / np.maximum(total, 1), 1.0 / len(MANNERS))


def national_manners(world: World, before: int | None = None) -> np.ndarray:
    """(3,) proportions of the known manners in the record (all capitals, or those whose fall was known on the
    morning of day `before`: metrics.known_before); uniform if none is known."""
    known = [p.fell_how for p in world.record.provinces if p.fell_how in MANNERS
             and (before is None or known_before(p.fell_on, getattr(p, "reported_on", None), before))]
    counts = np.array([known.count(m) for m in MANNERS], dtype=float)
    return counts / counts.sum() if counts.sum() else np.full(len(MANNERS), 1.0 / len(MANNERS))


def manner_scores(p: np.ndarray, observed_manner: np.ndarray) -> dict[str, np.ndarray]:
    """Per capital: `loglik`, log p of the observed manner (codes 0..2 into MANNERS), and `modal_right`, 1 if the
    observed manner is the most probable one (1/m if it shares the top with m - 1 others), else 0. p (k, 3) or (3,)."""
    p = np.broadcast_to(np.asarray(p, dtype=float), (len(observed_manner), len(MANNERS)))
    rows = np.arange(len(observed_manner))
    top = p == p.max(axis=1, keepdims=True)
    return {"loglik": np.log(p[rows, observed_manner]),
            "modal_right": top[rows, observed_manner] / top.sum(axis=1)}


# ------------------------------------------------------------------------------------------------- per run


def panjshir_after_kabul(fall_day: np.ndarray, kabul: int, panjshir: int) -> np.ndarray:
    """(n,) bool: Kabul fell in the run and Panjshir's capital was still held at the end of the next day."""
    k, p = fall_day[:, kabul].astype(int), fall_day[:, panjshir].astype(int)
    return (k != NOT_FALLEN) & ((p == NOT_FALLEN) | (p > k + 1))


def district_targets(world: World, start_day: int, end_day: int) -> tuple[np.ndarray, np.ndarray]:
    """(days, observed shares) of the LWJ figures in start_day..end_day (the rows of metrics.district_comparison)."""
    rows = [(day_index(o.as_of), o.taliban / (o.total or 407)) for o in world.record.district_series
            if start_day <= day_index(o.as_of) <= end_day]
    return np.array([d for d, _ in rows], dtype=int), np.array([s for _, s in rows], dtype=float)


def district_errors(result: EnsembleResult, world: World) -> np.ndarray:
    """(n,) per run, the mean absolute error of the national district share over the LWJ dates in the window."""
    days, share = district_targets(world, result.start_day, result.end_day)
    err = np.zeros(result.n_runs)
    for d, s in zip(days, share):
        err += np.abs(result.district_share_on(int(d)).astype(float) - s)
    return err / max(len(days), 1)


def district_persistence(world: World, start_day: int, end_day: int) -> float | None:
    """The persistence null's error: the latest LWJ share known on the morning of start_day (metrics.known_before),
    carried forward, against the targets in the window (mean absolute error); None without such a figure or target."""
    days, share = district_targets(world, start_day, end_day)
    before = [(day_index(o.as_of), o.taliban / (o.total or 407)) for o in world.record.district_series
              if known_before(o.as_of, getattr(o, "reported_on", None), start_day)]
    if not before or not len(days):
        return None
    return float(np.mean(np.abs(share - max(before, key=lambda x: x[0])[1])))


# ------------------------------------------------------------------------------------------------- the card


def _pattern(label, unit, observed_value, boot, interval, null=None, null_name=None, better="lower", **extra):
    return {"label": label, "unit": unit, "observed": observed_value, "model": boot["point"], "lo": boot["lo"],
            "hi": boot["hi"], "interval": interval, "null": null, "null_name": null_name, "better": better, **extra}


def pattern_scorecard(result: EnsembleResult, world: World, obs: Observed | None = None, *, table: list | None = None,
                      per_run: dict | None = None, nulls: dict | None = None, n_boot: int = BOOTSTRAP_N,
                      seed: int = 0, level: float = BOOTSTRAP_LEVEL, block: int = BLOCK,
                      replicates: bool = False) -> dict:
    """The patterns of the module docstring and the model-minus-null scores with their intervals, for the capitals
    of `obs` (default: those still held at the result's start, as metrics.score_ensemble scores).

    table, per_run and nulls: metrics.capital_table, metrics.per_run_metrics and metrics.null_models for the same
    obs, if already computed. A pattern that does not apply (Kabul or Panjshir already fallen, no LWJ date in the
    window, no known manner) is None. "paired" holds metrics.paired_bootstrap results keyed by score, then by
    distance null: "tau_b" (median dates against the null's order), "mae" and "crps" (median dates / the ensemble's
    CRPS against the null's days at the national rate before the start: honest), "mae_observed_timing" (against the
    null given the observed days: generous, uses the future). replicates=True keeps each paired result's bootstrap
    replicates (numpy arrays), for metrics.pool_paired over cut-offs.
    """
    if obs is None:
        obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    table = table if table is not None else capital_table(result, world, obs)
    per_run = per_run if per_run is not None else per_run_metrics(result, obs, block)
    nulls = nulls if nulls is not None else null_models(world, obs)
    boot = {"n": n_boot, "seed": seed, "level": level}
    row_of = {r["province"]: r for r in table}
    rows = [row_of[world.names[i]] for i in obs.index]
    median = np.array([r["median_day"] for r in rows], dtype=float)
    crps = np.array([r["crps_days"] for r in rows], dtype=float)
    orders = null_orders(world, obs)
    rate_days = null_days(world, obs, "rate")
    observed_days = null_days(world, obs, "observed")
    timing_null = f"{TIMING_NULL_ORDER}, at the national rate before the start"
    end = obs.end_day
    card: dict = {"n_capitals": len(obs.index), "level": level, "n_resamples": n_boot, "seed": seed,
                  "timing_null": timing_null}

    card["curve"] = _pattern(
        "capitals-fallen curve: mean gap (capitals)", "capitals", 0.0,
        bootstrap_runs(per_run["curve_error"], "mean", n_boot, seed, level), "runs",
        nulls[TIMING_NULL_ORDER]["curve_error_rate_timing"], timing_null)

    card["kabul"] = None
    if obs.kabul is not None:
        card["kabul"] = _pattern(
            "Kabul: simulated minus observed (days), median run", "days", int(obs.day[obs.kabul]),
            bootstrap_runs(per_run["kabul_error_days"], "median", n_boot, seed, level), "runs",
            float(rate_days[TIMING_NULL_ORDER][obs.kabul] - obs.day[obs.kabul]), timing_null, better="closer to 0",
            null_observed_timing=float(observed_days[TIMING_NULL_ORDER][obs.kabul] - obs.day[obs.kabul]))

    card["districts"] = None
    days, shares = district_targets(world, result.start_day, result.end_day)
    if len(days):
        card["districts"] = _pattern(
            "district share: mean abs. error over the LWJ dates", "share", [float(s) for s in shares],
            bootstrap_runs(district_errors(result, world), "mean", n_boot, seed, level), "runs",
            district_persistence(world, result.start_day, result.end_day), "latest LWJ figure known before the start",
            lwj_days=[int(d) for d in days])

    card["manner"] = _manner(result, world, obs, boot, block)

    card["panjshir_after_kabul"] = None
    pj = world.record.index.get(PANJSHIR)
    scored = {int(i): k for k, i in enumerate(obs.index)}
    if pj in scored and obs.kabul is not None and obs.day[obs.kabul] < end:
        k, p = obs.kabul, scored[pj]
        yes = panjshir_after_kabul(result.fall_day, world.kabul, pj)
        g = rate_days[TIMING_NULL_ORDER]
        card["panjshir_after_kabul"] = _pattern(
            f"{world.record.provinces[pj].capital} held the day after Kabul falls: share of runs", "share",
            bool(obs.day[p] > obs.day[k] + 1), bootstrap_runs(yes.astype(float), "mean", n_boot, seed, level), "runs",
            float(g[k] <= end and g[p] > g[k] + 1), timing_null, better="closer to the observed")

    distance_taus = {name: nulls[name]["tau_b"] for name in DISTANCE_NULLS}
    finite = {n: t for n, t in distance_taus.items() if np.isfinite(t)}
    best = max(finite, key=finite.get) if finite else next(iter(DISTANCE_NULLS))
    pairs = discordant_pairs(median, -orders[best], obs.day)
    ci = bootstrap_capitals(share_right_rows, (median, -orders[best], obs.day), **boot)
    card["discordant_pairs"] = _pattern(
        f"pairs the best distance null ({best}) orders wrongly: share the median dates order rightly", "share",
        None, {"point": pairs["share_right"], "lo": ci["lo"], "hi": ci["hi"]}, "capitals", None, None,
        better="higher", best_null=best, **{key: v for key, v in pairs.items() if key != "share_right"})

    null_point_crps = {name: np.maximum(np.abs(d - obs.day) - obs.tolerance, 0.0) for name, d in rate_days.items()}
    keep = {**boot, "replicates": replicates}
    card["paired"] = {
        "tau_b": {n: paired_bootstrap("tau_b", median, -orders[n], obs.day, **keep) for n in DISTANCE_NULLS},
        "mae": {n: paired_bootstrap("mae", median, rate_days[n], obs.day, obs.tolerance, **keep)
                for n in DISTANCE_NULLS},
        "crps": {n: paired_bootstrap("mean", crps, null_point_crps[n], better="lower", **keep) for n in DISTANCE_NULLS},
        "mae_observed_timing": {n: paired_bootstrap("mae", median, observed_days[n], obs.day, obs.tolerance, **keep)
                                for n in DISTANCE_NULLS},
    }
    return card


def _manner(result: EnsembleResult, world: World, obs: Observed, boot: dict, block: int) -> dict | None:
    """The manner-of-fall patterns over the scored capitals that fell in the window with a known manner."""
    how = [world.record.provinces[i].fell_how for i in obs.index]
    known = np.array([h in MANNERS and d <= obs.end_day for h, d in zip(how, obs.day)], dtype=bool)
    if not known.any():
        return None
    code = np.array([MANNERS.index(how[k]) for k in np.flatnonzero(known)])
    model = manner_scores(floored(manner_shares(result.fall_how, obs.index[known], block)), code)
    national = manner_scores(floored(national_manners(world)), code)
    before = manner_scores(floored(national_manners(world, obs.start_day)), code)
    ll = paired_bootstrap("mean", model["loglik"], national["loglik"], better="higher", **boot)
    right = paired_bootstrap("mean", model["modal_right"], national["modal_right"], better="higher", **boot)
    null_name = "national proportions of the record (uses the outcome)"
    return {
        "n_known": int(known.sum()),
        "loglik": _pattern("manner of fall: mean log-likelihood (nats a capital)", "nats", None,
                           {"point": ll["model"], "lo": ll["model_lo"], "hi": ll["model_hi"]}, "capitals",
                           ll["null"], null_name, better="higher", minus_null=ll,
                           null_before_start=float(before["loglik"].mean())),
        "modal_right": _pattern("manner of fall: modal manner right (share of capitals)", "share", None,
                                {"point": right["model"], "lo": right["model_lo"], "hi": right["model_hi"]},
                                "capitals", right["null"], null_name, better="higher", minus_null=right,
                                null_before_start=float(before["modal_right"].mean())),
    }
