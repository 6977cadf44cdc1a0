"""Seeding a later start as data assimilation: the likelihood of what was observed, the weights and their ESS,
tempering where they collapse, systematic resampling that keeps replicates whole, and the seeded state."""

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sim.ensemble import run_chunk, run_ensemble
from sim.params import TUNED_2021, Params
from sim.rules import NOT_FALLEN, SEEDED, State, initial_state, make_drivers
from sim.seeding import (MIN_ESS_SHARE, Likelihood, kish_ess, lwj_figures, observed_fall_days, seed_state,
                         systematic_resample, take, temper)
from sim.world import day_index

AUG_1, AUG_12 = dt.date(2021, 8, 1), dt.date(2021, 8, 12)


def test_the_likelihood_of_a_hand_made_day():
    """Forced falls at the chance the model gave them (floored, and counted where below the floor), every other
    held capital at one minus it, fallen capitals not at all; LWJ figures Gaussian with a relative error."""
    p = Params()
    floor = p.seed_fall_floor
    like = Likelihood(3, p)
    forced = np.array([[True, False, False]] * 3)
    held = np.ones((3, 3), bool)
    held[:, 2] = False  # fell earlier: no longer at risk, whatever its (stale) chance
    p_assault = np.array([[0.5, 0.125, 0.9], [0.0, 0.0, 0.9], [0.25, 0.0, 0.0]], np.float32)
    p_give_up = np.array([[0.0, 0.125, 0.0], [0.0, 0.5, 0.0], [0.875, 0.0, 0.0]], np.float32)
    like.falls(40, (p_assault, p_give_up), forced, held)
    assert like.log == pytest.approx([np.log(0.5) + np.log(0.75), np.log(floor) + np.log(0.5), 0.0])
    assert like.floored.tolist() == [0, 1, 0] and like.n_forced == 1
    before = like.log.copy()
    like.falls(41, None, forced, held)  # before the campaign gate the model makes no fall: each forced one floored
    assert like.floored.tolist() == [1, 2, 1] and like.n_forced == 2
    assert like.log - before == pytest.approx(np.full(3, np.log(floor)))
    before = like.log.copy()
    like.share(np.array([0.5, 0.6, 0.4], np.float32), 0.5)  # s.d. 0.1 x 0.5 = 0.05
    assert like.log - before == pytest.approx([0.0, -2.0, -2.0], abs=1e-5)


def test_kish_ess_and_tempering():
    assert kish_ess(np.ones(4)) == 4
    assert kish_ess(np.array([1.0, 0, 0, 0])) == 1
    assert kish_ess(np.array([2.0, 1, 1])) == pytest.approx(16 / 6)
    log_w = np.array([0.0, -1.0, -2.0])
    beta, w = temper(log_w, 1.5)
    assert beta == 1.0 and np.allclose(w, np.exp(log_w))
    collapsed = np.r_[0.0, np.full(99, -50.0)]
    assert kish_ess(np.exp(collapsed)) < 1.001
    beta, w = temper(collapsed, 5.0)
    assert 0 < beta < 1 and kish_ess(w) == pytest.approx(5.0, rel=1e-3)
    assert kish_ess(np.exp((beta * 1.01) * collapsed)) < 5.0  # the largest such power


def test_systematic_resampling():
    assert systematic_resample(np.array([0.5, 0.25, 0.25, 0.0]), 0.1).tolist() == [0, 0, 1, 2]
    assert systematic_resample(np.full(7, 3.0), 0.999).tolist() == list(range(7))
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = rng.random(40) ** 4
        idx = systematic_resample(w, rng.random())
        counts = np.bincount(idx, minlength=40)
        expected = 40 * w / w.sum()
        assert (np.diff(idx) >= 0).all() and counts.sum() == 40
        assert ((counts >= np.floor(expected) - 1e-9) & (counts <= np.ceil(expected) + 1e-9)).all()


def test_resampling_keeps_a_replicates_state_whole(world):
    p = Params()
    s = initial_state(world, p, make_drivers(world, p), 5)
    rng = np.random.default_rng(1)
    for f in dataclasses.fields(State):  # every field distinct per replicate
        a = getattr(s, f.name)
        a[...] = (rng.random(a.shape) * 100).astype(a.dtype) if a.dtype != bool else rng.random(a.shape) < 0.5
    idx = np.array([4, 4, 0, 2, 2])
    t = take(s, idx)
    for f in dataclasses.fields(State):
        if f.name == "stream":  # the random stream stays with the slot: copies of a replicate draw differently
            assert np.array_equal(t.stream, s.stream)
        else:
            assert np.array_equal(getattr(t, f.name), getattr(s, f.name)[idx]), f.name


def test_replicates_differ_at_the_start_and_the_draws_after_do_not_depend_on_the_spread(world):
    p = Params()
    d = make_drivers(world, p)
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    s = initial_state(world, p, d, 4000, 0, a)
    flat = initial_state(world, p.replace(rural_rate_spread=0.0), d, 4000, 0, b)
    assert np.std(np.log(s.rural_factor)) == pytest.approx(p.rural_rate_spread, rel=0.05)
    assert (flat.rural_factor == 1).all()
    assert a.random() == b.random()
    assert (initial_state(world, p, d, 3).rural_factor == 1).all()  # hand-built: no generator, no spread


def test_the_lwj_figures_weighed_are_those_of_the_spin_up(world):
    on = dt.date(2021, 8, 10)
    days = lwj_figures(world.known_on(on), day_index(on))
    assert sorted(days) == [45, 70, 87, 94]
    assert lwj_figures(world.known_on(dt.date(2021, 7, 10)), day_index(dt.date(2021, 7, 10))).keys() == {45}
    assert lwj_figures(world, 0) == {}  # the figures before 1 May describe the common initial state


def test_a_start_on_1_may_has_no_spin_up_to_weigh(world):
    r = run_ensemble(Params(), 20, seed=1, world=world, end=dt.date(2021, 5, 20))
    assert r.ess is None and r.seeding is None


def test_a_seeded_start_from_12_august(world):
    """After resampling, every run has the observed falls known on 12 August, on their days, and only those; the
    ESS of each chunk is carried out on the result."""
    known = world.known_on(AUG_12)
    r = run_ensemble(Params(**TUNED_2021), 300, seed=5, start=AUG_12, world=known, chunk_size=100)
    obs = observed_fall_days(known)
    seeded = (obs != NOT_FALLEN) & (obs < day_index(AUG_12))
    assert seeded.sum() == 9  # Zaranj to Faizabad
    assert (r.fall_how[:, seeded] == SEEDED).all() and (r.fall_day[:, seeded] == obs[seeded]).all()
    assert not (r.fall_how[:, ~seeded] == SEEDED).any()
    assert r.ess.shape == (3,) and ((r.ess >= 1) & (r.ess <= 100)).all()
    summary = r.seeding
    assert summary["n_forced"] == 9 and summary["lwj_days"] == [45, 70, 87, 94] and len(summary["chunks"]) == 3
    assert [c["ess"] for c in summary["chunks"]] == r.ess.tolist()
    for c in summary["chunks"]:
        assert c["collapsed"] == (c["ess"] < MIN_ESS_SHARE * 100)
        assert c["ess_tempered"] >= min(c["ess"], MIN_ESS_SHARE * 100) - 1e-6
        assert (c["beta"] < 1) == c["collapsed"]


def test_a_collapse_is_reported_and_tempered(world):
    """Under the prior the LWJ figures of June-July lie far outside the replicates: the weights collapse, and the
    likelihood is tempered to keep MIN_ESS_SHARE of the replicates."""
    p = Params()
    known = world.known_on(AUG_1)
    s, report = seed_state(known, p, make_drivers(known, p), 200, day_index(AUG_1), None, np.random.default_rng(2))
    assert report.collapsed and report.ess < 0.05 * 200
    assert 0 < report.beta < 1 and report.ess_tempered == pytest.approx(MIN_ESS_SHARE * 200, rel=1e-3)
    assert len(np.unique(s.rural_factor)) > 5  # more than a handful of replicates kept


def test_a_chunks_result_depends_only_on_its_seed_and_size_from_a_seeded_start(world):
    known = world.known_on(dt.date(2021, 8, 8))
    small = run_ensemble(Params(), 120, seed=4, start=dt.date(2021, 8, 8), world=known, chunk_size=60)
    big = run_ensemble(Params(), 150, seed=4, start=dt.date(2021, 8, 8), world=known, chunk_size=60)
    assert np.array_equal(small.fall_day, big.fall_day[:120]) and np.array_equal(small.ess, big.ess[:2])
    parts = run_chunk(known, Params(), 60, int(small.run_seed[60]), small.start_day, small.end_day)
    assert np.array_equal(parts[0], small.fall_day[60:]) and parts.seeding.ess == small.ess[1]
