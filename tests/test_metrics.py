"""Metrics against scipy and hand-computed cases; a perfect forecast scores perfectly; nulls are what they say."""


import numpy as np
import pytest
from scipy import stats

from sim import metrics
from sim.ensemble import EnsembleResult, observed_fall_days
from sim.params import Params
from sim.rules import NOT_FALLEN


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
