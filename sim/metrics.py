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
- A metric that is undefined is NaN, without a warning: tau-b and Spearman rho when nothing can be ordered (no
  capital falls in the window), P(fallen by 15 Aug) and its Brier score when the run ends before 15 August.
- Memory: per-run metrics are computed over blocks of BLOCK runs and per-capital statistics column by column, so
  scoring needs the (n, P) int16 fall days and a few (n,) float arrays, not (n, P) float copies; the held-over-time
  bands come from per-day histograms of the held counts (held_quantiles), exactly equal to np.percentile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .ensemble import EnsembleResult, observed_fall_days
from .rules import NOT_FALLEN, SEEDED
from .world import World, day_index

BRIER_DATE = dt.date(2021, 8, 15)
N_RANDOM_NULL = 2000
BLOCK = 10_000  # runs per block: about 40 MB of temporaries (the (b, days) curves), whatever the ensemble size
HELD_BANDS = (5, 25, 50, 75, 95)  # percentiles of the held-over-time figure: 90 % and 50 % bands and the median


# --------------------------------------------------------------------------------------------- order statistics


def kendall_tau_b(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Kendall tau-b between each row of sim (n, k) and obs (k,), vectorised over rows; NaN where undefined."""
    sim = np.atleast_2d(sim).astype(float)
    obs = np.asarray(obs, dtype=float)
    n, k = sim.shape
    # Pairs (a, b > a) one a at a time: (n, k - a - 1) temporaries instead of (n, k(k-1)/2). Sums of signs are
    # exact integers, so the result does not depend on the order they are added in.
    concordant = np.zeros(n)
    untied_x = np.zeros(n, dtype=np.int64)
    untied_y = 0
    for a in range(k - 1):
        dx = np.sign(sim[:, a, None] - sim[:, a + 1:])
        dy = np.sign(obs[a] - obs[a + 1:])
        concordant += (dx * dy).sum(axis=1)
        untied_x += (dx != 0).sum(axis=1)
        untied_y += int((dy != 0).sum())
    denom = np.sqrt(untied_x * float(untied_y))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, concordant / np.where(denom > 0, denom, 1.0), np.nan)


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
    """Number of capitals fallen by the end of each day: (n, k) fall days -> (n, len(days)); days ascending."""
    x = np.atleast_2d(days_fallen)
    n, m = x.shape[0], len(days)
    # A fall on day x counts from the first of `days` >= x on: count falls by that index, then accumulate.
    first = np.searchsorted(days, x, side="left") + (m + 1) * np.arange(n)[:, None]
    counts = np.bincount(first.ravel(), minlength=n * (m + 1)).reshape(n, m + 1)
    return np.cumsum(counts[:, :m], axis=1)


def crps_ensemble(samples: np.ndarray, y: float) -> float:
    """CRPS of the empirical distribution of `samples` for the observation y (units of the samples).

    CRPS = E|X - y| - E|X - X'| / 2, computed exactly for the empirical distribution (Gneiting & Raftery 2007).
    """
    return _crps_sorted(np.sort(np.asarray(samples, dtype=float)), y)


def _crps_sorted(x: np.ndarray, y: float) -> float:
    m = x.size
    spread = 2.0 * np.sum((2 * np.arange(1, m + 1) - m - 1) * x) / m**2  # E|X - X'|
    return float(np.mean(np.abs(x - y)) - 0.5 * spread)


def crps_with_tolerance(samples: np.ndarray, y: float, tolerance: int, is_sorted: bool = False) -> float:
    """CRPS against the most favourable date within +-tolerance days of y (exact within the band)."""
    x = np.asarray(samples, dtype=float) if is_sorted else np.sort(np.asarray(samples, dtype=float))
    return min(_crps_sorted(x, y + k) for k in range(-tolerance, tolerance + 1))


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(outcome, float)) ** 2))


# ------------------------------------------------------------------------------------------ blocks of runs


def over_blocks(fall_day: np.ndarray, fn: Callable, block: int = BLOCK):
    """fn applied to consecutive blocks of rows of fall_day (n, P), its (b,) arrays (or a dict of them) joined.

    Only a block's temporaries are alive at a time; results are per run, so they do not depend on the block.
    """
    parts = [fn(fall_day[lo:lo + block]) for lo in range(0, max(fall_day.shape[0], 1), block)]
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def held_histogram(fall_day: np.ndarray, start_day: int, end_day: int, block: int = BLOCK) -> np.ndarray:
    """(days, P + 1) int64: how many runs held v = 0..P capitals at the end of each day start_day..end_day.

    From the fall days alone: a capital is held at the end of day d when its fall day is NOT_FALLEN or later than
    d (seeded capitals fell before the start). Histograms add up, so chunks of runs can be counted separately.
    """
    n_p = fall_day.shape[1]
    days = np.arange(start_day, end_day + 1)
    offset = (n_p + 1) * np.arange(len(days))
    hist = np.zeros(len(days) * (n_p + 1), dtype=np.int64)
    for lo in range(0, fall_day.shape[0], block):
        held = n_p - fallen_curve(censored(fall_day[lo:lo + block], end_day), days)
        hist += np.bincount((held + offset).ravel(), minlength=hist.size)
    return hist.reshape(len(days), n_p + 1)


def count_histogram(counts: np.ndarray, n_values: int) -> np.ndarray:
    """(days, n_values) histogram of (n, days) integer counts 0..n_values-1 (e.g. a daily held_count)."""
    counts = np.asarray(counts, dtype=np.int64)
    offset = n_values * np.arange(counts.shape[1])
    return np.bincount((counts + offset).ravel(), minlength=counts.shape[1] * n_values).reshape(-1, n_values)


def histogram_percentiles(hist: np.ndarray, q) -> np.ndarray:
    """Percentiles q (0-100) of integer values 0..V-1 given by their counts, one row of hist (m, V) per column of
    the data: (len(q), m), equal to np.percentile(values, q, axis=0) with its default linear interpolation.

    Every row must count the same number of values (runs). NaN if there are none.
    """
    hist = np.asarray(hist)
    n = int(hist[0].sum()) if hist.shape[0] else 0
    qf = np.true_divide(np.asarray(q), 100)  # as np.percentile
    if n == 0:
        return np.full((qf.size, hist.shape[0]), np.nan)
    # numpy's method 7: virtual index (n - 1) q between order statistics floor and floor + 1 (the last one at the
    # top), interpolated by its fractional part with numpy's _lerp (from the upper end when gamma >= 0.5).
    virtual = (n - 1) * qf
    floor = np.floor(virtual)
    above = virtual >= n - 1
    lo = np.where(above, n - 1, floor).astype(np.int64)
    hi = np.where(above, n - 1, floor + 1).astype(np.int64)
    gamma = (virtual - floor)[:, None]
    cum = np.cumsum(hist, axis=1)  # values <= v
    a = (cum[None, :, :] <= lo[:, None, None]).sum(axis=2).astype(float)  # the lo-th smallest value
    b = (cum[None, :, :] <= hi[:, None, None]).sum(axis=2).astype(float)
    diff = b - a
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)


def held_quantiles(fall_day: np.ndarray, start_day: int, end_day: int, q=HELD_BANDS,
                   block: int = BLOCK) -> np.ndarray:
    """(len(q), days) percentiles over runs of the capitals held at the end of each day, from the fall days:
    equal to np.percentile(held_count, q, axis=0), in memory bounded by the block (see held_histogram)."""
    return histogram_percentiles(held_histogram(fall_day, start_day, end_day, block), q)


@dataclass(frozen=True)
class HeldBands:
    """What the held-over-time figure draws: percentiles HELD_BANDS over runs of the capitals held each day."""

    values: np.ndarray  # (len(HELD_BANDS), days) from start_day
    n_runs: int

    @classmethod
    def from_fall_days(cls, fall_day: np.ndarray, start_day: int, end_day: int, block: int = BLOCK) -> HeldBands:
        return cls(held_quantiles(fall_day, start_day, end_day, HELD_BANDS, block), fall_day.shape[0])

    @classmethod
    def from_counts(cls, held_count: np.ndarray, n_capitals: int) -> HeldBands:
        """From (n_runs, days) daily held counts (the daily layout, or a Mesa run's collected series)."""
        held_count = np.asarray(held_count)
        hist = count_histogram(held_count, n_capitals + 1)
        return cls(histogram_percentiles(hist, HELD_BANDS), held_count.shape[0])


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


def _quiet_nanmean(v: np.ndarray) -> float:
    """np.nanmean, NaN without a warning when every value is NaN."""
    v = np.asarray(v, dtype=float)
    return float(np.nanmean(v)) if (~np.isnan(v)).any() else float("nan")


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
    out["random order (mean)"] = {k: _quiet_nanmean(v) for k, v in m.items()}
    return out


def summarise(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan"), "mean": float("nan")}
    return {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)),
            "p90": float(np.percentile(v, 90)), "mean": float(v.mean())}


def capital_table(result: EnsembleResult, world: World, obs: Observed) -> list[dict]:
    """One row per scored capital, sorted by observed date: distribution of the simulated fall day and scores.

    Column by column: one (n,) float copy at a time. P(fallen by 15 Aug) is NaN when the run ends before it."""
    brier_day = day_index(BRIER_DATE)
    reaches = result.end_day >= brier_day
    rows = []
    for k, i in enumerate(obs.index):
        x = np.sort(censored(result.fall_day[:, i], result.end_day))
        prov = world.record.provinces[i]
        rows.append({
            "province": prov.name,
            "capital": prov.capital,
            "observed_day": int(obs.day[k]),
            "date_confidence": prov.date_confidence,
            "median_day": float(np.median(x)),
            "p10_day": float(np.percentile(x, 10)),
            "p90_day": float(np.percentile(x, 90)),
            "p_fallen_by_aug15": float(np.mean(x <= brier_day)) if reaches else float("nan"),
            "p_held_at_end": float(np.mean(x > result.end_day)),
            "crps_days": crps_with_tolerance(x, obs.day[k], int(obs.tolerance[k]), is_sorted=True),
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
        x = result.district_share_on(d)
        rows.append({"as_of": o.as_of.isoformat(), "observed_share": o.taliban / total,
                     "simulated_mean": float(x.mean()), "simulated_p10": float(np.percentile(x, 10)),
                     "simulated_p90": float(np.percentile(x, 90)),
                     "abs_error": float(abs(x.mean() - o.taliban / total)), "confidence": o.confidence})
    return rows


def seeded_capitals(result: EnsembleResult) -> np.ndarray:
    """(P,) the capitals every run started as Taliban-held."""
    how = result.fall_how
    return np.array([(how[:, i] == SEEDED).all() for i in range(how.shape[1])], dtype=bool)


def per_run_metrics(result: EnsembleResult, obs: Observed, block: int = BLOCK) -> dict[str, np.ndarray]:
    """run_metrics of every run, computed over blocks of runs (memory bounded by the block, same numbers)."""
    return over_blocks(result.fall_day, lambda fd: run_metrics(censored(fd[:, obs.index], result.end_day), obs),
                       block)


def score_ensemble(result: EnsembleResult, world: World, block: int = BLOCK) -> dict:
    """Every metric of the model issue for one ensemble, with the null models beside them.

    Works on either layout of EnsembleResult; memory beyond the result is a few (n,) arrays plus one block's
    temporaries. Undefined metrics are NaN (see the module docstring), with no RuntimeWarning.
    """
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    per_run = per_run_metrics(result, obs, block)
    table = capital_table(result, world, obs)
    brier_day = day_index(BRIER_DATE)
    p_fallen = np.array([r["p_fallen_by_aug15"] for r in table])
    outcome = np.array([r["observed_day"] <= brier_day for r in table])
    median_of = {r["province"]: r["median_day"] for r in table}
    median_days = np.array([median_of[world.record.provinces[i].name] for i in obs.index])
    nulls = null_models(world, obs)
    summaries = {k: summarise(v) for k, v in per_run.items()}
    model_tau = summaries["tau_b"]["median"]
    best_null = max(nulls, key=lambda k: nulls[k]["tau_b"])
    districts = district_comparison(result, world)
    how = np.zeros(5, dtype=np.int64)
    for lo in range(0, result.n_runs, block):
        how += np.bincount(result.fall_how[lo:lo + block, obs.index].ravel(), minlength=5)
    how = how / result.n_runs
    return {
        "n_runs": result.n_runs,
        "n_scored_capitals": len(obs.index),
        "per_run": summaries,
        "ensemble": {
            "tau_b_of_median_days": float(kendall_tau_b(median_days[None, :], obs.day)[0]),
            "spearman_of_median_days": float(spearman_rho(median_days[None, :], obs.day)[0]),
            "crps_mean_days": float(np.mean([r["crps_days"] for r in table])) if table else float("nan"),
            "brier_fallen_by_aug15": brier(p_fallen, outcome) if table else float("nan"),
            "district_share_mae": float(np.mean([r["abs_error"] for r in districts])) if districts else None,
        },
        "nulls": nulls,
        "skill": {"best_null": best_null, "tau_b_model_minus_best_null": model_tau - nulls[best_null]["tau_b"]},
        "fall_how_per_run": {"fighting": float(how[1]), "negotiated": float(how[2]), "surrender": float(how[3])},
        "capitals": table,
        "districts": districts,
    }
