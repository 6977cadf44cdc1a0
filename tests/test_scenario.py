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


@pytest.mark.parametrize("name", ["../../victim", "/tmp/x", ".", "..", ".hidden", "a/b", "a\\b", "a..b", "", " ",
                                  "x" * 65, "café", "a b", "-rf"])
def test_a_name_that_is_not_a_safe_folder_name_is_refused(world, name):
    with pytest.raises(ScenarioError) as err:
        parse(GOOD.replace('name = "t"', f"name = {name!r}".replace("'", '"') if "\\" not in name else
                           f"name = '{name}'"), world)
    text = str(err.value)
    assert text.startswith("test.toml: key 'name': ") and "not a safe name; allowed: 1 to 64 characters" in text, text


@pytest.mark.parametrize("name", ["baseline", "from-2021-08-12", "a", "x" * 64, "v1.2_final"])
def test_safe_names_are_accepted(world, name):
    assert parse(GOOD.replace('name = "t"', f'name = "{name}"'), world).name == name


def test_names_are_checked_by_one_rule():
    from sim.scenario import is_safe_name

    assert is_safe_name("hold-the-highway") and not is_safe_name("a/../b") and not is_safe_name(None)


@pytest.mark.parametrize("text, message", [
    (GOOD + "x = " + "[" * 1000 + "]" * 1000 + "\n", "nested too deeply"),
    (GOOD + "x = " + "{a=" * 1000 + "1" + "}" * 1000 + "\n", "nested too deeply"),
    (GOOD + "# " + "x" * 1_000_001 + "\n", "too large, at most 1 MB"),
])
def test_deep_or_huge_files_give_one_error(world, text, message):
    with pytest.raises(ScenarioError, match=f"^test.toml: .*{message}"):
        parse(text, world)


def test_byte_order_mark_and_encoding(world, tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_scenario(str(path), world).name == "t"
    assert parse("\ufeff" + GOOD, world).name == "t"
    path.write_bytes(GOOD.replace('"A test', '"Caf\xe9 test').encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"bom.toml: not UTF-8 text \(byte \d+: invalid continuation byte\)"):
        load_scenario(str(path), world)
    path.write_bytes(b"x" * 1_000_001)
    with pytest.raises(ScenarioError, match="bom.toml: too large, at most 1 MB"):
        load_scenario(str(path), world)


def test_a_path_the_file_system_refuses_is_a_scenario_error(world):
    with pytest.raises(ScenarioError, match="cannot be read: File name too long"):
        load_scenario("a" * 5000, world)


def test_nested_file_does_not_break_the_scenario_listing(world, tmp_path, monkeypatch):
    import sim.scenario as sc

    (tmp_path / "deep.toml").write_text(GOOD + "x = " + "[" * 1000 + "]" * 1000 + "\n")
    (tmp_path / "ok.toml").write_text(GOOD)
    monkeypatch.setattr(sc, "SCENARIO_DIR", tmp_path)
    listed = list_scenarios(world)
    assert isinstance(listed[0], ScenarioError) and "nested too deeply" in str(listed[0])
    assert listed[1].name == "t"


@pytest.mark.parametrize("extra, key, message", [
    ("[initial]\nfallen = ['Ghazni']\nbesieged = ['Ghazni']\n", "initial.besieged",
     "'Ghazni' is also listed as fallen: a capital starts fallen or besieged, not both"),
    ("[initial]\nfallen = ['Ghazni', 'Ghazni']\n", "initial.fallen", "'Ghazni' is listed twice"),
    ("[initial]\nbesieged = ['Kabul', 'Herat', 'Kabul']\n", "initial.besieged", "'Kabul' is listed twice"),
    ("[initial]\nfallen = 'Ghazni'\n", "initial.fallen", "expected a list of province names, got 'Ghazni'"),
    ("[[events]]\non = 2021-06-01\nkind = 'road'\nlink = 'ghazni-qalat'\naction = 'hold'\nuntil = 2021-07-01\n"
     "[[events]]\non = 2021-06-20\nkind = 'road'\nlink = 'ghazni-qalat'\naction = 'cut'\n", "events[1]",
     "link ghazni-qalat is held and cut on the same days (2021-06-20 to 2021-07-01): events[0] holds it from "
     "2021-06-01 to 2021-07-01, events[1] cuts it from 2021-06-20 to 2021-09-06"),
    ("[[events]]\non = 2021-06-01\nkind = 'contractors'\nshare = 1.0\n"
     "[[events]]\non = 2021-06-01\nkind = 'contractors'\nshare = 0.5\n", "events[1]",
     "events[0] already sets contractors on 2021-06-01"),
    ("".join("[[events]]\non = 2021-06-01\nkind = 'reinforce'\nprovince = 'Kabul'\ntroops = 20000\n" for _ in range(3)),
     "events[2].troops", "send 60,000 troops to Kabul by this one; allowed: at most 50,000 to one province over all"),
    ("[[events]]\non = 2021-06-01\nkind = ['road']\n", "events[0].kind", "unknown event kind ['road']; allowed"),
    ("[[events]]\non = 2021-06-01\nkind = 'road'\nlink = 'ghazni-qalat'\naction = ['cut']\n", "events[0].action",
     "['cut'] is not allowed; allowed: hold, cut"),
    ("[[events]]\non = '20210601'\nkind = 'contractors'\nshare = 1.0\n", "events[0].on", "is not a date YYYY-MM-DD"),
    ("[params]\nrural_rate = [" + ", ".join(["1"] * 10_000) + "]\n", "params.rural_rate",
     "parameter 'rural_rate' must be a number, got [1, 1, 1, 1, 1, 1, ...]"),
    ("[params]\nrural_rate = " + "9" * 400 + "\n", "params.rural_rate", "out of bounds"),
    ("[params]\nrural_rate = nan\n", "params.rural_rate", "out of bounds"),
    ('"a\\nb" = 1\n', "a\\nb", "unknown key"),
])
def test_contradictions_and_oversized_values(world, extra, key, message):
    with pytest.raises(ScenarioError) as err:
        parse(GOOD + extra, world)
    text = str(err.value)
    assert text.startswith("test.toml: ") and f"key '{key}'" in text and message in text, text
    assert "\n" not in text and len(text) < 2000, "one line, and a long value is cut short"


def test_road_held_then_cut_on_other_days_and_reinforcements_up_to_the_bound_are_fine(world):
    s = parse(GOOD + "[[events]]\non = 2021-06-01\nkind = 'road'\nlink = 'ghazni-qalat'\naction = 'hold'\n"
                     "until = 2021-06-30\n[[events]]\non = 2021-07-01\nkind = 'road'\nlink = 'ghazni-qalat'\n"
                     "action = 'cut'\n"
              + "".join("[[events]]\non = 2021-07-02\nkind = 'reinforce'\nprovince = 'Kabul'\ntroops = 25000\n"
                        for _ in range(2)), world)
    assert len(s.events) == 4
    r = run_scenario(s.replace(replicates=2), world)
    assert r.n_runs == 2


def test_a_capital_fallen_by_the_start_cannot_start_besieged(world):
    text = GOOD.replace("start = 2021-05-01", "start = 2021-08-12")
    assert parse(text + "[initial]\nbesieged = ['Herat']\n", world).initial.besieged == ("Herat",)  # fell on the 12th
    with pytest.raises(ScenarioError, match=r"key 'initial.besieged': 'Nimruz' fell on 2021-08-06 .* before the "
                                            r"start 2021-08-12: only a capital still held can start besieged"):
        parse(text + "[initial]\nbesieged = ['Nimruz']\n", world)


def test_end_must_be_after_start_and_the_rules_are_constants(world):
    from sim.scenario import MAX_SEED, MIN_DAYS

    assert MAX_SEED == 2**63 - 1 and MIN_DAYS == 1
    for end in ("2021-06-01", "2021-05-15"):
        text = GOOD.replace("end = 2021-09-06", f"end = {end}").replace("start = 2021-05-01", "start = 2021-06-01")
        with pytest.raises(ScenarioError, match=f"key 'end': end must be after start: {end} is not after 2021-06-01"):
            parse(text, world)
    s = parse(GOOD.replace("end = 2021-09-06", "end = 2021-05-02"), world)
    assert np.isfinite(run_scenario(s.replace(replicates=2), world).district_share).all()
    assert parse(GOOD.replace("seed = 1", f"seed = {MAX_SEED}"), world).seed == MAX_SEED
    with pytest.raises(ScenarioError, match=f"key 'seed': {MAX_SEED + 1} is out of bounds: allowed 0 to {MAX_SEED}"):
        parse(GOOD.replace("seed = 1", f"seed = {MAX_SEED + 1}"), world)
