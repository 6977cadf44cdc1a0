"""Compare simulated fall days with the observed ones, score the null models the same way, and proper scores.

Conventions
- Days are indices from 2021-05-01. A capital that never fell by the end of a run is given day end + 1, so all
  held capitals tie at the end (for simulated runs and observations alike).
- Only the capitals still held on the run's start day are scored (a run seeded after some falls is judged on
  what was still unknown). The null models are restricted the same way.
- Observed dates with confidence "pm1" or "low" count as exact within one day (SOURCES.md): the absolute errors
  subtract that tolerance, and the CRPS takes the most favourable date in the band.
- The order statistics (Kendall tau-b, Spearman rho) have no tolerance: ties are handled by the tau-b and
  average-rank definitions, as in scipy.stats.kendalltau and scipy.stats.spearmanr (tests check against them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .ensemble import EnsembleResult, observed_fall_days
from .rules import NOT_FALLEN, SEEDED
from .world import World, day_index

BRIER_DATE = dt.date(2021, 8, 15)
N_RANDOM_NULL = 2000


# --------------------------------------------------------------------------------------------- order statistics


def kendall_tau_b(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Kendall tau-b between each row of sim (n, k) and obs (k,), vectorised over rows; NaN where undefined."""
    sim = np.atleast_2d(sim).astype(float)
    i, j = np.triu_indices(sim.shape[1], k=1)
    dx = np.sign(sim[:, i] - sim[:, j])
    dy = np.sign(obs[i] - obs[j]).astype(float)
    denom = np.sqrt((dx != 0).sum(axis=1) * float((dy != 0).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (dx * dy).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def spearman_rho(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Spearman rho (Pearson correlation of average ranks) of each row of sim with obs; NaN where undefined."""
    rs = stats.rankdata(np.atleast_2d(sim), axis=1)
    ro = stats.rankdata(obs)
    rs = rs - rs.mean(axis=1, keepdims=True)
    ro = ro - ro.mean()
    denom = np.sqrt((rs**2).sum(axis=1) * (ro**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rs @ ro) / np.where(denom > 0, denom, 1.0), np.nan)


# ----------------------------------------------------------------------------------------------- error measures


def absolute_errors(sim: np.ndarray, obs: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """|sim - obs| less the tolerance of each observation, never below 0. Shapes (n, k), (k,), (k,)."""
    return np.maximum(np.abs(np.atleast_2d(sim) - obs) - tolerance, 0.0)


def fallen_curve(days_fallen: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Number of capitals fallen by the end of each day: (n, k) fall days -> (n, len(days))."""
    x = np.atleast_2d(days_fallen)
    return (x[:, :, None] <= days[None, None, :]).sum(axis=1)


def crps_ensemble(samples: np.ndarray, y: float) -> float:
    """CRPS of the empirical distribution of `samples` for the observation y (units of the samples).

    CRPS = E|X - y| - E|X - X'| / 2, computed exactly for the empirical distribution (Gneiting & Raftery 2007).
    """
    x = np.sort(np.asarray(samples, dtype=float))
    m = x.size
    spread = 2.0 * np.sum((2 * np.arange(1, m + 1) - m - 1) * x) / m**2  # E|X - X'|
    return float(np.mean(np.abs(x - y)) - 0.5 * spread)


def crps_with_tolerance(samples: np.ndarray, y: float, tolerance: int) -> float:
    """CRPS against the most favourable date within +-tolerance days of y (exact within the band)."""
    return min(crps_ensemble(samples, y + k) for k in range(-tolerance, tolerance + 1))


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(outcome, float)) ** 2))


# ------------------------------------------------------------------------------------------------- the scoring


@dataclass(frozen=True)
class Observed:
    """The observed record restricted to the capitals scored for a run starting on start_day."""

    names: tuple[str, ...]
    index: np.ndarray  # positions in the world's province order
    day: np.ndarray  # observed fall day, censored at end_day + 1
    tolerance: np.ndarray
    kabul: int | None  # position of Kabul among the scored capitals
    start_day: int
    end_day: int


def observed(world: World, start_day: int, end_day: int, seeded: np.ndarray | None = None) -> Observed:
    """The capitals to score: those the record has still held on the morning of start_day, less any the run
    started as Taliban-held (`seeded`, e.g. a scenario's [initial] fallen)."""
    fell = observed_fall_days(world).astype(int)
    scored = (fell == NOT_FALLEN) | (fell >= start_day)
    if seeded is not None:
        scored &= ~seeded
    idx = np.flatnonzero(scored)
    day = np.where((fell[idx] == NOT_FALLEN) | (fell[idx] > end_day), end_day + 1, fell[idx])
    tol = np.array([world.record.provinces[i].tolerance_days for i in idx])
    k = np.flatnonzero(idx == world.kabul)
    return Observed(tuple(world.names[i] for i in idx), idx, day, tol, int(k[0]) if k.size else None,
                    start_day, end_day)


def censored(fall_day: np.ndarray, end_day: int) -> np.ndarray:
    """Fall days with NOT_FALLEN replaced by end_day + 1 (held to the end)."""
    return np.where(fall_day == NOT_FALLEN, end_day + 1, fall_day).astype(float)


def run_metrics(sim_days: np.ndarray, obs: Observed) -> dict[str, np.ndarray]:
    """Per-run metrics over the scored capitals: sim_days (n, k) censored fall days."""
    days = np.arange(obs.start_day, obs.end_day + 1)
    out = {
        "tau_b": kendall_tau_b(sim_days, obs.day),
        "spearman": spearman_rho(sim_days, obs.day),
        "mae_days": absolute_errors(sim_days, obs.day, obs.tolerance).mean(axis=1),
        "curve_error": np.abs(fallen_curve(sim_days, days) - fallen_curve(obs.day, days)).mean(axis=1),
    }
    if obs.kabul is not None:
        out["kabul_error_days"] = sim_days[:, obs.kabul] - obs.day[obs.kabul]
    return out


def null_models(world: World, obs: Observed, seed: int = 0) -> dict[str, dict[str, float]]:
    """Order-only null models scored like the model.

    Each null ranks the scored capitals (farthest from Kabul first); tau-b and Spearman compare that ranking with
    the observed order. For the day-based errors it is given the observed timing (the observed fall days, sorted,
    assigned in the null's order; tied ranks share the mean), which is generous to the null.
    """
    km = world.road_km_from_kabul()[obs.index]
    hops = world.hops_from_kabul()[obs.index]
    sorted_obs = np.sort(obs.day)

    def as_days(score: np.ndarray) -> np.ndarray:
        # Higher score = falls earlier. Tied scores get the mean of the days they span.
        lo = stats.rankdata(-score, method="min").astype(int) - 1
        hi = stats.rankdata(-score, method="max").astype(int)
        cum = np.concatenate([[0.0], np.cumsum(sorted_obs)])
        return (cum[hi] - cum[lo]) / (hi - lo)

    def score(order: np.ndarray) -> dict[str, float]:
        # Order statistics from the null's own ranking (ties only where it has them), errors from its days.
        m = {k: float(v[0]) for k, v in run_metrics(as_days(order)[None, :], obs).items()}
        m["tau_b"] = float(kendall_tau_b(-order[None, :], obs.day)[0])
        m["spearman"] = float(spearman_rho(-order[None, :], obs.day)[0])
        return m

    out = {"road distance from Kabul": score(km), "hops from Kabul": score(hops)}
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(len(obs.day)) for _ in range(N_RANDOM_NULL)])
    random_days = sorted_obs[perms]
    m = run_metrics(random_days, obs)
    out["random order (mean)"] = {k: float(np.nanmean(v)) for k, v in m.items()}
    return out


def summarise(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan"), "mean": float("nan")}
    return {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)), "mean": float(v.mean())}


def capital_table(result: EnsembleResult, world: World, obs: Observed) -> list[dict]:
    """One row per scored capital, sorted by observed date: distribution of the simulated fall day and scores."""
    sim = censored(result.fall_day[:, obs.index], result.end_day)
    brier_day = day_index(BRIER_DATE)
    rows = []
    for k, i in enumerate(obs.index):
        x = sim[:, k]
        prov = world.record.provinces[i]
        rows.append({
            "province": prov.name,
            "capital": prov.capital,
            "observed_day": int(obs.day[k]),
            "date_confidence": prov.date_confidence,
            "median_day": float(np.median(x)),
            "p10_day": float(np.percentile(x, 10)),
            "p90_day": float(np.percentile(x, 90)),
            "p_fallen_by_aug15": float(np.mean(x <= brier_day)),
            "p_held_at_end": float(np.mean(x > result.end_day)),
            "crps_days": crps_with_tolerance(x, obs.day[k], int(obs.tolerance[k])),
        })
    order = np.argsort([r["observed_day"] for r in rows], kind="stable")
    return [rows[i] for i in order]


def district_comparison(result: EnsembleResult, world: World) -> list[dict]:
    """Simulated national share of districts under Taliban control against the LWJ series, on its dates."""
    rows = []
    for o in world.record.district_series:
        d = day_index(o.as_of)
        if not result.start_day <= d <= result.end_day:
            continue
        total = o.total or 407  # LWJ's 2021 denominator before it moved to 421 (see data/README.md)
        x = result.district_share[:, d - result.start_day]
        rows.append({"as_of": o.as_of.isoformat(), "observed_share": o.taliban / total,
                     "simulated_mean": float(x.mean()), "simulated_p10": float(np.percentile(x, 10)),
                     "simulated_p90": float(np.percentile(x, 90)),
                     "abs_error": float(abs(x.mean() - o.taliban / total)), "confidence": o.confidence})
    return rows


def seeded_capitals(result: EnsembleResult) -> np.ndarray:
    """(P,) the capitals every run started as Taliban-held."""
    return (result.fall_how == SEEDED).all(axis=0)


def score_ensemble(result: EnsembleResult, world: World) -> dict:
    """Every metric of the model issue for one ensemble, with the null models beside them."""
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    sim = censored(result.fall_day[:, obs.index], result.end_day)
    per_run = run_metrics(sim, obs)
    table = capital_table(result, world, obs)
    brier_day = day_index(BRIER_DATE)
    p_fallen = np.array([r["p_fallen_by_aug15"] for r in table])
    outcome = np.array([r["observed_day"] <= brier_day for r in table])
    median_days = np.median(sim, axis=0)
    nulls = null_models(world, obs)
    model_tau = float(np.nanmedian(per_run["tau_b"]))
    best_null = max(nulls, key=lambda k: nulls[k]["tau_b"])
    districts = district_comparison(result, world)
    how = np.bincount(result.fall_how[:, obs.index].ravel(), minlength=5) / result.n_runs
    return {
        "n_runs": result.n_runs,
        "n_scored_capitals": len(obs.index),
        "per_run": {k: summarise(v) for k, v in per_run.items()},
        "ensemble": {
            "tau_b_of_median_days": float(kendall_tau_b(median_days[None, :], obs.day)[0]),
            "spearman_of_median_days": float(spearman_rho(median_days[None, :], obs.day)[0]),
            "crps_mean_days": float(np.mean([r["crps_days"] for r in table])),
            "brier_fallen_by_aug15": brier(p_fallen, outcome),
            "district_share_mae": float(np.mean([r["abs_error"] for r in districts])) if districts else None,
        },
        "nulls": nulls,
        "skill": {"best_null": best_null, "tau_b_model_minus_best_null": model_tau - nulls[best_null]["tau_b"]},
        "fall_how_per_run": {"fighting": float(how[1]), "negotiated": float(how[2]), "surrender": float(how[3])},
        "capitals": table,
        "districts": districts,
    }
