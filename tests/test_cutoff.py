"""A forecast from D sees only what was reported before D (issue 11, "Data").

For several D, every observation reported on or after D is changed in a copy of the data (falls shuffled and
moved by weeks, LWJ figures scaled and moved, withdrawal reports, plans and dated covariates changed); the record
and the world as known on D, the seeded state and the forecast must come out identical, bit for bit.
"""

import csv
import dataclasses
import datetime as dt
import random
import shutil

import numpy as np
import pytest

from sim.data import DATA_DIR, WINDOW_FIRST, WINDOW_LAST, load_record
from sim.params import Params
from sim.rules import advance_day, make_drivers
from sim.seeding import InitialConditions, observed_fall_days, start_state
from sim.world import World, build_world, day_index

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
CUTOFFS = [dt.date(2021, 5, 1), dt.date(2021, 7, 1), dt.date(2021, 8, 8), dt.date(2021, 8, 12)]
FORECAST_END = dt.date(2021, 9, 6)


# ----------------------------------------------------------------------------------------------- altered copies


def _read(path):
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def _write(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows([[r[c] for c in header] for r in rows])


def _d(text):
    return dt.date.fromisoformat(text) if text else None


def _later(on, rng, lo=0, hi=20):
    """A report day on or after the cutoff: never known on its morning."""
    return (on + dt.timedelta(days=rng.randint(lo, hi))).isoformat()


def _alter(dst, on, seed=0):
    """Change, in the data copy `dst`, every observation reported on or after `on`, keeping the files valid."""
    rng = random.Random(f"{on}-{seed}")
    last_fall = WINDOW_LAST - 4 * WEEK

    # provinces.csv: the unreported falls shuffled among their capitals, moved by weeks, one of them removed.
    header, rows = _read(dst / "provinces.csv")
    hidden = [r for r in rows if _d(r["reported_on"]) >= on]
    days = [_d(r["fell_on"]) for r in hidden]
    rng.shuffle(days)
    for r, day in zip(hidden, days):
        day = min(max(day + rng.choice([-3, -2, -1, 1, 2, 3]) * WEEK, WINDOW_FIRST), last_fall)
        r.update(fell_on=day.isoformat(), reported_on=_later(max(day, on), rng, 0, 3),
                 fell_how=rng.choice(["fighting", "negotiated", "surrender", "unknown"]),
                 date_confidence=rng.choice(["high", "pm1", "low"]), source=f"altered {rng.random()}",
                 reported_confidence=rng.choice(["high", "medium", "low"]), reported_source="altered")
    if hidden:
        hidden[0].update(fell_on="", reported_on="", reported_confidence="", reported_source="")
    _write(dst / "provinces.csv", header, rows)

    # district_control.csv: the unpublished LWJ figures scaled, moved by weeks and republished later.
    header, rows = _read(dst / "district_control.csv")
    taken = {r["as_of"] for r in rows}
    for r in rows:
        if _d(r["reported_on"]) < on:
            continue
        day = _d(r["as_of"]) + rng.choice([-2, -1, 1, 2]) * WEEK
        if day.isoformat() not in taken and day >= dt.date(2021, 4, 1):
            taken.discard(r["as_of"])
            taken.add(day.isoformat())
            r["as_of"] = day.isoformat()
        r.update(taliban=str(min(500, round(int(r["taliban"]) * rng.uniform(0.5, 1.6)))),
                 contested=str(rng.randint(50, 150)), government="", total="",
                 reported_on=_later(max(_d(r["as_of"]), on), rng, 0, 10), source="altered", reported_source="altered")
    _write(dst / "district_control.csv", header, rows)

    # events.csv: later reports of progress and contractors, the Bagram handover, the mission's end and the
    # 8 July end date, each changed in value and moved by weeks (still a valid timeline).
    header, rows = _read(dst / "events.csv")
    known = [r for r in rows if _d(r["reported_on"]) < on]
    hidden = [r for r in rows if _d(r["reported_on"]) >= on]
    taken = {(r["kind"], r["on"]) for r in known}
    known_progress = max(float(r["value"]) for r in known if r["kind"] == "withdrawal_progress")
    progress = sorted(rng.uniform(known_progress, 1.0) for r in hidden if r["kind"] == "withdrawal_progress")
    bagram = None
    for r in sorted(hidden, key=lambda r: r["on"]):
        day = _d(r["on"])
        if r["kind"] == "withdrawal_progress":
            day = max(day + rng.choice([1, 2, 3]) * WEEK, on)
            r["value"] = f"{progress.pop(0):.3f}"
        elif r["kind"] == "contractors":
            day = max(day + rng.choice([-1, 1, 2]) * WEEK, on)
            r["value"] = str(rng.randint(1000, 15000))
        elif r["kind"] == "bagram_handover":
            day = bagram = day + rng.choice([1, 2, 3]) * WEEK
        elif r["kind"] == "mission_end":
            day = max(day + rng.choice([1, 2]) * WEEK, bagram or day)
        elif r["planned_end"]:
            r["planned_end"] = (_d(r["planned_end"]) + rng.choice([-2, -1, 1]) * WEEK).isoformat()
            day = max(day + WEEK, on)
        else:
            day = max(day + rng.choice([-1, 1]) * WEEK, on)
        day = min(day, WINDOW_LAST - DAY)
        while (r["kind"], day.isoformat()) in taken:
            day += DAY
        taken.add((r["kind"], day.isoformat()))
        r.update(on=day.isoformat(), reported_on=_later(day, rng, 0, 1), description=f"altered {rng.random()}",
                 source="altered", reported_source="altered", reported_confidence=rng.choice(["high", "low"]))
        if r["planned_end"]:
            r["planned_end"] = max(_d(r["planned_end"]), _d(r["reported_on"])).isoformat()
    _write(dst / "events.csv", header, rows)

    # province_covariates.csv: every dated covariate reported on or after the cutoff shuffled, moved or scaled.
    header, rows = _read(dst / "province_covariates.csv")
    hidden = [r for r in rows if _d(r["surrounded_feb_2021_reported_on"]) >= on]
    flags = [r["surrounded_feb_2021"] for r in hidden]
    rng.shuffle(flags)
    for r, flag in zip(hidden, flags):
        r.update(surrounded_feb_2021="yes" if flag == "no" else "no",
                 surrounded_feb_2021_reported_on=_later(on, rng, 0, 30))
    for value, reported in (("first_crossing_taken_on", "first_crossing_reported_on"),
                            ("capital_attacked_before_aug", "capital_attacked_reported_on")):
        for r in rows:
            if r[value] and _d(r[reported]) < on:
                continue
            if r[value] or rng.random() < 0.3:  # move a later one, or add one reported after the cutoff
                day = (_d(r[value]) or on) + rng.choice([-2, -1, 1]) * WEEK
                day = min(max(day, WINDOW_FIRST), dt.date(2021, 8, 31))
                r[value], r[reported] = day.isoformat(), _later(max(day, on), rng, 0, 3)
    for count, reported in (("districts_taliban_jun15", "districts_taliban_jun15_reported_on"),
                            ("districts_taliban_jul15", "districts_taliban_jul15_reported_on")):
        for r in rows:
            if _d(r[reported]) >= on:
                r[count] = str(rng.randint(0, int(r["districts_csvmap"])))
                r[reported] = _later(_d(r[reported]), rng, 0, 5)
    _write(dst / "province_covariates.csv", header, rows)


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """For each cutoff, the shipped data and an altered copy (each in its own folder)."""
    out = {}
    for on in CUTOFFS:
        real = tmp_path_factory.mktemp(f"real-{on}")
        alt = tmp_path_factory.mktemp(f"alt-{on}")
        shutil.copytree(DATA_DIR, real, dirs_exist_ok=True)
        shutil.copytree(DATA_DIR, alt, dirs_exist_ok=True)
        _alter(alt, on)
        out[on] = (load_record(real), load_record(alt))
    return out


def _without_folder(record):
    return dataclasses.replace(record, data_dir="")


def _assert_same_world(a: World, b: World):
    for f in dataclasses.fields(World):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "record":
            assert _without_folder(x) == _without_folder(y)
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name
        else:
            assert x == y, f.name


def _assert_same_state(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f.name


# ----------------------------------------------------------------------------------------------- the record and world


@pytest.mark.parametrize("on", CUTOFFS)
def test_the_alteration_is_real(copies, on):
    """The altered copy loads and differs from the record in what was reported on or after the cutoff."""
    real, alt = copies[on]
    hidden_falls = [p.name for p in real.provinces if p.reported_on >= on]
    assert [p for p in alt.provinces if p.name in hidden_falls] != [p for p in real.provinces if p.name in hidden_falls]
    assert alt.events != real.events and alt.covariates != real.covariates
    if any(o.reported_on >= on for o in real.district_series):
        assert alt.district_series != real.district_series
    # The full-record worlds differ: a run that read the record past its start would see the change.
    full_real, full_alt = build_world(real), build_world(alt)
    assert not np.array_equal(full_real.withdrawal_progress, full_alt.withdrawal_progress)
    assert not np.array_equal(full_real.us_air_phase, full_alt.us_air_phase)


@pytest.mark.parametrize("on", CUTOFFS)
def test_the_record_and_world_known_on_d_ignore_everything_reported_later(copies, on):
    real, alt = copies[on]
    known_real, known_alt = real.known_on(on), alt.known_on(on)
    assert known_real.cutoff == on
    assert _without_folder(known_real) == _without_folder(known_alt)
    _assert_same_world(build_world(known_real), build_world(known_alt))
    _assert_same_world(build_world(real).known_on(on), build_world(alt).known_on(on))


@pytest.mark.parametrize("on", CUTOFFS)
def test_the_record_known_on_d_keeps_what_was_reported_before(copies, on):
    """Not a cutoff that hides everything: a change to a row reported before D shows."""
    real, _ = copies[on]
    latest = max((e for e in real.events if e.reported_on < on), key=lambda e: e.reported_on)
    changed = dataclasses.replace(real, events=tuple(dataclasses.replace(e, description="changed") if e is latest else e
                                                     for e in real.events))
    assert changed.known_on(on) != real.known_on(on)
    known = real.known_on(on)
    assert {p.name for p in known.provinces if p.fell_on} == {p.name for p in real.provinces if p.reported_on < on}
    assert [o.as_of for o in known.district_series] == [o.as_of for o in real.district_series if o.reported_on < on]


@pytest.mark.parametrize("on", CUTOFFS)
def test_nothing_reported_on_or_after_d_is_left(copies, on):
    known = copies[on][0].known_on(on)
    rows = known.provinces + known.events + known.district_series + known.covariates
    for row in rows:
        for f in dataclasses.fields(row):
            if f.name.endswith("reported_on") and getattr(row, f.name) is not None:
                assert getattr(row, f.name) < on, (row, f.name)


def test_the_1_may_world_does_not_see_the_dia_list_published_on_18_may(world):
    """The DIA's February list of surrounded capitals came out with the Lead IG report of 18 May 2021."""
    assert world.surrounded_feb_2021.sum() == 5  # the full record (scoring, and runs not yet cut off)
    for on in (dt.date(2021, 5, 1), dt.date(2021, 5, 18)):
        assert not world.known_on(on).surrounded_feb_2021.any()
        assert not make_drivers(world.known_on(on), Params()).control0.max() > Params().initial_control_share
    assert world.known_on(dt.date(2021, 5, 19)).surrounded_feb_2021.sum() == 5


def test_the_withdrawal_timeline_as_announced(world):
    """From 1 May: Biden's plan (all out by 11 September), contractors leaving with the troops; from 9 July the
    31 August end; reports replace the plan as they come."""
    may = world.known_on(dt.date(2021, 5, 1))
    sep11, aug31 = day_index(dt.date(2021, 9, 11)), day_index(dt.date(2021, 8, 31))
    assert may.withdrawal_progress[0] == 0 and may.withdrawal_progress[sep11] == 1.0
    assert np.allclose(np.diff(may.withdrawal_progress[:sep11 + 1]), 1 / sep11)  # linear to the planned end
    assert may.contractor_share[sep11] == 0 and np.all(np.diff(may.contractor_share[:sep11 + 1]) < 0)
    assert (may.us_air_phase[:sep11] == 2).all() and may.us_air_phase[sep11 + 1] == 0  # Bagram not yet known
    july = world.known_on(dt.date(2021, 7, 9))  # after the 8 July speech: the end on 31 August
    assert july.withdrawal_progress[day_index(dt.date(2021, 7, 5))] == pytest.approx(0.90)
    assert july.withdrawal_progress[aug31] == 1.0 and july.us_air_phase[aug31] == 1 and july.us_air_phase[aug31 + 1] == 0
    assert july.us_air_phase[day_index(dt.date(2021, 7, 2))] == 1  # the Bagram handover was reported on 2 July
    # Once everything is reported, the timeline is the record's, but for the contractors' tail: the full record
    # holds the July census flat, the plan takes it to none at the end.
    late = world.known_on(dt.date(2021, 10, 1))
    for name in ("withdrawal_progress", "us_air_phase"):
        assert np.array_equal(getattr(late, name), getattr(world, name))
    july_census = day_index(dt.date(2021, 7, 15))
    assert np.array_equal(late.contractor_share[:july_census + 1], world.contractor_share[:july_census + 1])


def test_known_on_refuses_to_know_more_than_its_record(world):
    known = world.record.known_on(dt.date(2021, 7, 1))
    assert known.known_on(dt.date(2021, 6, 1)) == world.record.known_on(dt.date(2021, 6, 1))
    with pytest.raises(ValueError, match="cannot say what was known on the later 2021-07-02"):
        known.known_on(dt.date(2021, 7, 2))
    with pytest.raises(TypeError):
        world.record.known_on(dt.datetime(2021, 7, 1))
    assert world.known_on(dt.date(2021, 7, 1)) is world.known_on(dt.date(2021, 7, 1))  # cached


# ----------------------------------------------------------------------------------------------- seeded state, forecast

SEEDED = [dt.date(2021, 7, 1), dt.date(2021, 8, 8), dt.date(2021, 8, 12)]
INITIAL_12_AUG = InitialConditions(fallen=("Ghazni",), besieged=("Kandahar", "Helmand", "Herat", "Balkh"),
                                   prisoners_freed=170)


def _start(world, on, initial=None):
    p = Params()
    return start_state(world, p, make_drivers(world, p), 64, day_index(on), initial, np.random.default_rng(11))


@pytest.mark.parametrize("on", SEEDED)
def test_the_seeded_state_from_the_world_known_on_d_ignores_later_reports(copies, on):
    """sim/seeding.py reads the record of the world it is given: given the world as known on D, it sees nothing
    reported later (so the entry points only have to hand it that world)."""
    real, alt = copies[on]
    a, b = build_world(real).known_on(on), build_world(alt).known_on(on)
    assert np.array_equal(observed_fall_days(a), observed_fall_days(b))
    initial = INITIAL_12_AUG if on == dt.date(2021, 8, 12) else None
    _assert_same_state(_start(a, on, initial), _start(b, on, initial))


def _forecast(world, on):
    """A forecast to 6 September run day by day on the given world, without any entry point's own cutoff."""
    p = Params()
    drivers = make_drivers(world, p)
    rng = np.random.default_rng(5)
    s = start_state(world, p, drivers, 32, day_index(on), None, rng)
    for day in range(day_index(on), day_index(FORECAST_END) + 1):
        advance_day(s, world, p, drivers, day, rng)
    return s


@pytest.mark.parametrize("on", SEEDED)
def test_a_forecast_on_the_world_known_on_d_ignores_later_reports(copies, on):
    real, alt = copies[on]
    _assert_same_state(_forecast(build_world(real).known_on(on), on), _forecast(build_world(alt).known_on(on), on))
    # ... while the same forecast on the full record would see the change (what the entry points must avoid).
    a, b = _forecast(build_world(real), on), _forecast(build_world(alt), on)
    assert any(not np.array_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))



@pytest.mark.parametrize("on", SEEDED)
def test_a_forecast_scenario_from_d_ignores_later_reports(copies, on):
    """The entry point: a scenario that is not in hindsight runs on the world as known on its start."""
    from sim.experiment import run_scenario
    from sim.scenario import load_scenario

    real, alt = copies[on]
    sc = load_scenario("forecast", build_world(real)).replace(start=on, end=FORECAST_END, replicates=40, seed=3)
    a, b = (run_scenario(sc, build_world(rec)) for rec in (real, alt))
    for name in ("fall_day", "fall_how", "held_count", "district_share"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    hindsight = [run_scenario(sc.replace(hindsight=True), build_world(rec)) for rec in (real, alt)]
    assert not np.array_equal(hindsight[0].district_share, hindsight[1].district_share) or not np.array_equal(
        hindsight[0].fall_day, hindsight[1].fall_day), "in hindsight the later reports are inputs"


@pytest.mark.parametrize("on", [dt.date(2021, 8, 8)])
def test_the_mesa_model_from_d_ignores_later_reports(copies, on):
    from sim.model import TerritoryModel

    real, alt = copies[on]
    a, b = (TerritoryModel(Params(), seed=9, start=on, end=FORECAST_END, world=build_world(rec).known_on(on))
            for rec in (real, alt))
    a.run(), b.run()
    _assert_same_state(a.state, b.state)


@pytest.mark.slow
@pytest.mark.parametrize("on", [dt.date(2021, 7, 1), dt.date(2021, 8, 8), dt.date(2021, 8, 12)])
def test_calibration_and_forecast_from_d_ignore_later_reports(tmp_path, on):
    """The validation's path for one cut-off: calibrated on what was known by the end of the day before D (trials
    run in 'workers' that read the data folder), then a forecast from D with the best point. Real and altered
    data give the same trials, the same best point and the same forecast, bit for bit."""
    from sim import calibrate as cal
    from sim.executors import InlineExecutor
    from sim.scenario import load_scenario
    from sim.validate import forecast

    outcomes = []
    for label, alter in (("real", False), ("alt", True)):
        d = tmp_path / label / "data"
        shutil.copytree(DATA_DIR, d)
        if alter:
            _alter(d, on)
        world = build_world(load_record(d))
        sc = load_scenario("forecast", world)
        target = cal.target_until(world, on - DAY)
        study = cal.calibrate(sc, world, tmp_path / label, InlineExecutor(), 4, 12, 5, target, progress=False,
                              data_dir=str(d))
        r = forecast(sc, sc.params.replace(**study.best_params), on, 30, 3, world.known_on(on))
        outcomes.append((target, [(t.params, t.value) for t in study.trials], r))
    (ta, trials_a, ra), (tb, trials_b, rb) = outcomes
    assert np.array_equal(ta.fit, tb.fit) and (ta.held_through, ta.known_on) == (tb.held_through, tb.known_on)
    assert trials_a == trials_b
    for name in ("fall_day", "fall_how", "district_share"):
        assert np.array_equal(getattr(ra, name), getattr(rb, name)), name
