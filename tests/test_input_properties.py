"""Property tests of every user-written input: a scenario file, a sweep file or an edited data file either works
(it parses, and a scenario or the edited record then runs) or fails with the one error type its parser raises,
naming the file and the key (or line and field). Any other exception is a bug.

Examples per test: HYPOTHESIS_PROFILE=thorough for the long run (about 20 times as many, random each time); the
default profile is derandomized, so a CI run is reproducible and takes a few seconds.
"""

import csv
import datetime as dt
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sim.data import DATA_DIR, EVENT_KINDS, DataError, load_record
from sim.ensemble import run_ensemble
from sim.experiment import run_scenario
from sim.interventions import KINDS
from sim.params import Params
from sim.scenario import MAX_SEED, SCENARIO_DIR, ScenarioError, is_safe_name, parse_scenario
from sim.sweep import MAX_POINTS, parse_sweep
from sim.world import build_world, default_world

settings.register_profile("inputs", max_examples=250, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=5000, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("thorough" if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else "inputs")

WORLD = default_world()
SPEC = Params.spec()
PROVINCES = list(WORLD.names)
LINKS = list(WORLD.link_ids)
# Keys an error may name without a key: the file as a whole.
FILE_LEVEL = ("not valid TOML", "no such scenario file", "no such sweep file", "cannot be read", "not UTF-8",
              "too large")


# ----------------------------------------------------------------------------------------------- a TOML writer


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_string(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_document(doc: dict) -> str:
    """Every key as `key = value`: tables inline, [[events]] as an array of inline tables (the same TOML)."""
    return "".join(f"{_string(k)} = {toml_value(v)}\n" for k, v in doc.items())


# ----------------------------------------------------------------------------------------------- strategies

any_scalar = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.dates(), st.datetimes(), st.times())
any_value = st.recursive(any_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=8)



def rarely(draw, odds: int) -> bool:
    """True 1 time in `odds`; False is the simplest choice, so that shrinking heads for a valid file."""
    return draw(st.integers(0, odds - 1)) == odds - 1


def mostly(valid, invalid, odds=6):
    """`valid` most of the time (a file with one mistake is the common case), `invalid` 1 time in `odds`."""
    return st.integers(0, odds - 1).flatmap(lambda k: invalid if k == odds - 1 else valid)


window_dates = st.dates(dt.date(2021, 4, 1), dt.date(2021, 10, 31))
run_dates = st.dates(dt.date(2021, 5, 1), dt.date(2021, 9, 30))
dates = mostly(st.one_of(run_dates, run_dates.map(dt.date.isoformat)),
               st.one_of(window_dates, window_dates.map(lambda d: d.strftime("%Y%m%d")), any_value))
names = mostly(
    st.sampled_from(["baseline", "t", "a.b-c_d", "x" * 64, "v1.2"]),
    st.one_of(st.sampled_from(["x" * 65, "../../victim", "/tmp/x", ".", "..", ".hidden", "a/b", "a\\b", "a..b", "", " ",
                               "café", "-rf", "C:\\x", "name\n"]), st.text(max_size=70), any_value))
provinces = mostly(st.sampled_from(PROVINCES), st.one_of(st.sampled_from(["all", "Atlantis", "kabul", ""]), any_value))


def number_near(lo, hi):
    """Numbers in and at [lo, hi] mostly; now and then just outside, and odd ones."""
    span = (hi - lo) or 1.0
    return mostly(st.one_of(st.floats(lo, hi), st.sampled_from([lo, hi])),
                  st.one_of(st.floats(lo - span, hi + span), st.integers(int(lo) - 2, int(hi) + 2),
                            st.sampled_from([math.nan, math.inf, -math.inf, 10**30]), any_value))


def param_value(name):
    s = SPEC[name]
    if s["type"] == "bool":
        return mostly(st.booleans(), any_value)
    return number_near(s["lo"], s["hi"])


params_tables = mostly(
    st.lists(st.sampled_from(list(SPEC)), max_size=4, unique=True).flatmap(
        lambda ks: st.fixed_dictionaries({k: param_value(k) for k in ks})),
    st.one_of(st.dictionaries(st.text(max_size=10), any_value, max_size=2), any_value))


@st.composite
def events(draw):
    kind = draw(mostly(st.sampled_from(list(KINDS)), st.one_of(st.sampled_from(["airlift", ""]), any_value), 10))
    ev = {"kind": kind}
    if not rarely(draw, 10):
        ev["on"] = draw(dates)
    spec = KINDS.get(kind) if isinstance(kind, str) else None
    for name, arg in (spec.args.items() if spec else ()):
        if rarely(draw, 10):
            continue  # a missing argument
        if arg.type in ("share", "number"):
            ev[name] = draw(number_near(arg.lo, arg.hi))
        elif arg.type in ("province", "province_or_all"):
            ev[name] = draw(provinces)
        elif arg.type == "link":
            ev[name] = draw(mostly(st.sampled_from(LINKS), st.one_of(st.sampled_from(["kabul-mars", ""]), any_value)))
        elif arg.type == "choice":
            ev[name] = draw(mostly(st.sampled_from(list(arg.choices)), st.one_of(st.just("bomb"), any_value)))
        elif arg.type == "date":
            ev[name] = draw(dates)
    if rarely(draw, 20):
        ev[draw(st.text(max_size=8))] = draw(any_value)
    return ev


@st.composite
def scenario_docs(draw):
    start = draw(mostly(st.dates(dt.date(2021, 5, 1), dt.date(2021, 8, 15)), dates))
    after = start + dt.timedelta(days=1) if type(start) is dt.date and start < dt.date(2021, 9, 30) else None
    end = draw(mostly(st.dates(after, dt.date(2021, 9, 30)), dates) if after else dates)
    doc = {"name": draw(names), "description": draw(mostly(st.text(min_size=1, max_size=40), any_value)),
           "start": start, "end": end,
           "replicates": draw(mostly(st.integers(1, 20), st.one_of(st.integers(-2, 0),
                                                                   st.sampled_from([10**7, 10**7 + 1]), any_value))),
           "seed": draw(mostly(st.integers(0, 2**64), st.one_of(st.sampled_from([-1, MAX_SEED, MAX_SEED + 1]),
                                                                any_value)))}
    if draw(st.booleans()):
        doc["params"] = draw(params_tables)
    if draw(st.booleans()):
        lists = st.lists(provinces, max_size=3)
        initial = {"fallen": draw(mostly(lists, any_value)), "besieged": draw(mostly(lists, any_value)),
                   "prisoners_freed": draw(number_near(0, 100_000))}
        keep = draw(st.lists(st.sampled_from(list(initial)), unique=True))
        doc["initial"] = {k: initial[k] for k in keep}
        if rarely(draw, 20):
            doc["initial"][draw(st.text(max_size=8))] = draw(any_value)
    if draw(st.booleans()):
        evs = draw(st.lists(events(), max_size=5))
        if not rarely(draw, 4):  # in date order, as a valid file must be
            evs.sort(key=lambda e: e["on"].isoformat() if isinstance(e.get("on"), dt.date) else "")
        doc["events"] = draw(any_value) if rarely(draw, 20) else evs
    if rarely(draw, 10):
        del doc[draw(st.sampled_from(list(doc)))]  # a missing key
    if rarely(draw, 20):
        doc[draw(st.text(max_size=10))] = draw(any_value)  # an unknown key
    return doc


def assert_one_clear_error(err, path_prefix=None):
    text = str(err)
    assert "\n" not in text and len(text) < 4000, text
    assert text.startswith(err.path if len(err.path) <= 200 else err.path[:200]), text
    if path_prefix is not None and err.path == path_prefix:
        assert text.startswith(f"{path_prefix}: "), text
    if not any(m in text for m in FILE_LEVEL):
        assert err.key is not None and f"key '{err.key}" in text, f"no key named: {text}"


# ----------------------------------------------------------------------------------------------- (a) scenarios


@settings(PROFILE)
@given(scenario_docs())
def test_a_scenario_file_runs_or_gives_one_scenario_error(doc):
    text = toml_document(doc)
    try:
        s = parse_scenario(text, "test.toml", WORLD)
    except ScenarioError as err:
        assert err.path == "test.toml"
        assert_one_clear_error(err, "test.toml")
        event(f"ScenarioError on {(err.key or '').split('.')[0].split('[')[0]}")
        return
    event("parsed and ran")
    assert is_safe_name(s.name) and s.end > s.start and 0 <= s.seed <= MAX_SEED
    r = run_scenario(s.replace(replicates=2), WORLD)
    assert r.n_runs == 2 and np.isfinite(r.district_share).all() and np.isfinite(r.held_count).all()


# ----------------------------------------------------------------------------------------------- (b) sweeps

NUMERIC = [n for n, s in SPEC.items() if s["type"] != "bool"]


@st.composite
def bounds_tables(draw):
    # Few parameters (small designs) or many (a grid beyond the bound): never the slow middle.
    k = draw(mostly(st.integers(1, 4), st.integers(18, len(NUMERIC)), 8))
    chosen = draw(st.lists(st.sampled_from(NUMERIC), min_size=k, max_size=k, unique=True))
    table = {}
    for n in chosen:
        lo, hi = SPEC[n]["lo"], SPEC[n]["hi"]
        a, b = draw(st.floats(lo, hi)), draw(st.floats(lo, hi))
        table[n] = draw(mostly(st.sampled_from([sorted([a, b]) if a != b else [lo, hi], [lo, hi]]),
                               st.one_of(st.lists(number_near(lo, hi), max_size=3), any_value)))
    if rarely(draw, 10):
        table[draw(st.sampled_from(["rural_rat", "air_support", ""]))] = [0.0, 1.0]
    return table


@st.composite
def axes_tables(draw):
    chosen = draw(st.lists(st.sampled_from(list(SPEC)), min_size=1, max_size=4, unique=True))
    valid = {n: st.lists(st.booleans(), min_size=1, max_size=2, unique=True) if SPEC[n]["type"] == "bool" else
             st.lists(st.floats(SPEC[n]["lo"], SPEC[n]["hi"]), min_size=1, max_size=4, unique=True) for n in chosen}
    table = {n: draw(mostly(valid[n], st.one_of(st.lists(param_value(n), max_size=4), any_value), 10)) for n in chosen}
    if rarely(draw, 10):  # a product far beyond the bound
        for n in NUMERIC[:8]:
            table[n] = [SPEC[n]["lo"] + (SPEC[n]["hi"] - SPEC[n]["lo"]) * j / 9 for j in range(10)]
    if rarely(draw, 20):
        table = draw(mostly(st.just({}), any_value, 2))
    return table


@st.composite
def sweep_docs(draw):
    doc = {"name": draw(names), "description": draw(mostly(st.text(min_size=1, max_size=30), any_value)),
           "scenario": draw(mostly(st.sampled_from(["baseline", "no-cascade", str(SCENARIO_DIR / "baseline.toml")]),
                                   st.one_of(st.sampled_from(["nowhere", "../x", "", "/etc/hostname", "x" * 5000]),
                                             any_value))),
           "replicates": draw(mostly(st.integers(1, 100), st.one_of(st.sampled_from([-1, 0, 10**6, 10**6 + 1, 10**9]),
                                                                    any_value))),
           "seed": draw(mostly(st.integers(0, 2**63 - 1), st.one_of(st.sampled_from([-1, 2**63, 2**64]), any_value)))}
    which = draw(mostly(st.sampled_from(["axes", "design"]), st.sampled_from(["both", "neither"]), 10))
    if which in ("axes", "both"):
        doc["axes"] = draw(mostly(axes_tables(), any_value, 10))
    if which in ("design", "both"):
        design = {"method": draw(mostly(st.sampled_from(["lhs", "sobol", "grid"]), st.one_of(st.just("random"),
                                                                                             any_value))),
                  "points": draw(mostly(st.integers(1, 300), st.one_of(
                      st.sampled_from([-1, 0, MAX_POINTS + 1, 10**6, 2**64]), any_value))),
                  "bounds": draw(mostly(bounds_tables(), any_value, 10)),
                  "seed": draw(mostly(st.integers(0, 2**63 - 1), st.one_of(st.just(-1), any_value)))}
        drop = draw(st.sampled_from(list(design))) if rarely(draw, 10) else "seed" if rarely(draw, 2) else None
        doc["design"] = {k: v for k, v in design.items() if k != drop}
    if rarely(draw, 10):
        del doc[draw(st.sampled_from(list(doc)))]  # a missing key
    if rarely(draw, 10):
        doc[draw(st.text(max_size=10))] = draw(any_value)
    return doc


@settings(PROFILE)
@given(sweep_docs())
def test_a_sweep_file_parses_or_gives_one_scenario_error(doc):
    text = toml_document(doc)
    try:
        sweep = parse_sweep(text, "sweep.toml", WORLD)
    except ScenarioError as err:
        assert_one_clear_error(err, "sweep.toml")
        event(f"ScenarioError on {(err.key or 'the file').split('.')[0]}")
        return
    event(f"parsed ({sweep.method})")
    assert is_safe_name(sweep.name) and 1 <= len(sweep.points) <= MAX_POINTS
    assert len(sweep.point_seeds) == len(sweep.points) and len(sweep.points) * sweep.replicates <= 10**9
    for point in (sweep.points[0], sweep.points[-1]):
        assert set(point) == set(sweep.parameters)
        sweep.scenario.params.replace(**point)  # a valid Params, or ParamsError fails the test


# ----------------------------------------------------------------------------------------------- (c) data files

FILES = ("provinces.csv", "roads.csv", "events.csv", "district_control.csv", "province_covariates.csv")


def _read(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


SHIPPED = {name: _read(DATA_DIR / name) for name in FILES}
COLUMN_VALUES = sorted({v for rows in SHIPPED.values() for row in rows[1:] for v in row if len(v) < 40})

field_values = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1", "0", "0.0", "1e308", "9" * 30, "", " ", "1_000",
                     "١٠", "yes", "no", "maybe", "2021-08-15", "2021-02-30", "20210815", "2022-01-01", "Kabul", "Atlantis",
                     "ghazni-qalat", "withdrawal_progress", "mission_end", "bagram_handover", "contractors", "\x00",
                     "a,b", 'q"uote', "\n", " Kabul "]),
    st.sampled_from(COLUMN_VALUES),  # a value of another row or column: the realistic wrong edit
    st.integers(-10**6, 10**7).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates(dt.date(2021, 3, 1), dt.date(2021, 11, 1)).map(dt.date.isoformat),
    st.text(max_size=12))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("edited-data")


@pytest.mark.slow
@settings(PROFILE)
@given(data=st.data())
def test_an_edited_data_file_runs_or_gives_one_data_error(scratch, data):
    name = data.draw(st.sampled_from(FILES), label="file")
    rows = [list(r) for r in SHIPPED[name]]
    # Ranges that do not depend on earlier draws (so that Hypothesis's mutations stay valid); line 1 is the header.
    line = 1 + data.draw(st.integers(0, 40), label="line") % len(rows)
    column = data.draw(st.integers(0, 30), label="column") % len(rows[line - 1])
    rows[line - 1][column] = data.draw(field_values, label="value")
    start = data.draw(st.sampled_from([dt.date(2021, 5, 1), dt.date(2021, 8, 12)]), label="start")
    d = Path(tempfile.mkdtemp(dir=scratch))
    try:
        shutil.copytree(DATA_DIR, d, dirs_exist_ok=True)
        with (d / name).open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)
        try:
            world = build_world(load_record(d))
        except DataError as err:  # an inconsistency may be reported in the other file of the pair
            text = str(err)
            assert Path(err.path).parent == d and Path(err.path).name in FILES and text.startswith(err.path), text
            assert "\n" not in text, text
            event("DataError")
            return
        event("loaded and ran")
        r = run_ensemble(Params(), 2, 1, start, dt.date(2021, 9, 30), world)
        assert r.n_runs == 2 and np.isfinite(r.district_share).all()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_writers_round_trip():
    """The generators' TOML and CSV writers produce what they mean: the shipped data and a tricky string."""
    import tomllib

    s = "a\"b\\c\x00\x7fé\n"
    assert tomllib.loads(toml_document({"k": s, "n": math.inf, "t": {"x": [1, 2.5]}})) == {
        "k": s, "n": math.inf, "t": {"x": [1, 2.5]}}
    assert sorted(EVENT_KINDS) == sorted({r[1] for r in SHIPPED["events.csv"][1:]})
