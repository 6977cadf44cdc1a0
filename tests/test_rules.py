"""Invariants of the rules, each mechanism's switch, and hand-built cases for supply and air support."""

import dataclasses
import datetime as dt

import numpy as np
import pytest

from sim import rules
from sim.data import load_record
from sim.ensemble import observed_fall_days, run_chunk, run_ensemble
from sim.params import TUNED_2021, Params
from sim.rules import NOT_FALLEN, SEEDED, initial_state, make_drivers
from sim.seeding import start_state
from sim.world import build_world, day_index


def trace(world, params, n=200, seed=3, days=(0, 128)):
    """Run day by day and keep every day's state, to check invariants along the way."""
    d = make_drivers(world, params)
    rng = np.random.default_rng(seed)
    s = start_state(world, params, d, n, days[0], None, rng)
    states = []
    for day in range(days[0], days[1] + 1):
        rules.advance_day(s, world, params, d, day, rng)
        states.append(s.copy())
    return states


def test_invariants_hold_every_day(world):
    states = trace(world, Params())
    prev = None
    for s in states:
        for name in ("control", "garrison", "morale", "effort", "air_cover", "taliban"):
            assert np.isfinite(getattr(s, name)).all(), name
        assert ((s.control >= 0) & (s.control <= 1)).all()
        assert ((s.morale >= 0) & (s.morale <= 1)).all()
        assert ((s.air_cover >= 0) & (s.air_cover <= 1)).all()
        assert (s.garrison >= 0).all()
        assert np.array_equal(s.is_held, s.fall_day == NOT_FALLEN)
        assert not (s.is_road_open & ~(s.is_held[:, world.edge_a] & s.is_held[:, world.edge_b])).any()
        if prev is not None:
            assert not (s.is_held & ~prev.is_held).any(), "a fallen capital never returns"
            assert (s.control >= prev.control - 1e-12).all(), "district control only grows"
            assert (s.taliban >= prev.taliban).all()
            fallen_before = ~prev.is_held
            assert np.array_equal(s.fall_day[fallen_before], prev.fall_day[fallen_before])
        prev = s


def test_held_curve_never_rises(world):
    r = run_ensemble(Params(), 300, seed=1, world=world)
    assert (np.diff(r.held_count.astype(int), axis=1) <= 0).all()
    assert np.isfinite(r.district_share).all()


@pytest.mark.parametrize("start", [dt.date(2021, 5, 1), dt.date(2021, 8, 12)])
def test_held_count_follows_from_the_fall_days(world, start):
    """What lets run_ensemble(daily=False) drop held_count: held at the end of day d <=> not fallen, or after d."""
    r = run_ensemble(Params(), 200, seed=4, start=start, world=world)
    fd = r.fall_day[:, :, None]
    derived = ((fd == NOT_FALLEN) | (fd > r.days[None, None, :])).sum(axis=1)
    assert np.array_equal(derived, r.held_count)


@pytest.mark.parametrize("switch", [n for n, s in Params.spec().items() if s["group"] == "switches"])
def test_each_mechanism_can_be_switched_off(world, switch):
    # On the fitted 2021 set every mechanism acts inside the window; under the prior defaults Kabul holds, so the
    # collapse of the centre never comes into play.
    # A mechanism that ships off (supply_stocks, negotiated_handover, ...) is switched on here: both settings must differ.
    base = Params(**TUNED_2021)
    on = run_ensemble(base.replace(**{switch: True}), 300, seed=5, world=world)
    off = run_ensemble(base.replace(**{switch: False}), 300, seed=5, world=world)
    assert np.isfinite(off.district_share).all()
    assert not np.array_equal(on.fall_day, off.fall_day), f"turning {switch} off changed nothing"


def test_a_hold_out_gives_up_only_with_holdout_surrender_and_only_before_kabul_falls(world):
    """Badakhshan (held in 2001), besieged with no morale left, on a campaign day: it never gives up with the switch
    off; with it on it gives up at surrender_rate like Kunduz next to it, until Kabul has fallen."""
    idx = world.record.index
    day = 100
    for on in (False, True):
        p = Params().replace(holdout_surrender=on, campaign_gate_progress=0.0)
        d = make_drivers(world, p)
        s = initial_state(world, p, d, 2, 0, np.random.default_rng(0))
        s.morale[:] = 0.0
        s.control[:, [idx["Badakhshan"], idx["Kunduz"]]] = 0.99  # besieged
        s.is_besieged = s.control >= p.siege_threshold
        s.kabul_fell_day[1] = day - 1  # the second replicate: Kabul has fallen
        _, give_up, _ = rules.fall_chances(s, world, p, d, day)
        assert give_up[0, idx["Kunduz"]] == np.float32(p.surrender_rate)
        assert give_up[0, idx["Badakhshan"]] == (np.float32(p.surrender_rate) if on else 0.0)
        assert give_up[1, idx["Badakhshan"]] == 0.0


def test_a_deal_grows_with_the_surroundings_held_the_withdrawal_and_fallen_neighbours(world):
    """negotiated_handover: p_deal = deal_rate x progress x (control / cap)^exponent x (1 + contagion x neighbours
    fallen) x (1 - reduction if a power broker), 0 for a hold-out and without the switch."""
    idx = world.record.index
    day = 100
    p = Params().replace(negotiated_handover=True, campaign_gate_progress=0.0)
    d = make_drivers(world, p)
    s = initial_state(world, p, d, 2, 0, np.random.default_rng(0))
    s.control[:] = p.held_capital_control_cap / 2
    ghazni, balkh = idx["Ghazni"], idx["Balkh"]  # Balkh has a power broker (Atta Noor), Ghazni none
    assert world.has_power_broker[balkh] and not world.has_power_broker[ghazni]
    next_door = np.flatnonzero(world.adjacency[ghazni])
    s.is_held[1, next_door[0]] = False  # the second replicate: one of Ghazni's neighbours has fallen
    _, _, deal = rules.fall_chances(s, world, p, d, day)
    base = p.deal_rate * d.progress[day] * 0.5 ** p.deal_control_exponent
    assert np.isclose(deal[0, ghazni], base)
    assert np.isclose(deal[0, balkh], base * (1 - p.deal_broker_reduction))
    assert np.isclose(deal[1, ghazni], base * (1 + p.deal_contagion / len(next_door)))
    assert deal[:, idx["Panjshir"]].max() == 0.0 and deal[1, next_door[0]] == 0.0
    _, _, off = rules.fall_chances(s, world, p.replace(negotiated_handover=False), d, day)
    assert not off.any()


def test_with_deals_negotiated_means_a_deal_and_a_give_up_is_a_surrender(world):
    p = Params(**TUNED_2021).replace(negotiated_handover=True)
    no_deals = run_ensemble(p.replace(deal_rate=0.0), 300, seed=5, world=world)
    assert not (no_deals.fall_how == rules.NEGOTIATED).any() and (no_deals.fall_how == rules.SURRENDER).any()
    deals = run_ensemble(p, 300, seed=5, world=world)
    assert (deals.fall_how == rules.NEGOTIATED).any()
    assert (deals.fall_day != NOT_FALLEN).sum() > (no_deals.fall_day != NOT_FALLEN).sum()


def test_a_fall_hits_its_corps_area_and_the_headquarters_fall_hits_it_more(world):
    """corps_cascade: Kandahar (205th corps HQ) falling lowers Zabul's and Uruzgan's morale by cascade_corps +
    cascade_corps_hq more than with the switch off; Qalat falling lowers Kandahar's and Uruzgan's by cascade_corps
    only; a province with no named corps (Khost) and one of another corps (Herat) are untouched."""
    idx = world.record.index
    p_off = Params().replace(corps_cascade=False)
    p_on = p_off.replace(corps_cascade=True)

    def morale_after(p, fallen):
        d = make_drivers(world, p)
        s = initial_state(world, p, d, 1, 0, np.random.default_rng(0))
        before = s.morale.copy()
        falls = np.zeros((1, world.n_provinces), bool)
        falls[0, idx[fallen]] = True
        rules.apply_falls(s, world, p, d, 100, falls)
        return before - s.morale

    extra = morale_after(p_on, "Kandahar") - morale_after(p_off, "Kandahar")
    for name in ("Zabul", "Uruzgan"):
        assert np.isclose(extra[0, idx[name]], p_on.cascade_corps + p_on.cascade_corps_hq)
    for name in ("Khost", "Herat", "Kabul"):
        assert extra[0, idx[name]] == 0.0
    extra = morale_after(p_on, "Zabul") - morale_after(p_off, "Zabul")
    for name in ("Kandahar", "Uruzgan"):
        assert np.isclose(extra[0, idx[name]], p_on.cascade_corps)
    assert extra[0, idx["Helmand"]] == 0.0  # the 215th, not the 205th


def test_no_capital_falls_without_sieges_surrenders_or_collapse(world):
    p = Params().replace(siege_assault=False, morale_cascade=False, centre_collapse=False)
    r = run_ensemble(p, 200, seed=2, world=world)
    assert (r.fall_day == NOT_FALLEN).all()


def test_no_capital_falls_before_the_campaign_gate(world):
    r = run_ensemble(Params(), 500, seed=4, world=world)
    gate = np.argmax(world.withdrawal_progress >= Params().campaign_gate_progress)
    fallen = r.fall_day[r.fall_day != NOT_FALLEN]
    assert fallen.min() >= gate


def test_supply_follows_open_roads_through_held_capitals(world):
    n = 1
    idx = world.record.index
    held = np.ones((n, world.n_provinces), bool)
    open_ = np.ones((n, world.n_roads), bool)
    assert rules.connected_to_kabul(world, held, open_, world.kabul).all()
    # Panjshir hangs off Charikar only: losing Parwan's capital cuts it off, and nothing else.
    held[0, idx["Parwan"]] = False
    reach = rules.connected_to_kabul(world, held, open_, world.kabul)[0]
    assert not reach[idx["Panjshir"]] and not reach[idx["Parwan"]]
    assert reach[idx["Balkh"]]  # still reachable the long way round through Bamyan and the west
    # Cutting the one road to Zaranj isolates Nimruz.
    held[0, idx["Parwan"]] = True
    zaranj = [e for e, l in enumerate(world.link_ids) if "zaranj" in l]
    open_[0, zaranj] = False
    reach = rules.connected_to_kabul(world, held, open_, world.kabul)[0]
    assert not reach[idx["Nimruz"]] and reach.sum() == world.n_provinces - 1


def test_air_support_goes_to_the_most_threatened_first(world):
    p = Params()
    d = make_drivers(world, p)
    s = initial_state(world, p, d, 1)
    s.is_besieged[:] = False
    s.is_besieged[0, :4] = True
    s.effort[0, :4] = [1000.0, 4000.0, 2000.0, 3000.0]
    s.garrison[0, :4] = 1000.0
    p2 = p.replace(strikes_per_capital=d.air_capacity[100] / 2.5)  # room for 2.5 capitals
    rules.allocate_air_support(s, world, p2, d, 100)
    assert np.allclose(s.air_cover[0, :4], [0.0, 1.0, 0.5, 1.0])
    assert (s.air_cover[0, 4:] == 0).all()


def test_air_capacity_follows_the_withdrawal(world):
    d = make_drivers(world, Params())
    bagram = day_index(dt.date(2021, 7, 2))
    end = day_index(dt.date(2021, 8, 31))
    assert d.air_capacity[0] > d.air_capacity[bagram] > d.air_capacity[end + 1] > 0
    assert (np.diff(d.air_capacity) <= 1e-12).all()
    assert (make_drivers(world, Params(air_support=False)).air_capacity == 0).all()


def test_seeding_from_a_later_date_marks_fallen_capitals(world):
    start = day_index(dt.date(2021, 8, 12))
    obs = observed_fall_days(world)
    fd, how, held, _ = run_chunk(world, Params(), 50, 9, start, day_index(dt.date(2021, 9, 6)))
    before = obs < start
    assert before.sum() == 9  # Zaranj ... Faizabad
    assert (fd[:, before] == obs[before]).all() and (how[:, before] == SEEDED).all()
    assert (held[:, 0] <= 34 - 9).all()


def test_the_model_never_reads_observed_fall_dates(tmp_path, world):
    """Scrambling every observed fall date leaves a 1 May run unchanged: the dates only seed later starts."""
    import shutil

    from sim.data import DATA_DIR

    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    lines = (d / "provinces.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    for name in ("fell_on", "reported_on"):  # each fall moves with the day it was reported
        col = header.split(",").index(name)
        dates = [r.split(",")[col] for r in rows]
        rotated = dates[7:] + dates[:7]
        rows = [",".join(r.split(",")[:col] + [x] + r.split(",")[col + 1:]) for r, x in zip(rows, rotated)]
    (d / "provinces.csv").write_text("\n".join([header] + rows) + "\n")
    scrambled = build_world(load_record(d))
    assert not np.array_equal(observed_fall_days(scrambled), observed_fall_days(world))
    p = Params(**TUNED_2021)  # a set under which capitals fall inside the window, so the comparison is not empty
    a = run_ensemble(p, 200, seed=8, world=world)
    b = run_ensemble(p, 200, seed=8, world=scrambled)
    assert (a.fall_day != NOT_FALLEN).any() and np.array_equal(a.fall_day, b.fall_day)


def test_supply_search_agrees_with_networkx(world):
    import networkx as nx

    rng = np.random.default_rng(5)
    held = rng.random((200, world.n_provinces)) < 0.85
    open_ = rng.random((200, world.n_roads)) < 0.75
    reach = rules.connected_to_kabul(world, held, open_, world.kabul)
    for r in range(200):
        g = nx.Graph()
        g.add_nodes_from(range(world.n_provinces))
        g.add_edges_from((a, b) for a, b, o in zip(world.edge_a, world.edge_b, open_[r]) if o and held[r, a] and held[r, b])
        expected = nx.node_connected_component(g, world.kabul) if held[r, world.kabul] else set()
        assert set(np.flatnonzero(reach[r])) == (expected if held[r, world.kabul] else set())
    assert reach.any() and not reach.all()


@pytest.mark.parametrize("params", [Params(), Params(**TUNED_2021)], ids=["prior", "tuned"])
def test_the_spin_up_is_shown_the_chances_resolve_sieges_draws_against(world, params):
    """One computation of the day's fall chances (rules.fall_chances): the normal day falls where u is below them,
    and a spin-up day (no forced fall) shows the observer the very same arrays."""
    d = make_drivers(world, params)
    rng = np.random.default_rng(8)
    s = start_state(world, params, d, 300, 0, None, rng)
    day = day_index(dt.date(2021, 8, 5))
    for t in range(day):
        rules.advance_day(s, world, params, d, t, rng)
    for t in (day, day + 1):  # the state of the morning, up to resolve_sieges
        rules.apply_interventions(s, d, t)
        rules.allocate_effort(s, world, params, d)
        rules.allocate_air_support(s, world, params, d, t)
        rules.update_supply(s, world, params, d, t)
        seen = []
        spin_up = dataclasses.replace(d, seed_fall_days=np.full(world.n_provinces, NOT_FALLEN, np.int16),
                                      seed_until=t + 1, seed_observe=lambda *a, seen=seen: seen.append(a))
        observed = s.copy()
        assert not rules.resolve_sieges(observed, world, params, spin_up, t, None).any()
        (_, chances, forced, held), = seen
        u = rng.random((s.n, world.n_provinces), dtype=np.float32)
        falls = rules.resolve_sieges(s, world, params, d, t, u)
        assert np.array_equal(falls, (u < chances[0] + chances[1]) & held) and not forced.any()
        assert falls.any(), "a day on which something falls"
        rules.apply_falls(s, world, params, d, t, falls)


def _cut_off(world, p, names, day=100, n=1):
    """n replicates on `day` with the capitals `names` held but cut off from Kabul (their links closed)."""
    d = make_drivers(world, p)
    s = initial_state(world, p, d, n, 0, np.random.default_rng(0))
    idx = [world.record.index[name] for name in names]
    for i in idx:
        s.is_road_open[:, (world.edge_a == i) | (world.edge_b == i)] = False
    s.supply_dirty[:] = True
    rules.update_supply(s, world, p, d, day)
    assert not s.is_supplied[:, idx].any()
    return s, d, idx


def test_stocks_run_down_while_cut_off_faster_for_police_and_refill_when_reconnected(world):
    """supply_stocks: a cut-off garrison loses 1 + police_share x (multiplier - 1) days of stock a day; a supplied
    one refills by restock_rate up to stock_days; without the switch the stocks never move. (No airlift here:
    air_logistics off, so nothing slows the run-down.)"""
    p = Params().replace(supply_stocks=True, air_logistics=False)
    s, d, (herat,) = _cut_off(world, p, ["Herat"])
    drain = 1 + p.police_share * (p.police_drain_multiplier - 1)
    assert np.isclose(s.stocks[0, herat], p.stock_days - drain)
    kabul = world.kabul
    assert s.stocks[0, kabul] == p.stock_days
    for day in range(101, 140):
        rules.update_supply(s, world, p, d, day)
    assert s.stocks[0, herat] == 0.0
    s.is_road_open[:] = True
    s.supply_dirty[:] = True
    rules.update_supply(s, world, p, d, 140)
    assert np.isclose(s.stocks[0, herat], p.restock_rate)
    off, _, _ = _cut_off(world, Params(), ["Herat"])
    assert (off.stocks == Params().stock_days).all()


def test_a_cut_off_garrison_out_of_stocks_surrenders_whatever_its_morale(world):
    p = Params().replace(supply_stocks=True, campaign_gate_progress=0.0)
    s, d, (herat,) = _cut_off(world, p, ["Herat"])
    s.morale[:] = 1.0  # high morale: no morale give-up possible
    _, give_up, _ = rules.fall_chances(s, world, p, d, 100)
    assert give_up[0, herat] == 0.0
    s.stocks[0, herat] = 0.0
    _, give_up, _ = rules.fall_chances(s, world, p, d, 100)
    assert np.isclose(give_up[0, herat], p.starved_surrender_rate)
    assert give_up[0, world.kabul] == 0.0  # supplied garrisons do not starve
    s.stocks[0, world.record.index["Panjshir"]] = 0.0  # a hold-out never gives up with holdout_surrender off
    assert rules.fall_chances(s, world, p, d, 100)[1][0, world.record.index["Panjshir"]] == 0.0


def test_airlift_follows_the_contractors_and_slows_the_run_down_and_the_siege_toll(world):
    """air_logistics: the day's airlift is airlift_per_day x readiness; it is shared over the cut-off garrisons
    (resupply) and what is left over the besieged (casualty evacuation)."""
    p = Params().replace(supply_stocks=True, air_logistics=True)
    d = make_drivers(world, p)
    readiness = 1 - p.aaf_contractor_dependence * (1 - np.clip(world.contractor_share, 0, 1))
    assert np.allclose(d.airlift, p.airlift_per_day * readiness)
    assert d.airlift[100] < d.airlift[0]  # the contractors leave
    names = ["Herat", "Farah", "Zaranj", "Qala-i-Naw", "Chaghcharan", "Bamyan", "Nili", "Tarinkot"]
    names = [n for n in names if n in world.record.index][:8]
    s, d, idx = _cut_off(world, p, names)
    resupply, casevac = rules.airlift_shares(s, p, d, 100)
    n_cut = int((s.is_held & ~s.is_supplied).sum())
    assert np.isclose(resupply[0], min(1.0, d.airlift[100] / n_cut))
    drain = (1 + p.police_share * (p.police_drain_multiplier - 1)) * (1 - resupply[0])
    assert np.allclose(s.stocks[0, idx], p.stock_days - drain)
    # Casualty evacuation: with nobody cut off, the whole lift goes to the besieged.
    s2 = initial_state(world, p, d, 1, 0, np.random.default_rng(0))
    s2.is_besieged[0, :2] = True
    _, casevac = rules.airlift_shares(s2, p, d, 100)
    assert np.isclose(casevac[0], min(1.0, d.airlift[100] / 2))
    off = Params().replace(air_logistics=False)
    assert rules.airlift_shares(s2, off, make_drivers(world, off), 100)[1][0] == 0.0
    assert not make_drivers(world, off).airlift.any()


def test_dated_shocks_only_when_known_and_customs_follow_the_crossings(world):
    """dated_shocks: the 19 June shake-up is a step of shake_up_shock in morale_drop, only in a world that knows
    of it; the customs toll is customs_morale_rate x the share of crossing provinces lost."""
    p = Params().replace(dated_shocks=True)
    june19 = day_index(dt.date(2021, 6, 19))
    assert world.shake_up_day == june19
    d_on, d_off = make_drivers(world, p), make_drivers(world, Params().replace(dated_shocks=False))
    step = d_on.morale_drop - d_off.morale_drop
    assert np.allclose(step[:june19], 0) and np.allclose(step[june19:], p.shake_up_shock)
    early = world.known_on(dt.date(2021, 6, 1))
    assert early.shake_up_day is None and np.isnan(early.crossing_taken_day).all()
    assert np.array_equal(make_drivers(early, p).morale_drop,
                          make_drivers(early, p.replace(dated_shocks=False)).morale_drop)
    s = initial_state(early, p, make_drivers(early, p), 1, 0, np.random.default_rng(0))
    before = s.morale.copy()
    rules.lose_customs(s, early, p, 10)
    assert np.allclose(before, s.morale)  # nothing lost yet: 1 May control is below crossing_loss_control
    crossing = np.flatnonzero(early.has_crossing)
    s.control[0, crossing[:2]] = 1.0
    rules.lose_customs(s, early, p, 10)
    assert np.allclose(before - s.morale, p.customs_morale_rate * 2 / crossing.size)
    # The full record knows the July captures: from their day on they count without any control.
    s = initial_state(world, p, make_drivers(world, p), 1, 0, np.random.default_rng(0))
    before = s.morale.copy()
    rules.lose_customs(s, world, p, day_index(dt.date(2021, 7, 31)))
    taken = np.isfinite(world.crossing_taken_day) & world.has_crossing
    assert taken.any()
    assert np.allclose(before - s.morale, p.customs_morale_rate * taken.sum() / world.has_crossing.sum())


def test_commandos_defend_the_most_threatened_capital_and_wear_down(world):
    p = Params().replace(commando_reserve=True, campaign_gate_progress=0.0)
    d = make_drivers(world, p)
    s = initial_state(world, p, d, 1, 0, np.random.default_rng(0))
    idx = world.record.index
    ghazni, herat = idx["Ghazni"], idx["Herat"]
    s.is_besieged[0, [ghazni, herat]] = True
    s.effort[0, ghazni] = 30_000.0
    s.effort[0, herat] = 10.0
    rules.deploy_commandos(s, p)
    assert s.commando_at[0] == ghazni
    with_them = rules.fall_chances(s, world, p, d, 100)[0]
    without = rules.fall_chances(s, world, p.replace(commando_reserve=False), d, 100)[0]
    assert with_them[0, ghazni] < without[0, ghazni] and with_them[0, herat] == without[0, herat]
    s.control[0, [ghazni, herat]] = 1.0  # still besieged at resolve time
    rules.resolve_sieges(s, world, p, d, 100, np.ones_like(s.control))
    assert np.isclose(s.commandos[0], p.commando_strength * (1 - p.commando_wear_rate))
    s.is_besieged[:] = False
    rules.deploy_commandos(s, p)
    assert s.commando_at[0] == -1
