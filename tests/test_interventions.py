"""Each intervention kind does what its documentation says; seeding from a later date follows its rules."""

import datetime as dt

import numpy as np

from sim import rules
from sim.ensemble import run_ensemble
from sim.interventions import KINDS, Intervention, compile_schedule
from sim.metrics import score_ensemble
from sim.params import TUNED_2021, Params
from sim.rules import NOT_FALLEN, SEEDED, make_drivers
from sim.seeding import InitialConditions, known_district_share, observed_fall_days, start_state
from sim.world import day_index


def ev(kind, on, **args):
    return Intervention(kind=kind, on=dt.date.fromisoformat(on), args=tuple(args.items()))


def trace(world, events, n=100, seed=1, days=range(0, 129), params=None):
    p = params or Params()
    d = make_drivers(world, p, compile_schedule(world, events))
    rng = np.random.default_rng(seed)
    s = start_state(world, p, d, n, days[0], None, rng)
    out = []
    for day in days:
        rules.advance_day(s, world, p, d, day, rng)
        out.append(s.copy())
    return d, out


def test_every_kind_is_documented_in_the_scenario_readme():
    from conftest import REPO

    text = (REPO / "scenarios" / "README.md").read_text()
    for kind, spec in KINDS.items():
        assert f"`{kind}`" in text, kind
        for arg in spec.args:
            assert f"`{arg}`" in text, (kind, arg)


def test_contractors_and_us_air_support_change_air_capacity(world):
    base = make_drivers(world, Params())
    stay = make_drivers(world, Params(), compile_schedule(world, [ev("contractors", "2021-05-01", share=1.0)]))
    us = make_drivers(world, Params(), compile_schedule(world, [ev("us_air_support", "2021-07-02", share=1.0)]))
    june, aug = day_index(dt.date(2021, 6, 20)), day_index(dt.date(2021, 8, 10))
    assert stay.air_capacity[aug] == Params().aaf_strikes_per_day + Params().us_strikes_per_day * 0.5
    assert stay.air_capacity[june] > base.air_capacity[june]
    assert us.air_capacity[aug] == base.air_capacity[aug] + Params().us_strikes_per_day * 0.5
    assert np.array_equal(us.air_capacity[:60], base.air_capacity[:60])


def test_withdrawal_pace_retimes_the_whole_withdrawal(world):
    """Half the pace from 1 July: before it nothing changes; after it progress, contractors, the US air phase and
    with them the morale toll and the campaign gate read the timeline at the half-speed clock. (The dated shocks
    are on the calendar, not the withdrawal's clock; TUNED_2021 keeps them off, so the toll is the withdrawal's.)"""
    p = Params().replace(**TUNED_2021)
    assert not p.dated_shocks
    base = make_drivers(world, p)
    slow = make_drivers(world, p, compile_schedule(world, [ev("withdrawal_pace", "2021-07-01", pace=0.5)]))
    july = day_index(dt.date(2021, 7, 1))
    assert np.array_equal(slow.morale_drop[:july + 1], base.morale_drop[:july + 1])
    assert np.array_equal(slow.air_capacity[:july], base.air_capacity[:july])
    for k in (10, 20, 40):  # day july + k stands where the timeline stood on day july + k / 2
        expect = p.withdrawal_morale_drop * np.interp(july + k / 2, np.arange(world.withdrawal_progress.size), world.withdrawal_progress)
        assert np.isclose(slow.morale_drop[july + k], expect)
    bagram = day_index(dt.date(2021, 7, 2))
    assert slow.air_capacity[bagram] > base.air_capacity[bagram]  # the handover comes later: US air still full
    assert np.argmax(slow.is_campaign_open) > np.argmax(base.is_campaign_open)
    halted = make_drivers(world, p, compile_schedule(world, [ev("withdrawal_pace", "2021-06-01", pace=0.0)]))
    june = day_index(dt.date(2021, 6, 1))
    assert (halted.morale_drop[june:] == base.morale_drop[june]).all() and not halted.is_campaign_open.any()


def test_withdrawal_pace_1_changes_nothing_and_a_slower_withdrawal_delays_the_collapse(world):
    p = Params().replace(**TUNED_2021)
    base = run_ensemble(p, 300, seed=5, world=world)
    same = run_ensemble(p, 300, seed=5, world=world, interventions=[ev("withdrawal_pace", "2021-05-01", pace=1.0)])
    assert np.array_equal(base.fall_day, same.fall_day)
    slow = run_ensemble(p, 300, seed=5, world=world, interventions=[ev("withdrawal_pace", "2021-05-01", pace=0.5)])
    assert (slow.fall_day == NOT_FALLEN).sum(axis=1).mean() > (base.fall_day == NOT_FALLEN).sum(axis=1).mean() + 10


def test_a_held_road_is_never_cut_and_a_cut_road_stays_closed(world):
    e_hold = world.link_ids.index("ghazni-qalat")
    e_cut = world.link_ids.index("kabul-jalalabad")
    _, states = trace(world, [ev("road", "2021-05-01", link="ghazni-qalat", action="hold"),
                              ev("road", "2021-06-01", link="kabul-jalalabad", action="cut")])
    for day, s in enumerate(states):
        assert (s.is_road_open[:, e_hold] == s.ends_held[:, e_hold]).all()
        if day >= day_index(dt.date(2021, 6, 1)):
            assert not s.is_road_open[:, e_cut].any()


def test_reinforcement_and_morale_shock(world):
    kabul = world.kabul
    _, states = trace(world, [ev("reinforce", "2021-06-01", province="Kabul", troops=10000.0),
                              ev("morale_shock", "2021-06-01", province="all", amount=0.1)], days=range(0, 40))
    _, base = trace(world, [], days=range(0, 40))
    d = day_index(dt.date(2021, 6, 1))
    assert np.allclose(states[d].garrison[:, kabul] - base[d].garrison[:, kabul], 10000.0)
    assert (states[d].morale <= base[d].morale - 0.099).all()
    assert np.allclose(states[d - 1].garrison, base[d - 1].garrison)


def test_ceasefire_everywhere_stops_district_losses_and_falls(world):
    _, states = trace(world, [ev("ceasefire", "2021-07-01", province="all", until=dt.date(2021, 8, 20))])
    first, last = day_index(dt.date(2021, 7, 1)), day_index(dt.date(2021, 8, 20))
    assert np.array_equal(states[first - 1].control, states[last].control)
    assert (states[last].is_held == states[first - 1].is_held).all()
    falls = states[-1].fall_day[states[-1].fall_day != NOT_FALLEN]
    assert not ((falls >= first) & (falls <= last)).any(), "a capital fell during the ceasefire"
    assert (falls > last).any(), "falls resume when the ceasefire ends"


def test_seeding_from_12_august(world):
    start = day_index(dt.date(2021, 8, 12))
    initial = InitialConditions(fallen=("Ghazni",), besieged=("Kandahar",), prisoners_freed=170)
    r = run_ensemble(Params(), 200, seed=3, world=world, start=dt.date(2021, 8, 12), initial=initial)
    obs = observed_fall_days(world)
    seeded = (obs < start) | (np.array(world.names) == "Ghazni")
    assert seeded.sum() == 10
    assert (r.fall_how[:, seeded] == SEEDED).all() and (r.fall_day[:, seeded] == obs[seeded]).all()
    assert not (r.fall_how[:, ~seeded] == SEEDED).any()
    assert r.held_count[:, 0].max() <= 24
    card = score_ensemble(r, world)
    assert card["n_scored_capitals"] == 24 and "Ghazni" not in [c["province"] for c in card["capitals"]]


def test_a_seeded_start_keeps_the_models_own_district_share(world):
    """No rescale to the last LWJ figure (204 of 407 on 10 July): the replicates keep their own shares, and the LWJ
    figures tell them apart, the more so the smaller their error."""
    start = day_index(dt.date(2021, 7, 20))
    spread = {}
    for error in (0.02, 0.5):
        p = Params(**TUNED_2021).replace(lwj_share_error=error)
        s = start_state(world, p, make_drivers(world, p), 200, start, None, np.random.default_rng(0))
        share = s.control @ (world.n_districts / world.n_districts.sum())
        assert not np.allclose(share, 204 / 407, atol=1e-3)
        assert s.is_held.all()  # nothing had fallen by 20 July
        spread[error] = share.std()
    assert known_district_share(world, dt.date(2021, 7, 20)) == 204 / 407
    assert spread[0.02] < 0.5 * spread[0.5]


def test_seeded_runs_are_reproducible(world):
    a = run_ensemble(Params(), 50, seed=9, world=world, start=dt.date(2021, 8, 1))
    b = run_ensemble(Params(), 50, seed=9, world=world, start=dt.date(2021, 8, 1))
    assert np.array_equal(a.fall_day, b.fall_day)


def test_initial_fallen_on_a_1_may_start(world):
    r = run_ensemble(Params(), 20, seed=2, world=world, initial=InitialConditions(fallen=("Nimruz",)))
    i = world.record.index["Nimruz"]
    assert (r.fall_how[:, i] == SEEDED).all() and (r.fall_day[:, i] == 0).all()
    assert not (r.fall_how[:, np.arange(34) != i] == SEEDED).any()
