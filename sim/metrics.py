"""Compare simulated fall days with the observed ones, score the null models the same way, and proper scores.

Conventions
- Days are indices from 2021-05-01. A capital that never fell by the end of a run is given day end + 1, so all
  held capitals tie at the end (for simulated runs and observations alike).
- Only the capitals still held on the run's start day are scored (a run seeded after some falls is judged on
  what was still unknown). The null models are restricted the same way.
- Observed dates with confidence "pm1" or "low" count as exact within one day (data/README.md): the absolute errors
  subtract that tolerance, and the CRPS takes the most favourable date in the band.
- The order statistics (Kendall tau-b, Spearman rho) have no tolerance: ties are handled by the tau-b and
  average-rank definitions, as in scipy.stats.kendalltau and scipy.stats.spearmanr (tests check against them).
- A metric that is undefined is NaN, without a warning: tau-b and Spearman rho when nothing can be ordered (no
  capital falls in the window), P(fallen by 15 Aug) and its Brier score when the run ends before 15 August.
- Nulls (null_models): road km, hops and great-circle km from Kabul rank the capitals farthest first; a random
  order is averaged. For day-based errors a null needs timing: "rate" (honest: the capitals fall in its order at
  the national rate of the falls known before the start, persistence before any) or "observed" (the observed days
  in its order: generous, uses the future). Both are reported, the plain keys following `timing`.
- Intervals: paired_bootstrap resamples the capitals (model minus null, same resamples for both), bootstrap_runs
  the runs; percentile intervals, 90 % and 10,000 resamples by default, seeded.
- Memory: per-run metrics are computed over blocks of BLOCK runs and per-capital statistics column by column, so
  scoring needs the (n, P) int16 fall days and a few (n,) float arrays, not (n, P) float copies; the held-over-time
  bands come from per-day histograms of the held counts (held_quantiles), exactly equal to np.percentile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

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


def average_ranks(a) -> np.ndarray:
    """The ranks (from 1) of each row of `a` (a 1-D array is one row), ties given the mean of the ranks they span:
    scipy.stats.rankdata(a, axis=1) (method "average"), a row with a NaN all NaN (its nan_policy "propagate"),
    as a test checks. Written out with numpy because the worker processes of a sweep or a validation score their
    runs here: importing scipy.stats for rankdata alone took each of them 1.6 to 2.6 s and 40 MB (measured on a
    slow day; a small sweep, north-and-cascade, ran in 5.9 s instead of 8.3)."""
    a = np.atleast_2d(np.asarray(a, dtype=float))
    n, k = a.shape
    order = np.argsort(a, axis=1, kind="stable")
    s = np.take_along_axis(a, order, axis=1)
    position = np.broadcast_to(np.arange(k), (n, k))
    starts = np.ones((n, k), dtype=bool)  # where a run of equal values begins in the sorted row
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    ends = np.ones((n, k), dtype=bool)  # where one ends
    ends[:, :-1] = starts[:, 1:]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, position, k - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((n, k))
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    ranks[np.isnan(a).any(axis=1)] = np.nan
    return ranks


def spearman_rho(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Spearman rho (Pearson correlation of average ranks) of each row of sim with obs; NaN where undefined."""
    rs = average_ranks(sim)
    ro = average_ranks(obs)[0]
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


# ------------------------------------------------------------------------------- pairs and bootstrap intervals

BOOTSTRAP_N = 10_000
BOOTSTRAP_LEVEL = 0.90
BOOTSTRAP_BLOCK = 1000  # resamples drawn at a time: bounds the (block, k) or (block, distinct values) temporaries
MAX_DISTINCT = 256  # bootstrap_runs: distinct values kept exactly; more are grouped into this many bins


def _pair_signs(arrays: list[np.ndarray]):
    """Yield, for each capital a, [sign(x[:, a] - x[:, b]) for b > a] of each (n, k) array: (n, k - a - 1) each.
    One a at a time keeps the temporaries small, and is faster than gathering all k(k-1)/2 pairs at once."""
    for a in range(arrays[0].shape[1] - 1):
        yield [np.sign(x[:, a, None] - x[:, a + 1:]) for x in arrays]


def kendall_tau_b_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row of x (n, k) with the same row of y (n, k) or with y (k,), as scipy.stats.kendalltau;
    NaN where undefined. Pairs tied in x or in y drop out of the numerator and out of that side of the denominator,
    so a capital drawn twice by a bootstrap forms a pair tied in both that counts nowhere."""
    x, y = np.broadcast_arrays(np.atleast_2d(np.asarray(x, dtype=float)), np.atleast_2d(np.asarray(y, dtype=float)))
    score, untied_x, untied_y = (np.zeros(x.shape[0]) for _ in range(3))
    for dx, dy in _pair_signs([x, y]):
        score += (dx * dy).sum(axis=1)
        untied_x += (dx != 0).sum(axis=1)
        untied_y += (dy != 0).sum(axis=1)
    denom = np.sqrt(untied_x * untied_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, score / np.where(denom > 0, denom, 1.0), np.nan)


def pair_counts(model: np.ndarray, null: np.ndarray, obs: np.ndarray) -> dict[str, np.ndarray]:
    """Pairs of capitals the null orders wrongly, and what the model does with them; rows of (n, k) or one (k,).

    Predictions and observations are fall days (earlier = falls first). Pairs tied in the observation are not
    counted (there is no right order). A pair is `null_wrong` when the null orders it strictly against the
    observation; a pair the null ties is not wrong (it makes no claim) and is counted apart as `null_tied`. Among the
    null_wrong pairs the model is `concordant` (right), `discordant` (wrong as well) or `tied`. All (n,) int64.
    """
    m, u, o = np.broadcast_arrays(*(np.atleast_2d(np.asarray(a, dtype=float)) for a in (model, null, obs)))
    keys = ("null_wrong", "null_tied", "concordant", "discordant", "tied")
    out = {key: np.zeros(m.shape[0], dtype=np.int64) for key in keys}
    for sm, su, so in _pair_signs([m, u, o]):
        wrong = (so != 0) & (su == -so)
        for key, hit in zip(keys, (wrong, (so != 0) & (su == 0), wrong & (sm == so), wrong & (sm == -so),
                                   wrong & (sm == 0))):
            out[key] += hit.sum(axis=1)
    return out


def discordant_pairs(model: np.ndarray, null: np.ndarray, obs: np.ndarray) -> dict[str, float]:
    """pair_counts for one set of (k,) fall days, with `share_right`: the model's concordant pairs among the pairs
    the null orders wrongly (ties of the model count as not right; NaN if the null orders no pair wrongly)."""
    c = {key: int(v[0]) for key, v in pair_counts(model, null, obs).items()}
    c["share_right"] = c["concordant"] / c["null_wrong"] if c["null_wrong"] else float("nan")
    return c


def share_right_rows(model: np.ndarray, null: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """(n,) discordant_pairs' share_right for rows of (n, k): NaN where the null orders no pair wrongly."""
    c = pair_counts(model, null, obs)
    return np.where(c["null_wrong"] > 0, c["concordant"] / np.maximum(c["null_wrong"], 1), np.nan)


#: Statistics of (n, k) rows of per-capital predictions (or values), the observations and their tolerances -> (n,),
#: with the direction that is better. "mean" averages per-capital values (a CRPS, a log-likelihood) and needs no obs.
CAPITAL_STATS = {
    "tau_b": (lambda p, o, t: kendall_tau_b_rows(p, o), "higher"),
    "mae": (lambda p, o, t: np.maximum(np.abs(p - o) - (0.0 if t is None else t), 0.0).mean(axis=1), "lower"),
    "mean": (lambda p, o, t: p.mean(axis=1), None),
}


def bootstrap_indices(k: int, n: int = BOOTSTRAP_N, seed: int = 0) -> np.ndarray:
    """(n, k) capitals drawn with replacement, one resample a row: default_rng(seed).integers(0, k, (n, k))."""
    return np.random.default_rng(seed).integers(0, k, (n, k))


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite values (NaN, NaN if none)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def paired_bootstrap(stat, model: np.ndarray, null: np.ndarray, obs: np.ndarray | None = None,
                     tolerance: np.ndarray | None = None, n: int = BOOTSTRAP_N, seed: int = 0,
                     level: float = BOOTSTRAP_LEVEL, better: str | None = None, replicates: bool = False) -> dict:
    """Model minus null for a score of per-capital predictions, with a `level` percentile interval from resampling
    the capitals with replacement (the same capitals for both: paired).

    stat: "tau_b" (predicted days against obs), "mae" (predicted days, obs and tolerance), "mean" (per-capital values:
    CRPS, log-likelihood; obs unused), or a function (rows (n, k) of predictions, obs, tolerance) -> (n,). Returns
    point (model - null on all capitals), lo, hi, model and null with their own intervals (model_lo, ...), n_valid
    (resamples where both are defined: a resample of capitals that all tie in the observation has no tau-b) and
    share_model_better (of those resamples; NaN unless the better direction is known). The whole (n, k) index matrix
    is bootstrap_indices(k, n, seed), drawn in blocks of BOOTSTRAP_BLOCK rows. replicates=True adds the (n,) arrays
    "model_replicates" and "null_replicates" (NaN where undefined), for pool_paired.
    """
    fn, direction = CAPITAL_STATS[stat] if isinstance(stat, str) else (stat, None)
    direction = better or direction
    model, null = np.asarray(model, dtype=float), np.asarray(null, dtype=float)
    obs = None if obs is None else np.asarray(obs, dtype=float)
    tol = None if tolerance is None else np.asarray(tolerance, dtype=float)
    k = model.size
    full = fn(np.stack([model, null]), obs, tol) if k else np.full(2, np.nan)
    ms, us = np.full(n, np.nan), np.full(n, np.nan)
    if k:
        idx = bootstrap_indices(k, n, seed)
        with np.errstate(invalid="ignore"):
            for lo in range(0, n, BOOTSTRAP_BLOCK):
                rows = idx[lo:lo + BOOTSTRAP_BLOCK]
                o, t = (None if a is None else a[rows] for a in (obs, tol))
                ms[lo:lo + len(rows)] = fn(model[rows], o, t)
                us[lo:lo + len(rows)] = fn(null[rows], o, t)
    out = _paired_summary(float(full[0]), float(full[1]), ms, us, direction, level)
    if replicates:
        out.update(model_replicates=ms, null_replicates=us)
    return out


def _paired_summary(model: float, null: float, ms: np.ndarray, us: np.ndarray, direction: str | None,
                    level: float) -> dict:
    diff = ms - us
    valid = ~np.isnan(diff)
    sign = {"higher": 1.0, "lower": -1.0}.get(direction, np.nan)
    d_lo, d_hi = _interval(diff, level)
    m_lo, m_hi = _interval(ms, level)
    u_lo, u_hi = _interval(us, level)
    return {"point": model - null, "lo": d_lo, "hi": d_hi, "model": model, "model_lo": m_lo, "model_hi": m_hi,
            "null": null, "null_lo": u_lo, "null_hi": u_hi, "n_valid": int(valid.sum()), "better": direction,
            "share_model_better": float(np.mean(sign * diff[valid] > 0)) if valid.any() and np.isfinite(sign)
            else float("nan"), "level": level, "n_resamples": len(ms)}


def pool_paired(results: list[dict], level: float = BOOTSTRAP_LEVEL) -> dict:
    """paired_bootstrap results (made with replicates=True and the same n) pooled over forecasts, e.g. cut-offs:
    the mean of the points, and the interval of the replicate-by-replicate means (replicate r of each forecast
    averaged; a replicate undefined in any forecast is left out). Same keys as paired_bootstrap."""
    if not results:
        raise ValueError("nothing to pool")
    directions = {r["better"] for r in results}
    if len(directions) > 1:
        raise ValueError(f"cannot pool scores with different directions: {directions}")
    ms = np.mean([r["model_replicates"] for r in results], axis=0)
    us = np.mean([r["null_replicates"] for r in results], axis=0)
    return _paired_summary(float(np.mean([r["model"] for r in results])), float(np.mean([r["null"] for r in results])),
                           ms, us, directions.pop(), level)


def bootstrap_capitals(fn, arrays: tuple, n: int = BOOTSTRAP_N, seed: int = 0, level: float = BOOTSTRAP_LEVEL) -> dict:
    """A statistic of several per-capital (k,) arrays resampled together: fn(*rows of (n, k)) -> (n,). Returns point
    (on all capitals), lo, hi and n_valid, with the same index matrix as paired_bootstrap for the same k and seed."""
    arrays = tuple(np.asarray(a, dtype=float) for a in arrays)
    k = arrays[0].size
    point = float(fn(*(a[None, :] for a in arrays))[0]) if k else float("nan")
    values = np.full(n, np.nan)
    if k:
        idx = bootstrap_indices(k, n, seed)
        with np.errstate(invalid="ignore"):
            for lo in range(0, n, BOOTSTRAP_BLOCK):
                rows = idx[lo:lo + BOOTSTRAP_BLOCK]
                values[lo:lo + len(rows)] = fn(*(a[rows] for a in arrays))
    lo, hi = _interval(values, level)
    return {"point": point, "lo": lo, "hi": hi, "n_valid": int((~np.isnan(values)).sum()), "level": level,
            "n_resamples": n}


def distinct_counts(values: np.ndarray, max_distinct: int = MAX_DISTINCT) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values ascending, their counts) of the finite values. With more than max_distinct distinct values,
    they are grouped into max_distinct equal-width bins, each value standing for the mean of its bin's members (so
    the mean of all the values is unchanged; a resampled mean moves by less than one bin width)."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    u, counts = np.unique(v, return_counts=True)
    if u.size <= max_distinct:
        return u, counts
    edges = np.linspace(u[0], u[-1], max_distinct + 1)
    b = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, max_distinct - 1)
    counts = np.bincount(b, minlength=max_distinct)
    sums = np.bincount(b, weights=v, minlength=max_distinct)
    keep = counts > 0
    return sums[keep] / counts[keep], counts[keep]


def _median_of_counts(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """np.median of each row's sample: values (V,) ascending, counts (n, V) of each value in the row's sample."""
    cum = np.cumsum(counts, axis=1)
    total = cum[:, -1]
    a = values[(cum <= ((total - 1) // 2)[:, None]).sum(axis=1)]
    b = values[(cum <= (total // 2)[:, None]).sum(axis=1)]
    return (a + b) / 2


def bootstrap_runs(values: np.ndarray, stat: str = "mean", n: int = BOOTSTRAP_N, seed: int = 0,
                   level: float = BOOTSTRAP_LEVEL, max_distinct: int = MAX_DISTINCT) -> dict:
    """Bootstrap over runs of the "mean" or "median" of a per-run value (NaN runs left out): point, lo, hi.

    A resample of the runs is drawn as the counts of each distinct value, default_rng(seed).multinomial(runs,
    shares, size=BOOTSTRAP_BLOCK) block by block: the same distribution as resampling runs by index, in memory and
    time that do not grow with the number of runs. Exact for values with at most max_distinct distinct values (a
    fall day, a yes/no, a curve error, which is a whole number of capital-days over the days); beyond that, see
    distinct_counts.
    """
    if stat not in ("mean", "median"):
        raise ValueError(f"stat is 'mean' or 'median', not {stat!r}")
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"point": float("nan"), "lo": float("nan"), "hi": float("nan"), "level": level, "n_resamples": n}
    point = float(np.mean(v) if stat == "mean" else np.median(v))
    u, counts = distinct_counts(v, max_distinct)
    rng = np.random.default_rng(seed)
    out = np.empty(n)
    for lo in range(0, n, BOOTSTRAP_BLOCK):
        c = rng.multinomial(v.size, counts / v.size, size=min(BOOTSTRAP_BLOCK, n - lo))
        out[lo:lo + len(c)] = c @ u / v.size if stat == "mean" else _median_of_counts(u, c)
    lo, hi = _interval(out, level)
    return {"point": point, "lo": lo, "hi": hi, "level": level, "n_resamples": n}


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


# ---------------------------------------------------------------------------------------------- the null models

#: The distance nulls: each ranks the scored capitals farthest from Kabul first (a World method giving the distance).
DISTANCE_NULLS = {"road distance from Kabul": "road_km_from_kabul", "hops from Kabul": "hops_from_kabul",
                  "great-circle distance from Kabul": "great_circle_km_from_kabul"}
#: The ordering the timing null uses when one fixed ordering is wanted: fixed in advance, not the best in hindsight.
TIMING_NULL_ORDER = "great-circle distance from Kabul"
TIMINGS = ("observed", "rate")


def null_orders(world: World, obs: Observed) -> dict[str, np.ndarray]:
    """(k,) score of each scored capital under each distance null; a higher score falls earlier (farther first)."""
    return {name: getattr(world, method)()[obs.index] for name, method in DISTANCE_NULLS.items()}


def known_before(on: dt.date | None, reported: dt.date | None, day: int) -> bool:
    """An observation dated `on` is known on the morning of `day`: it happened and was reported before that day (an
    observation without a report date counts as reported on the day it describes)."""
    return on is not None and day_index(on) < day and (reported is None or day_index(reported) < day)


def rate_before(world: World, day: int) -> tuple[int, int]:
    """(m, span): capitals whose fall was known on the morning of `day` (known_before), and days from the first of
    those falls to `day`.

    The national rate up to a forecast made on the morning of `day` is m / span capitals a day; (0, 0) if nothing
    was known to have fallen. Nothing after `day` is read, so a forecast from `day` uses nothing after it.
    """
    before = [day_index(p.fell_on) for p in world.record.provinces
              if known_before(p.fell_on, getattr(p, "reported_on", None), day)]
    return (len(before), int(day - min(before))) if before else (0, 0)


def rate_slots(k: int, m: int, span: int, start_day: int, end_day: int) -> np.ndarray:
    """(k,) ascending fall days of the next k capitals at m falls per span days from the morning of start_day.

    The j-th (j = 1..k) falls on day start_day + ceil(j span / m) - 1, so that floor(m (t + 1) / span) have fallen by
    the end of day start_day + t (integer arithmetic, no rounding). Days after end_day, and every day when m = 0
    (persistence: nothing had fallen, so nothing is forecast to), are end_day + 1: held to the end.
    """
    if m == 0:
        return np.full(k, end_day + 1, dtype=float)
    j = np.arange(1, k + 1)
    day = start_day - (-(j * span) // m) - 1
    return np.where(day > end_day, end_day + 1, day).astype(float)


def days_in_order(score: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """The ascending days `slots` given out in the order of `score` (highest first); tied scores share the mean of
    the days they span, so a null does not order what it cannot tell apart."""
    score = np.asarray(score, dtype=float)
    ascending = np.sort(score)
    lo = score.size - np.searchsorted(ascending, score, side="right")  # how many score higher
    hi = score.size - np.searchsorted(ascending, score, side="left")  # ... and how many score the same
    cum = np.concatenate([[0.0], np.cumsum(np.sort(np.asarray(slots, dtype=float)))])
    return (cum[hi] - cum[lo]) / (hi - lo)


def timing_slots(world: World, obs: Observed, timing: str = "rate") -> np.ndarray:
    """(k,) ascending days a null gives out in its order.

    "rate" (honest, the default for forecasts): the scored capitals fall at the national rate observed before
    obs.start_day (rate_before, rate_slots); persistence if nothing had fallen. "observed": the observed fall days of
    the scored capitals, sorted: generous to the null, and it uses the future (the timing it is scored on).
    """
    if timing == "observed":
        return np.sort(obs.day).astype(float)
    if timing != "rate":
        raise ValueError(f"timing is one of {TIMINGS}, not {timing!r}")
    return rate_slots(len(obs.day), *rate_before(world, obs.start_day), obs.start_day, obs.end_day)


def null_days(world: World, obs: Observed, timing: str = "rate") -> dict[str, np.ndarray]:
    """(k,) predicted fall day of each scored capital under each distance null, with the given timing."""
    slots = timing_slots(world, obs, timing)
    return {name: days_in_order(score, slots) for name, score in null_orders(world, obs).items()}


DAY_ERRORS = ("mae_days", "curve_error", "kabul_error_days")


def null_models(world: World, obs: Observed, seed: int = 0, timing: str = "observed") -> dict[str, dict[str, float]]:
    """Order-only null models scored like the model.

    Each distance null ranks the scored capitals (farthest from Kabul first); tau-b and Spearman compare that ranking
    with the observed order. The day-based errors (DAY_ERRORS) need days: they are given under both timings of
    timing_slots, as `<error>_observed_timing` (generous, uses the future) and `<error>_rate_timing` (the national
    rate before the start: honest), and under the plain key for `timing` ("observed" by default, as before).
    The random null is the mean over N_RANDOM_NULL random orders.
    """
    if timing not in TIMINGS:
        raise ValueError(f"timing is one of {TIMINGS}, not {timing!r}")
    slots = {t: timing_slots(world, obs, t) for t in TIMINGS}

    def score(order: np.ndarray) -> dict[str, float]:
        # Order statistics from the null's own ranking (ties only where it has them), errors from its days.
        m = {"tau_b": float(kendall_tau_b(-order[None, :], obs.day)[0]),
             "spearman": float(spearman_rho(-order[None, :], obs.day)[0])}
        for t in TIMINGS:
            errors = run_metrics(days_in_order(order, slots[t])[None, :], obs)
            m.update({f"{k}_{t}_timing": float(errors[k][0]) for k in DAY_ERRORS if k in errors})
        return _with_plain_keys(m, timing)

    out = {name: score(order) for name, order in null_orders(world, obs).items()}
    rng = np.random.default_rng(seed)
    perms = np.array([rng.permutation(len(obs.day)) for _ in range(N_RANDOM_NULL)])
    m = {}
    for t in TIMINGS:
        per = run_metrics(slots[t][perms], obs)
        if t == "observed":
            m.update({"tau_b": _quiet_nanmean(per["tau_b"]), "spearman": _quiet_nanmean(per["spearman"])})
        m.update({f"{k}_{t}_timing": _quiet_nanmean(per[k]) for k in DAY_ERRORS if k in per})
    out["random order (mean)"] = _with_plain_keys(m, timing)
    return out


def _with_plain_keys(m: dict[str, float], timing: str) -> dict[str, float]:
    """The day-based errors of `timing` also under their plain keys (what the fit table and the figures read)."""
    plain = {k: m[f"{k}_{timing}_timing"] for k in DAY_ERRORS if f"{k}_{timing}_timing" in m}
    return {"tau_b": m["tau_b"], "spearman": m["spearman"], **plain, **m}


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


def score_ensemble(result: EnsembleResult, world: World, block: int = BLOCK, n_boot: int = BOOTSTRAP_N) -> dict:
    """Every metric of the model issue for one ensemble, with the null models beside them, and the patterns with
    their intervals (sim.patterns.pattern_scorecard, n_boot resamples, seed 0) under "patterns".

    Works on either layout of EnsembleResult; memory beyond the result is a few (n,) arrays plus one block's
    temporaries. Undefined metrics are NaN (see the module docstring), with no RuntimeWarning.
    """
    from .patterns import pattern_scorecard  # patterns builds on this module

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
        "patterns": pattern_scorecard(result, world, obs, table=table, per_run=per_run, nulls=nulls, n_boot=n_boot,
                                      block=block),
    }
