"""Metrics against scipy and hand-computed cases; a perfect forecast scores perfectly; nulls are what they say."""

import datetime as dt
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from sim import metrics, report
from sim.ensemble import EnsembleResult, observed_fall_days, run_ensemble
from sim.params import Params
from sim.rules import NOT_FALLEN, SEEDED
from sim.seeding import InitialConditions


def test_tau_b_and_spearman_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 8, 34).astype(float)
    sims = rng.integers(0, 8, (25, 34)).astype(float)
    tau = metrics.kendall_tau_b(sims, obs)
    rho = metrics.spearman_rho(sims, obs)
    for k in range(25):
        assert tau[k] == pytest.approx(stats.kendalltau(sims[k], obs).statistic, abs=1e-12)
        assert rho[k] == pytest.approx(stats.spearmanr(sims[k], obs).statistic, abs=1e-12)


def test_tau_b_hand_computed():
    # Pairs of (1,2,2,3) vs (1,2,3,4): 5 concordant, 0 discordant, one tie in x.
    # tau-b = 5 / sqrt((6 - 1) * 6) = 0.9129
    assert metrics.kendall_tau_b(np.array([[1, 2, 2, 3]]), np.array([1, 2, 3, 4]))[0] == pytest.approx(5 / np.sqrt(30))
    assert metrics.kendall_tau_b(np.array([[4, 3, 2, 1]]), np.array([1, 2, 3, 4]))[0] == -1.0
    assert np.isnan(metrics.kendall_tau_b(np.array([[5, 5, 5]]), np.array([1, 2, 3]))[0])


def test_crps_hand_computed_and_against_the_definition():
    # samples 1, 2, 3 and y = 2: E|X - y| = 2/3, E|X - X'| = 8/9, CRPS = 2/3 - 4/9 = 2/9.
    assert metrics.crps_ensemble(np.array([1, 2, 3]), 2) == pytest.approx(2 / 9)
    assert metrics.crps_ensemble(np.array([5, 5]), 5) == 0.0
    # Against the integral of (F(x) - 1{x >= y})^2 over x for a random ensemble.
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, 50).astype(float)
    grid = np.linspace(-5, 25, 300001)
    F = (x[None, :] <= grid[:, None]).mean(axis=1)
    integral = np.trapezoid((F - (grid >= 7.0)) ** 2, grid)
    assert metrics.crps_ensemble(x, 7.0) == pytest.approx(integral, abs=1e-3)


def test_tolerance_counts_a_day_as_exact():
    assert metrics.crps_with_tolerance(np.array([11, 11, 11]), 10, 1) == 0.0
    assert metrics.crps_with_tolerance(np.array([12, 12]), 10, 1) == 1.0
    err = metrics.absolute_errors(np.array([[9.0, 13.0, 10.0]]), np.array([10.0, 10.0, 10.0]), np.array([1, 1, 0]))
    assert err.tolist() == [[0.0, 2.0, 0.0]]


def test_fallen_curve_and_brier():
    curve = metrics.fallen_curve(np.array([[1, 3, 3, 9]]), np.arange(0, 5))
    assert curve.tolist() == [[0, 1, 1, 3, 3]]
    assert metrics.brier(np.array([1.0, 0.5, 0.0]), np.array([1, 0, 1])) == pytest.approx((0 + 0.25 + 1) / 3)


def _result_from(world, fall_day):
    n = fall_day.shape[0]
    return EnsembleResult(names=world.names, params=Params(), seed=0, start_day=0, end_day=128, chunk_size=n,
                          run_seed=np.zeros(n, np.int64), fall_day=fall_day.astype(np.int16),
                          fall_how=np.ones_like(fall_day, dtype=np.int8),
                          held_count=np.zeros((n, 129), np.int16), district_share=np.zeros((n, 129), np.float32))


def test_a_perfect_forecast_scores_perfectly(world):
    obs = observed_fall_days(world)
    card = metrics.score_ensemble(_result_from(world, np.tile(obs, (10, 1))), world)
    assert card["per_run"]["tau_b"]["median"] == 1.0
    assert card["per_run"]["mae_days"]["median"] == 0.0
    assert card["per_run"]["kabul_error_days"]["median"] == 0.0
    assert card["per_run"]["curve_error"]["median"] == 0.0
    assert card["ensemble"]["crps_mean_days"] == 0.0
    assert card["ensemble"]["brier_fallen_by_aug15"] == 0.0
    assert card["skill"]["tau_b_model_minus_best_null"] > 0.4


def test_held_capitals_tie_at_the_end(world):
    obs = observed_fall_days(world)
    sim = np.tile(obs, (1, 1))
    sim[0, world.record.index["Panjshir"]] = NOT_FALLEN  # held to the end: day 129, one after the observed 128
    card = metrics.score_ensemble(_result_from(world, sim), world)
    row = next(r for r in card["capitals"] if r["province"] == "Panjshir")
    assert row["p_held_at_end"] == 1.0 and row["median_day"] == 129


def test_null_models_are_the_distance_orders(world):
    o = metrics.observed(world, 0, 128)
    nulls = metrics.null_models(world, o)
    km = world.road_km_from_kabul()
    hops = world.hops_from_kabul()
    assert nulls["road distance from Kabul"]["tau_b"] == pytest.approx(stats.kendalltau(-km, o.day).statistic)
    assert nulls["hops from Kabul"]["tau_b"] == pytest.approx(stats.kendalltau(-hops, o.day).statistic)
    assert abs(nulls["random order (mean)"]["tau_b"]) < 0.02
    # Kabul is 0 km from itself: every distance null puts it last, on the last observed day (Panjshir's).
    assert nulls["hops from Kabul"]["kabul_error_days"] == 128 - o.day[o.kabul]


def test_scoring_after_a_late_start_uses_only_capitals_still_held(world):
    o = metrics.observed(world, 103, 128)  # the morning of 12 August
    assert len(o.names) == 34 - 9
    assert "Nimruz" not in o.names and "Ghazni" in o.names


def _same(a, b) -> bool:
    """Scorecards equal, NaN equal to NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


@pytest.mark.parametrize("start", [dt.date(2021, 5, 1), dt.date(2021, 7, 20)])
def test_blocked_scoring_equals_the_direct_computation(world, start):
    r = run_ensemble(Params(), 300, seed=8, start=start, world=world, chunk_size=100)
    card = metrics.score_ensemble(r, world, block=37)  # 9 blocks, the last one short
    assert _same(card, metrics.score_ensemble(r, world, block=10**6))
    # ... and the direct computation on the whole (n, k) float copy, as scoring did before blocks.
    obs = metrics.observed(world, r.start_day, r.end_day, (r.fall_how == SEEDED).all(axis=0))
    sim = metrics.censored(r.fall_day[:, obs.index], r.end_day)
    direct = metrics.run_metrics(sim, obs)
    blocked = metrics.per_run_metrics(r, obs, block=37)
    for k in direct:
        assert np.array_equal(direct[k], blocked[k], equal_nan=True), k
    assert card["per_run"]["tau_b"] == metrics.summarise(direct["tau_b"])
    assert card["ensemble"]["tau_b_of_median_days"] == metrics.kendall_tau_b(np.median(sim, axis=0), obs.day)[0]
    rows = {row["province"]: row for row in card["capitals"]}
    for k, i in enumerate(obs.index):
        row = rows[world.names[i]]
        assert row["median_day"] == np.median(sim[:, k]) and row["p90_day"] == np.percentile(sim[:, k], 90)
        assert row["crps_days"] == metrics.crps_with_tolerance(sim[:, k], obs.day[k], int(obs.tolerance[k]))
    how = np.bincount(r.fall_how[:, obs.index].ravel(), minlength=5) / r.n_runs
    assert card["fall_how_per_run"]["fighting"] == how[1]


def test_fallen_curve_counts_falls_by_each_day():
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 40, (50, 34)) + rng.choice([0.0, 0.5], (50, 34))  # the nulls give half days
    days = np.arange(3, 37)
    assert np.array_equal(metrics.fallen_curve(x, days), (x[:, :, None] <= days[None, None, :]).sum(axis=1))


def test_histogram_percentiles_equal_numpy_exactly():
    rng = np.random.default_rng(5)
    q = [0, 5, 10, 25, 33.3, 50, 66.7, 75, 90, 95, 99.9, 100]
    for n in (1, 2, 3, 7, 20, 101, 1000, 4097):
        counts = rng.integers(0, 35, (n, 6)) if n % 2 else np.sort(rng.integers(0, 3, (n, 6)), axis=0) * 17
        got = metrics.histogram_percentiles(metrics.count_histogram(counts, 35), q)
        assert np.array_equal(got, np.percentile(counts.astype(np.int16), q, axis=0)), n


@pytest.mark.parametrize("kw", [{}, {"start": dt.date(2021, 8, 12)},
                                {"initial": InitialConditions(fallen=("Kunduz",))}])
def test_held_quantiles_from_fall_days_equal_percentiles_of_the_daily_counts(world, kw):
    r = run_ensemble(Params(), 250, seed=6, world=world, chunk_size=100, **kw)
    q = metrics.held_quantiles(r.fall_day, r.start_day, r.end_day, metrics.HELD_BANDS, block=60)
    assert np.array_equal(q, np.percentile(r.held_count, metrics.HELD_BANDS, axis=0))
    bands = metrics.HeldBands.from_fall_days(r.fall_day, r.start_day, r.end_day, block=60)
    assert np.array_equal(bands.values, q) and bands.n_runs == 250
    assert np.array_equal(metrics.HeldBands.from_counts(r.held_count, world.n_provinces).values, q)


def test_a_window_without_falls_is_scored_without_warnings(world):
    """1-4 May: nothing falls, in the record or the runs (the campaign gate closed until the withdrawal is complete);
    what cannot be defined is NaN and printed as n/a."""
    r = run_ensemble(Params(campaign_gate_progress=1.0), 200, seed=1, start=dt.date(2021, 5, 1),
                     end=dt.date(2021, 5, 4), world=world, daily=False)
    assert (r.fall_day == NOT_FALLEN).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        card = metrics.score_ensemble(r, world)
        q = metrics.held_quantiles(r.fall_day, r.start_day, r.end_day)
    assert (q == 34).all()
    assert np.isnan(card["per_run"]["tau_b"]["median"]) and np.isnan(card["ensemble"]["tau_b_of_median_days"])
    assert np.isnan(card["nulls"]["random order (mean)"]["tau_b"])
    assert np.isnan(card["ensemble"]["brier_fallen_by_aug15"])  # the run ends before 15 August
    assert card["per_run"]["mae_days"]["median"] == 0.0
    text = report.metrics_table(card) + report.capital_table(card, r.end_day)
    assert "nan" not in text and "n/a" in text
    assert report.WHY_UNDEFINED["order"] in text and report.WHY_UNDEFINED["aug15"] in text
    # A full window prints no n/a and no explanation.
    assert report.why_undefined(metrics.score_ensemble(run_ensemble(Params(), 50, seed=1, world=world), world)) == ""


# ------------------------------------------------------------------------ the great-circle null, pairs, bootstraps


def test_the_great_circle_null_ranks_by_haversine_km(world):
    o = metrics.observed(world, 0, 128)
    nulls = metrics.null_models(world, o)
    assert list(nulls) == [*metrics.DISTANCE_NULLS, "random order (mean)"]
    gc = world.great_circle_km_from_kabul()
    assert nulls["great-circle distance from Kabul"]["tau_b"] == pytest.approx(stats.kendalltau(-gc, o.day).statistic)
    orders = metrics.null_orders(world, o)
    assert np.array_equal(orders["great-circle distance from Kabul"], gc[o.index])
    assert np.array_equal(orders["hops from Kabul"], world.hops_from_kabul()[o.index])


def test_tau_b_rows_match_scipy_on_bootstrap_resamples():
    rng = np.random.default_rng(11)
    model = rng.integers(0, 10, 20).astype(float)
    obs = rng.integers(0, 6, 20).astype(float)
    idx = metrics.bootstrap_indices(20, 40, seed=3)
    assert np.array_equal(idx, np.random.default_rng(3).integers(0, 20, (40, 20)))
    got = metrics.kendall_tau_b_rows(model[idx], obs[idx])  # duplicated capitals: pairs tied in both
    for r in range(40):
        assert got[r] == pytest.approx(stats.kendalltau(model[idx[r]], obs[idx[r]]).statistic, abs=1e-12)
    assert metrics.kendall_tau_b_rows(model, obs)[0] == pytest.approx(stats.kendalltau(model, obs).statistic)
    assert np.isnan(metrics.kendall_tau_b_rows(np.array([[1.0, 2.0]]), np.array([[3.0, 3.0]]))[0])


def _pairs_direct(m, u, o):
    c = dict.fromkeys(("null_wrong", "null_tied", "concordant", "discordant", "tied"), 0)
    for a in range(len(o)):
        for b in range(a + 1, len(o)):
            so, su, sm = np.sign(o[a] - o[b]), np.sign(u[a] - u[b]), np.sign(m[a] - m[b])
            if so == 0:
                continue
            c["null_tied"] += su == 0
            if su == -so:
                c["null_wrong"] += 1
                c["concordant" if sm == so else "discordant" if sm == -so else "tied"] += 1
    return c


def test_pair_counts_match_a_double_loop():
    rng = np.random.default_rng(12)
    m, u, o = (rng.integers(0, 5, (30, 15)).astype(float) for _ in range(3))
    got = metrics.pair_counts(m, u, o)
    for r in range(30):
        assert {k: int(v[r]) for k, v in got.items()} == _pairs_direct(m[r], u[r], o[r])
    one = metrics.discordant_pairs(m[0], u[0], o[0])
    assert one["share_right"] == one["concordant"] / one["null_wrong"]
    shares = metrics.share_right_rows(m, u, o)
    assert shares == pytest.approx(got["concordant"] / got["null_wrong"])
    # Hand-computed: observed 1 < 2 < 3; the null says 3, 2, 1 (all three pairs wrong); the model gets (a, b) right,
    # ties (a, c) and gets (b, c) wrong.
    c = metrics.discordant_pairs(np.array([1, 2, 1]), np.array([3, 2, 1]), np.array([1, 2, 3]))
    assert (c["null_wrong"], c["concordant"], c["tied"], c["discordant"], c["share_right"]) == (3, 1, 1, 1, 1 / 3)
    assert np.isnan(metrics.discordant_pairs(np.array([1, 2]), np.array([1, 2]), np.array([1, 2]))["share_right"])


@pytest.mark.parametrize("stat", ["tau_b", "mae", "mean"])
def test_paired_bootstrap_equals_a_loop_over_the_index_matrix(stat):
    rng = np.random.default_rng(13)
    k, n = 17, 300
    obs = rng.integers(90, 110, k).astype(float)
    tol = rng.integers(0, 2, k).astype(float)
    model = obs + rng.integers(-3, 4, k)
    null = rng.integers(90, 110, k).astype(float)
    b = metrics.paired_bootstrap(stat, model, null, obs, tol, n=n, seed=5)

    def direct(p, rows):
        if stat == "tau_b":
            return stats.kendalltau(p[rows], obs[rows]).statistic
        if stat == "mae":
            return np.mean(np.maximum(np.abs(p[rows] - obs[rows]) - tol[rows], 0))
        return np.mean(p[rows])

    everything = np.arange(k)
    assert b["point"] == pytest.approx(direct(model, everything) - direct(null, everything), abs=1e-12)
    assert b["model"] == pytest.approx(direct(model, everything), abs=1e-12)
    idx = np.random.default_rng(5).integers(0, k, (n, k))
    diffs = np.array([direct(model, r) - direct(null, r) for r in idx])
    ok = ~np.isnan(diffs)
    assert b["n_valid"] == ok.sum()
    assert [b["lo"], b["hi"]] == pytest.approx(np.percentile(diffs[ok], [5, 95]), abs=1e-12)
    if stat != "mean":
        sign = 1 if stat == "tau_b" else -1
        assert b["share_model_better"] == pytest.approx(np.mean(sign * diffs[ok] > 0))
    else:
        assert np.isnan(b["share_model_better"])


def test_bootstrap_capitals_uses_the_same_resamples():
    rng = np.random.default_rng(14)
    m, u, o = (rng.integers(0, 8, 12).astype(float) for _ in range(3))
    b = metrics.bootstrap_capitals(metrics.share_right_rows, (m, u, o), n=200, seed=2)
    idx = metrics.bootstrap_indices(12, 200, seed=2)
    direct = np.array([metrics.discordant_pairs(m[r], u[r], o[r])["share_right"] for r in idx])
    assert b["point"] == metrics.discordant_pairs(m, u, o)["share_right"]
    assert [b["lo"], b["hi"]] == pytest.approx(np.nanpercentile(direct, [5, 95]), abs=1e-12)


@pytest.mark.parametrize("stat", ["mean", "median"])
def test_bootstrap_runs_equals_resampling_the_runs(stat):
    rng = np.random.default_rng(15)
    values = rng.integers(-5, 9, 700).astype(float)
    n = 400
    b = metrics.bootstrap_runs(values, stat, n=n, seed=4)
    assert b["point"] == (values.mean() if stat == "mean" else np.median(values))
    # The same draws, expanded into the resampled runs themselves.
    u, counts = np.unique(values, return_counts=True)
    draws = np.random.default_rng(4).multinomial(values.size, counts / values.size, size=n)
    f = np.mean if stat == "mean" else np.median
    direct = np.array([f(np.repeat(u, c)) for c in draws])
    assert [b["lo"], b["hi"]] == pytest.approx(np.percentile(direct, [5, 95]), abs=1e-12)
    # ... and the same distribution as drawing runs by index.
    by_index = f(values[np.random.default_rng(9).integers(0, values.size, (4000, values.size))], axis=1)
    wide = metrics.bootstrap_runs(values, stat, n=4000, seed=4)
    assert [wide["lo"], wide["hi"]] == pytest.approx(np.percentile(by_index, [5, 95]), abs=0.1)


def test_distinct_counts_bin_many_values_keeping_the_mean():
    rng = np.random.default_rng(16)
    v = rng.normal(size=5000)
    u, c = metrics.distinct_counts(v, max_distinct=50)
    assert len(u) <= 50 and c.sum() == 5000 and (np.diff(u) > 0).all()
    assert (u * c).sum() / 5000 == pytest.approx(v.mean(), abs=1e-12)
    b = metrics.bootstrap_runs(v, "mean", n=2000, seed=1)
    se = v.std() / np.sqrt(v.size)
    assert b["hi"] - b["lo"] == pytest.approx(2 * 1.645 * se, rel=0.1)


def test_pool_paired_averages_replicate_by_replicate():
    rng = np.random.default_rng(17)
    runs = []
    for k in (9, 14, 20):
        obs = rng.integers(0, 10, k).astype(float)
        runs.append(metrics.paired_bootstrap("tau_b", obs + rng.normal(0, 3, k), rng.normal(size=k), obs, n=500,
                                             seed=k, replicates=True))
    one = metrics.pool_paired(runs[:1])
    assert all(one[key] == runs[0][key] for key in ("point", "lo", "hi", "model", "share_model_better"))
    pooled = metrics.pool_paired(runs)
    diff = np.mean([r["model_replicates"] - r["null_replicates"] for r in runs], axis=0)
    assert pooled["point"] == pytest.approx(np.mean([r["point"] for r in runs]), abs=1e-12)
    assert [pooled["lo"], pooled["hi"]] == pytest.approx(np.nanpercentile(diff, [5, 95]), abs=1e-12)
    assert pooled["share_model_better"] == pytest.approx(np.mean(diff[~np.isnan(diff)] > 0))
    with pytest.raises(ValueError):
        metrics.pool_paired([runs[0], metrics.paired_bootstrap("mae", [1.0], [2.0], [1.0], n=500, replicates=True)])


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 40)),
              elements=st.sampled_from([0.0, 1.0, 2.0, 2.5, 7.0, -3.0, np.nan, np.inf])))
def test_average_ranks_are_scipys_rankdata(a):
    """The numpy ranks the sweep's workers use instead of importing scipy.stats, ties and NaN included."""
    expected = stats.rankdata(a, axis=1)
    assert np.array_equal(metrics.average_ranks(a), expected, equal_nan=True)
    assert np.array_equal(metrics.average_ranks(a[0]), expected[:1], equal_nan=True)
