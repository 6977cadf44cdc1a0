"""The Mesa object view: the space, the agents, and agreement in distribution with the ensemble path."""

import pickle

import numpy as np
import pytest
from scipy import stats

from sim.agents import AirSupportAgent, GarrisonAgent, ProvinceAgent, RoadLinkAgent, TalibanForceAgent
from sim.ensemble import run_ensemble
from sim.model import TerritoryModel, run_models
from sim.params import Params


def test_space_and_agents(world):
    m = TerritoryModel(seed=1, world=world)
    assert len(m.grid.all_cells) == 34
    kabul = m.grid["Kabul"]
    assert {c.coordinate for c in kabul.neighborhood} == {"Maidan Wardak", "Parwan", "Nangarhar", "Logar", "Bamyan"}
    types = {type(a) for a in m.agents}
    assert types == {ProvinceAgent, GarrisonAgent, RoadLinkAgent, AirSupportAgent, TalibanForceAgent}
    assert len(m.agents_by_type[RoadLinkAgent]) == 40
    balkh = m.provinces[world.record.index["Balkh"]]
    assert (balkh.lon, balkh.lat) == tuple(m.grid.G.nodes["Balkh"]["pos"])
    assert balkh in balkh.cell.agents
    assert all(p.is_held for p in m.provinces)


def test_agents_show_the_state_the_rules_computed(world):
    m = TerritoryModel(seed=2, world=world)
    for _ in range(110):
        m.step()
    fallen = [p for p in m.provinces if not p.is_held]
    assert fallen, "by 19 August some capitals have fallen"
    for p in fallen:
        assert p.fell_on is not None and p.fall_how in ("fighting", "negotiated", "surrender")
        assert m.garrisons[p.index].strength == 0
    assert m.capitals_held == sum(p.is_held for p in m.provinces)
    assert m.taliban.fighters > Params().taliban_strength
    frame = m.datacollector.get_model_vars_dataframe()
    assert list(frame.columns) == ["day", "capitals_held", "district_share", "taliban_fighters", "roads_open",
                                   "air_strikes_available"]
    assert len(frame) == 110


def test_model_pickles(world):
    m = TerritoryModel(seed=3, world=world)
    m.step()
    m2 = pickle.loads(pickle.dumps(m))
    assert np.array_equal(m2.state.control, m.state.control)


@pytest.mark.slow
@pytest.mark.versions
def test_mesa_path_and_ensemble_path_agree_in_distribution(world):
    """Different random streams, same rules: each capital's fall-day distribution must match.

    600 Mesa models (about 30 ms each) against 4,000 ensemble runs, a two-sample Kolmogorov-Smirnov test per
    capital at a Bonferroni-corrected 1 % level; the next test shows the same test, at the same sizes, catches a
    10 % change of one parameter.
    """
    mesa = run_models(Params(), 600, seed=21, world=world)
    ens = run_ensemble(Params(), 4000, seed=22, world=world)
    end = mesa.end_day + 1
    pvalues = []
    for k in range(34):
        a = np.where(mesa.fall_day[:, k] < 0, end, mesa.fall_day[:, k])
        b = np.where(ens.fall_day[:, k] < 0, end, ens.fall_day[:, k])
        pvalues.append(stats.ks_2samp(a, b).pvalue)
    assert min(pvalues) > 0.01 / 34, f"capital {int(np.argmin(pvalues))} differs (p = {min(pvalues):.2g})"


@pytest.mark.slow
@pytest.mark.versions
def test_a_real_difference_is_detected(world):
    """The agreement test has power: a 10 % change of one parameter is caught at the same sizes (600 and 4,000)."""
    a = run_ensemble(Params(), 600, seed=23, world=world)
    b = run_ensemble(Params().replace(cascade_neighbour=Params().cascade_neighbour * 0.9), 4000, seed=24,
                     world=world)
    end = a.end_day + 1
    p = [stats.ks_2samp(np.where(a.fall_day[:, k] < 0, end, a.fall_day[:, k]),
                        np.where(b.fall_day[:, k] < 0, end, b.fall_day[:, k])).pvalue for k in range(34)]
    assert min(p) < 0.01 / 34


def test_a_finished_model_is_released(world):
    """Mesa before 3.4.2 keeps every model alive in Agent._ids; the model drops its entry so memory is freed."""
    import gc
    import weakref

    m = TerritoryModel(seed=5, world=world)
    for _ in range(3):
        m.step()
    ref = weakref.ref(m)
    del m
    gc.collect()
    assert ref() is None
