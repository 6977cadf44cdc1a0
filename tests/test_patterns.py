"""Patterns, the great-circle and timing nulls, pairs and bootstraps against direct implementations and scipy."""

import dataclasses
import datetime as dt
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from sim import metrics, patterns, report
from sim.ensemble import EnsembleResult, observed_fall_days, run_ensemble
from sim.params import Params
from sim.rules import FIGHTING, NOT_FALLEN
from sim.world import day_index


@pytest.fixture(scope="module")
def ensemble(world):
    return run_ensemble(n_runs=200, seed=1, world=world)


@pytest.fixture(scope="module")
def card(ensemble, world):
    return metrics.score_ensemble(ensemble, world)


def test_great_circle_km_is_the_haversine_distance(world):
    provinces = world.record.provinces
    k = provinces[world.kabul]

    def haversine(a, b, r=6371.0088):
        p1, p2 = math.radians(a.lat), math.radians(b.lat)
        h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
        return 2 * r * math.asin(math.sqrt(h))

    got = world.great_circle_km_from_kabul()
    assert got[world.kabul] == 0.0
    assert got == pytest.approx([haversine(k, p) for p in provinces], rel=1e-12)
    # Never longer than the road (the road km are measured or great-circle between neighbours, so at least as long).
    assert (got <= world.road_km_from_kabul() + 1.0).all()


# ------------------------------------------------------------------------------------------------ timing null


def test_rate_slots_fall_at_the_rate():
    for m, span, k in [(9, 6, 25), (1, 1, 5), (3, 10, 8), (7, 2, 30)]:
        start, end = 100, 118
        slots = metrics.rate_slots(k, m, span, start, end)
        assert (np.diff(slots) >= 0).all()
        for t in range(end - start + 1):
            assert (slots <= start + t).sum() == min(k, math.floor(m * (t + 1) / span)), (m, span, t)
        assert ((slots <= end) | (slots == end + 1)).all()
    assert (metrics.rate_slots(6, 0, 0, 50, 60) == 61).all()  # nothing fallen yet: persistence


def test_rate_before_counts_the_falls_known_before_the_day(world):
    fell = observed_fall_days(world).astype(int)
    for day in (0, 97, 98, 103, 106, 107, 128):
        before = fell[(fell != NOT_FALLEN) & (fell < day)]
        want = (before.size, day - before.min()) if before.size else (0, 0)
        assert metrics.rate_before(world, day) == want


def test_rate_before_ignores_a_fall_reported_after_the_day(world):
    i = int(np.argmin(np.where(observed_fall_days(world) == NOT_FALLEN, 999, observed_fall_days(world))))
    p = world.record.provinces[i]
    late = dataclasses.replace(p, reported_on=p.fell_on + dt.timedelta(days=3)) \
        if "reported_on" in {f.name for f in dataclasses.fields(p)} else None
    if late is None:
        pytest.skip("this record has no report dates")
    provinces = tuple(late if j == i else q for j, q in enumerate(world.record.provinces))
    w2 = dataclasses.replace(world, record=dataclasses.replace(world.record, provinces=provinces))
    day = day_index(p.fell_on) + 2  # fell two days before, reported the day after
    assert metrics.rate_before(w2, day)[0] == metrics.rate_before(world, day)[0] - 1


def test_days_in_order_give_the_slots_in_score_order_and_share_them_on_ties():
    rng = np.random.default_rng(2)
    for _ in range(20):
        score = rng.integers(0, 6, 12).astype(float)
        slots = np.sort(rng.integers(0, 30, 12)).astype(float)
        got = metrics.days_in_order(score, slots)
        order = np.argsort(-score, kind="stable")
        direct = np.empty(12)
        direct[order] = slots
        for v in np.unique(score):  # tied scores share the mean of their slots
            direct[score == v] = direct[score == v].mean()
        assert got == pytest.approx(direct, abs=1e-12)


def _with_falls_after(world, day: int, rng):
    """The world with the record's falls on or after `day` shuffled among those capitals (dates and manners) and
    each a day later."""
    provinces = list(world.record.provinces)
    late = [i for i, p in enumerate(provinces) if p.fell_on is not None and day_index(p.fell_on) >= day]
    moved = rng.permutation(late)
    new = list(provinces)
    for i, j in zip(late, moved):
        new[i] = dataclasses.replace(provinces[i], fell_on=provinces[j].fell_on + dt.timedelta(days=1),
                                     fell_how=provinces[j].fell_how)
    return dataclasses.replace(world, record=dataclasses.replace(world.record, provinces=tuple(new)))


@pytest.mark.parametrize("start", [0, 99, 103, 106])
def test_the_rate_null_uses_nothing_after_the_start(world, start):
    o = metrics.observed(world, start, 128)
    w2 = _with_falls_after(world, start, np.random.default_rng(start))
    o2 = metrics.observed(w2, start, 128)
    assert np.array_equal(o.index, o2.index)
    for name, days in metrics.null_days(world, o, "rate").items():
        assert np.array_equal(days, metrics.null_days(w2, o2, "rate")[name])
    assert not np.array_equal(o.day, o2.day)  # the shuffle changed the future: the observed timing sees it
    assert not all(np.array_equal(d, metrics.null_days(w2, o2, "observed")[n])
                   for n, d in metrics.null_days(world, o, "observed").items())


def test_null_models_give_both_timings(world):
    o = metrics.observed(world, 103, 128)
    nulls = metrics.null_models(world, o)
    honest = metrics.null_models(world, o, timing="rate")
    m, span = metrics.rate_before(world, 103)
    slots = metrics.rate_slots(len(o.day), m, span, 103, 128)
    for name, score in metrics.null_orders(world, o).items():
        days = metrics.days_in_order(score, slots)
        mae = np.mean(np.maximum(np.abs(days - o.day) - o.tolerance, 0))
        assert nulls[name]["mae_days_rate_timing"] == pytest.approx(mae, abs=1e-12)
        assert honest[name]["mae_days"] == nulls[name]["mae_days_rate_timing"]
        assert nulls[name]["mae_days"] == nulls[name]["mae_days_observed_timing"]
        assert honest[name]["tau_b"] == nulls[name]["tau_b"] == pytest.approx(
            stats.kendalltau(-score, o.day).statistic, abs=1e-12)
    # Kabul is the nearest: last at the rate.
    assert nulls["great-circle distance from Kabul"]["kabul_error_days_rate_timing"] == slots[-1] - o.day[o.kabul]
    with pytest.raises(ValueError):
        metrics.null_models(world, o, timing="hindsight")


# --------------------------------------------------------------------------------------------------- manners


def test_manner_shares_and_scores_match_a_direct_count(ensemble, world):
    o = metrics.observed(world, ensemble.start_day, ensemble.end_day)
    shares = patterns.manner_shares(ensemble.fall_how, o.index, block=37)
    for k, i in enumerate(o.index):
        how = ensemble.fall_how[:, i]
        counts = np.array([(how == c).sum() for c in patterns.MANNER_CODES])
        want = counts / counts.sum() if counts.sum() else np.full(3, 1 / 3)
        assert shares[k] == pytest.approx(want, abs=1e-15)
    p = patterns.floored(shares)
    assert p.sum(axis=1) == pytest.approx(np.ones(len(p))) and p.min() >= patterns.MANNER_FLOOR - 1e-15
    code = np.arange(len(p)) % 3
    s = patterns.manner_scores(p, code)
    for k in range(len(p)):
        assert s["loglik"][k] == math.log(p[k, code[k]])
        top = np.flatnonzero(p[k] == p[k].max())
        assert s["modal_right"][k] == (1 / len(top) if code[k] in top else 0.0)
    how = [q.fell_how for q in world.record.provinces]
    known = [h for h in how if h in patterns.MANNERS]
    assert patterns.national_manners(world) == pytest.approx([known.count(m) / len(known) for m in patterns.MANNERS])
    assert patterns.national_manners(world, 0) == pytest.approx([1 / 3] * 3)  # nothing known on 1 May


def test_panjshir_and_district_errors_match_loops(ensemble, world):
    kabul, pj = world.kabul, world.record.index["Panjshir"]
    yes = patterns.panjshir_after_kabul(ensemble.fall_day, kabul, pj)
    for r in range(ensemble.n_runs):
        k, p = int(ensemble.fall_day[r, kabul]), int(ensemble.fall_day[r, pj])
        assert yes[r] == (k != NOT_FALLEN and (p == NOT_FALLEN or p > k + 1))
    rows = metrics.district_comparison(ensemble, world)
    err = patterns.district_errors(ensemble, world)
    for r in (0, 17, 199):
        want = np.mean([abs(float(ensemble.district_share_on(day_index(dt.date.fromisoformat(x["as_of"])))[r])
                            - x["observed_share"]) for x in rows])
        assert err[r] == pytest.approx(want, abs=1e-12)
    assert np.mean([x["simulated_mean"] for x in rows]) == pytest.approx(
        np.mean([ensemble.district_share_on(day_index(dt.date.fromisoformat(x["as_of"]))).mean() for x in rows]))


# ------------------------------------------------------------------------------------------------- the card


def test_pattern_scorecard_on_a_real_ensemble(ensemble, world, card):
    pc = card["patterns"]
    o = metrics.observed(world, ensemble.start_day, ensemble.end_day)
    sim = metrics.censored(ensemble.fall_day[:, o.index], ensemble.end_day)
    per_run = metrics.run_metrics(sim, o)
    assert pc["curve"]["model"] == pytest.approx(per_run["curve_error"].mean(), abs=1e-12)
    assert pc["kabul"]["model"] == np.median(per_run["kabul_error_days"])
    assert pc["curve"]["lo"] <= pc["curve"]["model"] <= pc["curve"]["hi"]
    yes = patterns.panjshir_after_kabul(ensemble.fall_day, world.kabul, world.record.index["Panjshir"])
    assert pc["panjshir_after_kabul"]["model"] == yes.mean() and pc["panjshir_after_kabul"]["observed"] is True
    assert pc["panjshir_after_kabul"]["null"] == 0.0  # at the rate (here: persistence) Kabul never falls
    assert pc["districts"]["model"] == pytest.approx(patterns.district_errors(ensemble, world).mean(), abs=1e-12)
    # Manners: the mean log-likelihood from the per-capital shares.
    how = [world.record.provinces[i].fell_how for i in o.index]
    known = [k for k, h in enumerate(how) if h in patterns.MANNERS]
    p = patterns.floored(patterns.manner_shares(ensemble.fall_how, o.index[known]))
    ll = np.mean([math.log(p[j, patterns.MANNERS.index(how[k])]) for j, k in enumerate(known)])
    assert pc["manner"]["n_known"] == len(known) == 30
    assert pc["manner"]["loglik"]["model"] == pytest.approx(ll, abs=1e-12)
    # Pairs and the paired tau-b, from the median dates.
    median = np.median(sim, axis=0)
    best = pc["discordant_pairs"]["best_null"]
    assert best == max(metrics.DISTANCE_NULLS, key=lambda n: card["nulls"][n]["tau_b"])
    score = metrics.null_orders(world, o)[best]
    direct = metrics.discordant_pairs(median, -score, o.day)
    assert pc["discordant_pairs"]["model"] == direct["share_right"]
    for name, s in metrics.null_orders(world, o).items():
        b = pc["paired"]["tau_b"][name]
        want = stats.kendalltau(median, o.day).statistic - stats.kendalltau(-s, o.day).statistic
        assert b["point"] == pytest.approx(want, abs=1e-12) and b["n_valid"] == metrics.BOOTSTRAP_N
    text = report.patterns_table(card)
    assert "nan" not in text and "Kabul" in text and "great-circle km" in report.metrics_table(card)


def test_pattern_scorecard_after_a_late_start(world):
    r = run_ensemble(Params(), 100, seed=2, start=dt.date(2021, 8, 12), world=world)
    pc = metrics.score_ensemble(r, world, n_boot=500)["patterns"]
    o = metrics.observed(world, r.start_day, r.end_day, metrics.seeded_capitals(r))
    assert pc["n_capitals"] == len(o.index) == 25
    slots = metrics.rate_slots(25, *metrics.rate_before(world, r.start_day), r.start_day, r.end_day)
    assert pc["kabul"]["null"] == slots[-1] - o.day[o.kabul]  # Kabul is the nearest: the last at the rate
    assert pc["kabul"]["null_observed_timing"] == o.day.max() - o.day[o.kabul]
    assert pc["panjshir_after_kabul"] is not None and pc["districts"] is None  # no LWJ date after 12 Aug
    after = run_ensemble(Params(), 50, seed=2, start=dt.date(2021, 8, 16), world=world)
    pc = patterns.pattern_scorecard(after, world, n_boot=200, replicates=True)
    assert pc["paired"]["mae"]["hops from Kabul"]["model_replicates"].shape == (200,)
    assert pc["kabul"] is None and pc["panjshir_after_kabul"] is None and pc["n_capitals"] == 1
    assert "n/a" in report.patterns_table(pc) and "nan" not in report.patterns_table(pc)


def test_a_perfect_forecast_reproduces_every_pattern(world):
    obs = observed_fall_days(world)
    n = 20
    fd = np.tile(obs, (n, 1)).astype(np.int16)
    how = np.tile(np.array([1 + patterns.MANNERS.index(p.fell_how) if p.fell_how in patterns.MANNERS else FIGHTING
                            for p in world.record.provinces], dtype=np.int8), (n, 1))
    r = EnsembleResult(names=world.names, params=Params(), seed=0, start_day=0, end_day=128, chunk_size=n,
                       run_seed=np.zeros(n, np.int64), fall_day=fd, fall_how=how,
                       held_count=np.zeros((n, 129), np.int16), district_share=np.zeros((n, 129), np.float32))
    pc = patterns.pattern_scorecard(r, world, n_boot=300)
    assert pc["curve"]["model"] == 0.0 and pc["kabul"]["model"] == 0.0
    assert pc["panjshir_after_kabul"]["model"] == 1.0
    assert pc["discordant_pairs"]["model"] == 1.0
    assert pc["manner"]["modal_right"]["model"] == 1.0
    assert pc["manner"]["loglik"]["model"] == pytest.approx(math.log(1 - 2 * patterns.MANNER_FLOOR))
    assert all(b["model"] == 1.0 for b in pc["paired"]["tau_b"].values())


def test_a_window_without_falls_gives_patterns_without_warnings(world):
    r = run_ensemble(Params(), 50, seed=1, start=dt.date(2021, 5, 1), end=dt.date(2021, 5, 4), world=world,
                     daily=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pc = patterns.pattern_scorecard(r, world, n_boot=200)
        text = report.patterns_table(pc)
    assert pc["manner"] is None and pc["panjshir_after_kabul"] is None and pc["districts"] is None
    assert np.isnan(pc["paired"]["tau_b"]["hops from Kabul"]["point"])
    assert "nan" not in text
