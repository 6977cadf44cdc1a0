"""Scenario files: every shipped one loads and runs; every class of bad input gives one clear error."""

import datetime as dt

import numpy as np
import pytest

from sim.compare import compare_table, outcomes, paired_difference
from sim.experiment import run_scenario, with_overrides
from sim.scenario import SCENARIO_DIR, ScenarioError, list_scenarios, load_scenario, parse_scenario

GOOD = """
name = "t"
description = "A test scenario. More text."
start = 2021-05-01
end = 2021-09-06
replicates = 10
seed = 1
"""


def parse(text, world):
    return parse_scenario(text, "test.toml", world)


def test_every_shipped_scenario_loads_and_runs(world):
    scenarios = list_scenarios(world)
    assert len(scenarios) >= 8
    assert not [s for s in scenarios if isinstance(s, Exception)]
    names = {s.name for s in scenarios}
    for required in ("baseline", "from-2021-08-12", "contractors-stay", "delayed-withdrawal", "no-cascade",
                     "hold-the-highway", "reinforce-kabul"):
        assert required in names
    for s in scenarios:
        assert (SCENARIO_DIR / f"{s.name}.toml").is_file(), "a scenario's name is its file name"
        r = run_scenario(with_overrides(s, runs=40), world)
        assert r.n_runs == 40 and np.isfinite(r.district_share).all()


def test_a_good_file_parses(world):
    s = parse(GOOD + '[params]\nrural_rate = 0.1\nmorale_cascade = false\n'
              '[[events]]\non = 2021-06-01\nkind = "reinforce"\nprovince = "Kabul"\ntroops = 5000\n', world)
    assert s.params.rural_rate == 0.1 and s.params.morale_cascade is False
    assert s.events[0].kind == "reinforce" and s.events[0].get("troops") == 5000.0
    assert s.summary == "A test scenario."


@pytest.mark.parametrize("extra, key, message", [
    ("colour = 'red'\n", "colour", "unknown key; allowed: name, description"),
    ("[params]\nrurl_rate = 0.1\n", "params.rurl_rate", "not a model parameter; allowed: rural_expansion"),
    ("[params]\nsurrender_rate = 2.0\n", "params.surrender_rate", "out of bounds: allowed 0.0 to 1.0"),
    ("[params]\nsurrender_rate = 'high'\n", "params.surrender_rate", "must be a number"),
    ("[params]\nair_support = 1\n", "params.air_support", "must be true or false"),
    ("[initial]\nfallen = ['Atlantis']\n", "initial.fallen", "unknown province 'Atlantis'; allowed: Badakhshan"),
    ("[initial]\nheld = ['Kabul']\n", "initial.held", "unknown key; allowed: fallen, besieged, prisoners_freed"),
    ("[[events]]\non = 2021-06-01\nkind = 'airlift'\n", "events[0].kind", "unknown event kind 'airlift'; allowed: us_air_support"),
    ("[[events]]\non = 2021-06-01\nkind = 'reinforce'\nprovince = 'Kabul'\n", "events[0].troops", "missing: 'reinforce' needs troops"),
    ("[[events]]\non = 2021-06-01\nkind = 'reinforce'\nprovince = 'Kabull'\ntroops = 5\n", "events[0].province", "unknown province 'Kabull'"),
    ("[[events]]\non = 2021-06-01\nkind = 'road'\nlink = 'kabul-mars'\naction = 'hold'\n", "events[0].link", "unknown road 'kabul-mars'; allowed (link_id in data/roads.csv): kabul-maidan_shar"),
    ("[[events]]\non = 2021-06-01\nkind = 'road'\nlink = 'kabul-maidan_shar'\naction = 'bomb'\n", "events[0].action", "'bomb' is not allowed; allowed: hold, cut"),
    ("[[events]]\non = 2021-10-01\nkind = 'contractors'\nshare = 1.0\n", "events[0].on", "outside the window: allowed 2021-05-01 to 2021-09-06"),
    ("[[events]]\non = 2021-06-01\nkind = 'contractors'\nshare = 1.5\n", "events[0].share", "out of bounds: allowed 0 to 1"),
    ("[[events]]\non = 2021-06-01\nkind = 'contractors'\nshare = 1.0\ncolour = 1\n", "events[0].colour", "unknown key; allowed: kind, on, share"),
    ("[[events]]\non = 2021-07-01\nkind = 'contractors'\nshare = 1.0\n[[events]]\non = 2021-06-01\nkind = 'contractors'\nshare = 0.5\n",
     "events[1].on", "comes before the previous event"),
    ("[[events]]\non = 2021-06-01\nkind = 'ceasefire'\nprovince = 'all'\nuntil = 2021-05-15\n", "events[0].until", "outside the window: allowed 2021-06-01"),
])
def test_bad_input_names_file_key_and_what_is_allowed(world, extra, key, message):
    with pytest.raises(ScenarioError) as err:
        parse(GOOD + extra, world)
    text = str(err.value)
    assert text.startswith("test.toml: ") and f"key '{key}'" in text and message in text, text


@pytest.mark.parametrize("old, new, key, message", [
    ("start = 2021-05-01", "start = 2021-04-01", "start", "outside the window: allowed 2021-05-01 to 2021-08-15"),
    ("start = 2021-05-01", "start = 2021-08-20", "start", "outside the window"),
    ("start = 2021-05-01", 'start = "1st May"', "start", "is not a date YYYY-MM-DD"),
    ("end = 2021-09-06", "end = 2021-12-01", "end", "outside the window: allowed 2021-05-01 to 2021-09-30"),
    ("replicates = 10", "replicates = 0", "replicates", "out of bounds: allowed 1 to"),
    ("replicates = 10", 'replicates = "many"', "replicates", "expected a whole number"),
    ('name = "t"\n', "", "name", "missing; a scenario needs name, description"),
])
def test_bad_top_level_values(world, old, new, key, message):
    with pytest.raises(ScenarioError) as err:
        parse(GOOD.replace(old, new), world)
    assert f"key '{key}'" in str(err.value) and message in str(err.value), str(err.value)


def test_malformed_file(world):
    with pytest.raises(ScenarioError, match=r"test.toml: not valid TOML: .*line 3"):
        parse('name = "x"\ndescription = "y"\nstart = = 2021\n', world)


def test_unknown_scenario_lists_the_shipped_ones(world):
    with pytest.raises(ScenarioError, match="no such scenario file; the shipped scenarios are: baseline, "):
        load_scenario("baseliine", world)


def test_start_override_is_checked(world):
    s = load_scenario("baseline", world)
    assert with_overrides(s, start=dt.date(2021, 8, 1)).start == dt.date(2021, 8, 1)
    with pytest.raises(ScenarioError, match="--start 2021-08-20 is outside the window: allowed 2021-05-01 to 2021-08-15"):
        with_overrides(s, start=dt.date(2021, 8, 20))


def test_comparing_a_scenario_with_itself_is_exactly_zero(world):
    s = with_overrides(load_scenario("baseline", world), runs=200)
    a, b = outcomes("a", run_scenario(s, world), world), outcomes("b", run_scenario(s, world), world)
    assert paired_difference(a.kabul_day, b.kabul_day) == (0.0, 0.0)
    table = compare_table([a, b])
    assert "+0.0 +- 0.0" in table


def test_paired_difference_hand_case():
    mean, half = paired_difference(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 4.0, 6.0]))
    # differences 1, 2, 1, 2: mean 1.5, sd 0.5774, half-width 1.96 * 0.5774 / 2
    assert mean == 1.5 and half == pytest.approx(1.96 * np.std([1, 2, 1, 2], ddof=1) / 2)
