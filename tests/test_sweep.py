"""Sweeps: fixed ids and seeds, the same results on any executor (Dask included), resumable after SIGKILL,
failing points recorded, strict sweep files."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_in_process
from sim.scenario import ScenarioError
from sim.store import RUNS, FALLS
from sim.sweep import InlineExecutor, make_executor, parse_sweep, run_sweep

SMALL = """
name = "small"
description = "A small test sweep."
scenario = "baseline"
replicates = {replicates}
seed = 5
[design]
method = "lhs"
points = {points}
seed = 3
[design.bounds]
target_north_weight = [0.0, 2.0]
cascade_neighbour = [0.03, 0.15]
"""


def small(world, points=6, replicates=30):
    return parse_sweep(SMALL.format(points=points, replicates=replicates), "small.toml", world)


def table(out, name=RUNS):
    return pq.read_table(out / name).sort_by("run_id" if name == RUNS else [("run_id", "ascending"),
                                                                           ("province", "ascending")])


def test_points_and_seeds_are_fixed_before_running(world):
    a, b = small(world), small(world)
    assert a.points == b.points and a.point_seeds == b.point_seeds and len(set(a.point_seeds)) == 6
    assert all(0 <= p["target_north_weight"] <= 2 for p in a.points)


@pytest.mark.slow
def test_same_results_inline_process_pool_and_dask(tmp_path, world):
    sweep = small(world)
    outs = {}
    for label, (workers, scheduler) in {"inline": (1, None), "pool": (2, None), "dask": (2, "local")}.items():
        ex, close = make_executor(workers, scheduler)
        try:
            run_sweep(sweep, tmp_path / label, ex, progress=False)
        finally:
            close()
        outs[label] = tmp_path / label
    ref = table(outs["inline"])
    assert ref.num_rows == 6 * 30 and len(set(ref.column("run_id").to_pylist())) == 180
    for label in ("pool", "dask"):
        assert table(outs[label]).equals(ref), label
        assert table(outs[label], FALLS).equals(table(outs["inline"], FALLS)), label


def test_a_failing_point_is_recorded_and_the_sweep_goes_on(tmp_path, world):
    from sim.sweep import run_point

    def flaky(task):
        if task[0] == 2:
            raise RuntimeError("boom")
        return run_point(task)

    out = tmp_path / "s"
    outcome = run_sweep(small(world), out, InlineExecutor(), progress=False, point_fn=flaky)
    assert outcome.failed == {2: "RuntimeError: boom"} and outcome.n_run == 5
    assert json.loads((out / "failed.json").read_text()) == {"2": "RuntimeError: boom"}
    assert sorted(set(table(out).column("point_id").to_pylist())) == [0, 1, 3, 4, 5]
    again = run_sweep(small(world), out, InlineExecutor(), progress=False)  # the restart retries it
    assert again.n_skipped == 5 and again.n_run == 1 and not (out / "failed.json").exists()
    assert table(out).num_rows == 6 * 30


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_every_run_exactly_once(tmp_path, world):
    spec = tmp_path / "killme.toml"
    spec.write_text(SMALL.format(points=40, replicates=60).replace('name = "small"', 'name = "killme"'))
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "run.py"), "sweep", str(spec), "--workers", "1", "--out", str(out),
           "--flush-seconds", "0", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        parts = list((out / RUNS).glob("part-*.parquet")) if (out / RUNS).exists() else []
        if len(parts) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = pq.read_table(out / RUNS).num_rows
    assert 0 < stored < 40 * 60, "killed part way"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "already stored" in r.stdout
    runs = pq.read_table(out / RUNS)
    ids = runs.column("run_id").to_numpy()
    assert len(ids) == 40 * 60 and len(np.unique(ids)) == 40 * 60
    falls = pq.read_table(out / FALLS, columns=["run_id", "province"]).to_pandas()
    assert len(falls) == 40 * 60 * 34 and not falls.duplicated().any()


@pytest.mark.parametrize("edit, key, message", [
    (lambda t: "colour = 1\n" + t, "colour", "unknown key; allowed: name, description, scenario"),
    (lambda t: t.replace('method = "lhs"', 'method = "random"'), "design.method", "'random' is not a design; allowed: lhs, sobol, grid"),
    (lambda t: t.replace("cascade_neighbour = [0.03, 0.15]", "cascade_neighbour = [0.03, 0.9]"), "design.bounds.cascade_neighbour", "out of bounds"),
    (lambda t: t.replace("cascade_neighbour = [0.03, 0.15]", "cascade_neighbor = [0.03, 0.15]"), "design.bounds.cascade_neighbor", "not a model parameter"),
    (lambda t: t + "[axes]\nrural_rate = [0.1]\n", "axes", "give either [axes]"),
    (lambda t: t.replace('scenario = "baseline"', 'scenario = "nowhere"'), None, "no such scenario file"),
])
def test_bad_sweep_files(world, edit, key, message):
    with pytest.raises(ScenarioError) as err:
        parse_sweep(edit(SMALL.format(points=4, replicates=10)), "s.toml", world)
    assert message in str(err.value) and (key is None or f"key '{key}'" in str(err.value)), str(err.value)


def test_shipped_sweeps_parse(world):
    from sim.sweep import SWEEP_DIR, load_sweep

    files = sorted(SWEEP_DIR.glob("*.toml"))
    assert files
    sizes = {f.stem: len(load_sweep(str(f), world).points) for f in files}
    assert sizes["lhs-1000"] == 1000 and sizes["north-and-cascade"] == 25


@pytest.mark.slow
def test_sensitivity_command_gives_indices_for_every_parameter_and_output(tmp_path):
    import pandas as pd

    out = tmp_path / "sens"
    r = run_in_process("sensitivity", "baseline", "--params", "target_north_weight,rural_rate,cascade_neighbour",
                       "--n", "8", "--replicates", "10", "--workers", "1", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "indices.csv")
    assert set(table["output"]) == {"kabul_fall_day", "tau_b", "fallen_by_aug15"}
    assert set(table["parameter"]) == {"target_north_weight", "rural_rate", "cascade_neighbour"}
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(table.columns) and table["ST"].notna().all()
    assert (out / "indices.png").exists() and "the ten largest by ST" in r.stdout
    r = run_in_process("sensitivity", "baseline", "--params", "nonsense", "--quiet")
    assert r.returncode == 2 and "are not numeric model parameters" in r.stderr


@pytest.mark.slow
def test_calibration_resumes_and_writes_a_runnable_scenario(tmp_path):
    import sqlite3

    out = tmp_path / "cal"
    base = ["calibrate", "baseline", "--replicates", "20", "--cv", "0",
            "--fit-until", "2021-08-12", "--workers", "1", "--out", str(out), "--quiet"]
    r = run_in_process(*base, "--trials", "3")
    assert r.returncode == 0, r.stderr
    assert "held out, 21 capitals" in r.stdout and "hops from Kabul" in r.stdout and "best loss" in r.stdout
    r = run_in_process(*base, "--trials", "5")
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "study.db") as db:
        complete = db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    assert complete == 5, "the second call resumed the study instead of starting again"
    calibrated = json.loads((out / "calibration.json").read_text())
    assert set(calibrated["best_params"]) >= {"target_north_weight", "rural_rate"}
    r = run_in_process("run", out / "calibrated.toml", "--runs", "20", "--out", tmp_path / "run", "--quiet")
    assert r.returncode == 0, r.stderr


@pytest.mark.slow
def test_abc_rejection_keeps_the_closest_share(tmp_path):
    out = tmp_path / "abc"
    r = run_in_process("calibrate", "baseline", "--trials", "2", "--replicates", "15", "--abc", "20", "--abc-accept",
                       "0.2", "--workers", "1", "--cv", "2", "--cv-trials", "2", "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out / "abc_samples.parquet").to_pandas()
    assert len(t) == 20 and t["accepted"].sum() == 4
    assert t.loc[t["accepted"], "loss"].max() <= t.loc[~t["accepted"], "loss"].min()
    assert (out / "abc.png").exists() and "ABC: 4 of 20 prior samples accepted" in r.stdout
    assert "cross-validation (2 folds over the 34 fitted capitals" in r.stdout
    (out / "abc_marginals.png").write_bytes(b"an earlier version's copy of abc.png")
    r = run_in_process("plot", out)
    assert r.returncode == 0, r.stderr
    # One marginals figure (abc.png, redrawn by plot), not two alike; the pairs once each.
    assert (out / "abc.svg").exists() and not (out / "abc_marginals.png").exists() and (out / "abc_pairs.png").exists()
    assert (out / "calibration_loss.png").exists() and (out / "report.html").exists()


BOUNDS = {"target_north_weight": (-2.0, 3.0), "target_crossing_weight": (-2.0, 3.0), "cascade_neighbour": (0.0, 0.3),
          "surrender_rate": (0.0, 1.0), "encircled_share": (0.0, 1.0), "prisoner_join_share": (0.0, 1.0)}


@pytest.mark.parametrize("edit, key, message", [
    (lambda t: t.replace('name = "small"', 'name = "../../victim"'), "name", "not a safe name; allowed: 1 to 64"),
    (lambda t: t.replace('name = "small"', 'name = "."'), "name", "not a safe name"),
    (lambda t: t.replace("points = 4", "points = 1000000"), "design.points", "out of bounds: allowed 1 to 100000"),
    (lambda t: t.replace('method = "lhs"', 'method = "grid"').replace("points = 4", "points = 100000")
     + "".join(f"{n} = [{lo}, {hi}]\n" for n, (lo, hi) in BOUNDS.items() if n not in t),
     "design.points", "a grid of 7 values on each of 6 parameters is 117,649 points; allowed: at most 100,000"),
    (lambda t: t.replace("points = 4", "points = 2000").replace("replicates = 10", "replicates = 1000000"),
     "design.points", "2,000 points x 1,000,000 replicates (key 'replicates') = 2,000,000,000 runs; allowed: at most"),
    (lambda t: t.replace('method = "lhs"', "method = ['lhs']"), "design.method", "['lhs'] is not a design"),
    (lambda t: t.replace("seed = 5", "seed = -1"), "seed", "out of bounds: allowed 0 to 9223372036854775807"),
    (lambda t: t + "x = " + "[" * 1000 + "]" * 1000 + "\n", None, "nested too deeply"),
])
def test_bad_sweep_files_are_refused_before_any_work(world, edit, key, message):
    with pytest.raises(ScenarioError) as err:
        parse_sweep(edit(SMALL.format(points=4, replicates=10)), "s.toml", world)
    text = str(err.value)
    assert text.startswith("s.toml: ") and message in text and (key is None or f"key '{key}'" in text), text


AXES = """
name = "grid"
description = "An axes sweep."
scenario = "baseline"
replicates = 10
seed = 5
[axes]
"""


def test_an_axes_product_beyond_the_bound_is_refused_before_it_is_laid_out(world):
    # 10 axes of 10 values: 10^10 points, which itertools.product would have tried to list.
    axes = "".join(f"{n} = [{', '.join(str(lo + (hi - lo) * k / 9) for k in range(10))}]\n"
                   for n, (lo, hi) in BOUNDS.items())
    axes += "".join(f"{n} = [true, false]\n" for n in ("morale_cascade", "prison_breaks", "road_interdiction",
                                                        "centre_collapse"))
    with pytest.raises(ScenarioError, match=r"s.toml: key 'axes': the full grid of 10 x 10 x 10 x 10 x 10 x 10 x 2 x 2 "
                                            r"x 2 x 2 values is 16,000,000 points; allowed: at most 100,000"):
        parse_sweep(AXES + axes, "s.toml", world)
    with pytest.raises(ScenarioError, match=r"key 'axes.rural_rate': 0.1 is listed twice"):
        parse_sweep(AXES + "rural_rate = [0.1, 0.2, 0.1]\n", "s.toml", world)


def test_a_sweep_file_that_is_not_utf8_or_has_a_bom(world, tmp_path):
    from sim.sweep import load_sweep

    path = tmp_path / "s.toml"
    text = SMALL.format(points=4, replicates=10)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(load_sweep(str(path), world).points) == 4
    path.write_bytes(text.replace("A small", "A sm\xe0ll").encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"s.toml: not UTF-8 text"):
        load_sweep(str(path), world)


def test_a_100000_point_design_parses_in_seconds_within_its_bounds(world):
    text = SMALL.format(points=100_000, replicates=10)
    t0 = time.perf_counter()
    sweep = parse_sweep(text, "s.toml", world)
    seconds = time.perf_counter() - t0
    assert len(sweep.points) == 100_000 and len(set(sweep.point_seeds)) == 100_000
    values = np.array([[p["target_north_weight"], p["cascade_neighbour"]] for p in sweep.points])
    assert (values >= [0.0, 0.03]).all() and (values <= [2.0, 0.15]).all()
    assert seconds < 30, f"{seconds:.1f} s"  # about 2 s alone on the development machine; generous when shared


def test_grid_design_stays_within_the_parameter_bounds(world):
    text = SMALL.replace('method = "lhs"', 'method = "grid"').replace("cascade_neighbour = [0.03, 0.15]",
                                                                       "cascade_neighbour = [0.1, 0.3]")
    sweep = parse_sweep(text.format(points=25, replicates=10), "s.toml", world)
    assert len(sweep.points) == 25 and max(p["cascade_neighbour"] for p in sweep.points) <= 0.3
    for p in sweep.points:
        sweep.scenario.params.replace(**p)


@pytest.mark.parametrize("names, n, message", [
    (["rural_rate", "rural_rate"], 8, "key 'params': --params: ['rural_rate'] listed more than once"),
    (["", ""], 8, "key 'params': --params: an empty name"),
    (["rural_rate", "airlift"], 8, "key 'params': --params: ['airlift'] are not numeric model parameters"),
    (["air_support"], 8, "key 'params': --params: ['air_support'] are not numeric model parameters"),
    (None, 1_000_000_000, "key 'n': --n 1,000,000,000 with {d} parameters is {points} sobol points; allowed: at"),
    (["rural_rate"], 0, "key 'n': --n 0: give a whole number of at least 1"),
])
def test_sensitivity_inputs_are_checked_before_sampling(world, names, n, message):
    from sim.scenario import load_scenario
    from sim.sensitivity import build_sweep, numeric_parameters

    d = len(numeric_parameters())  # every numeric parameter: the count grows with the model
    message = message.format(d=d, points=f"{n * (d + 2):,}")

    with pytest.raises(ScenarioError) as err:
        build_sweep(load_scenario("baseline", world), "sobol", n, 10, 1, names)
    assert message in str(err.value), str(err.value)


def test_sensitivity_point_count_is_salibs(world):
    from sim.scenario import load_scenario
    from sim.sensitivity import build_sweep

    base = load_scenario("baseline", world)
    assert len(build_sweep(base, "sobol", 8, 10, 1, ["rural_rate", "surrender_rate"])[0].points) == 8 * (2 + 2)
    assert len(build_sweep(base, "morris", 5, 10, 1, ["rural_rate", "surrender_rate"])[0].points) == 5 * (2 + 1)


class _JournalWatcher(InlineExecutor):
    """Runs inline and notes the study file's journal mode each time a trial is handed out."""

    def __init__(self, db):
        super().__init__()
        self.db, self.modes = db, []

    def submit(self, fn, *args, **kwargs):
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(self.db)) as con:
            self.modes.append(con.execute("PRAGMA journal_mode").fetchone()[0])
        return super().submit(fn, *args, **kwargs)


def test_the_study_is_written_with_a_write_ahead_log_and_left_as_one_plain_file(tmp_path, world):
    """While trials are written the study is in WAL mode (commits do not wait for the disk); afterwards it is back
    in SQLite's default journal with nothing beside it, also when the study is read again and resumed."""
    import sqlite3
    from contextlib import closing

    from sim import calibrate as cal
    from sim.scenario import load_scenario

    scenario = load_scenario("baseline", world)
    target = cal.target_until(world, dt.date(2021, 8, 12))
    for n_trials in (2, 3):  # a new study, then the same one resumed
        watcher = _JournalWatcher(tmp_path / "study.db")
        study = cal.calibrate(scenario, world, tmp_path, watcher, n_trials, 5, 7, target, progress=False)
        assert watcher.modes and set(watcher.modes) == {"wal"}
        assert cal.completed_trials(study) == n_trials and study.best_params  # still readable after the fold-back
        assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
        with closing(sqlite3.connect(tmp_path / "study.db")) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


class _Interrupting(InlineExecutor):
    """Runs inline; the trial handed out `fail_at` raises an error, the one at `stop_at` a KeyboardInterrupt."""

    def __init__(self, fail_at=None, stop_at=None):
        super().__init__()
        self.n, self.fail_at, self.stop_at = 0, fail_at, stop_at

    def submit(self, fn, *args, **kwargs):
        self.n += 1
        if self.n == self.stop_at:
            raise KeyboardInterrupt
        if self.n == self.fail_at:
            def fn(task):
                raise RuntimeError("a trial that fails")
        return super().submit(fn, *args, **kwargs)


def test_the_stored_study_holds_every_trial_told_and_a_resume_goes_on_from_it(tmp_path, world):
    """The search runs in memory and appends each told batch to study.db itself (sim/calibrate._append_trials):
    read back through Optuna's own load_study, the file holds exactly the trials of the search, failed ones
    included; a calibration stopped in the middle of a batch keeps the batches told, and the resume asks the
    prior's points not yet asked, in order, and returns what the file holds."""
    import optuna

    from sim import calibrate as cal
    from sim.scenario import load_scenario

    scenario = load_scenario("baseline", world)
    target = cal.target_until(world, dt.date(2021, 8, 12))
    fields = lambda trials: [(t.number, t.state, t.params, t.distributions, t.value, t.user_attrs,  # noqa: E731
                              t.system_attrs) for t in trials]
    stored = lambda: optuna.load_study(study_name="calibration", storage=f"sqlite:///{tmp_path / 'study.db'}")  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        cal.calibrate(scenario, world, tmp_path, _Interrupting(fail_at=4, stop_at=7), 8, 5, 7, target, batch=2,
                      progress=False)
    kept = stored().trials
    assert [t.state.name for t in kept] == ["COMPLETE"] * 3 + ["FAIL"] + ["COMPLETE"] * 2  # three batches told
    assert {"crps", "order", "held"} <= set(kept[0].user_attrs)
    assert kept[0].value == pytest.approx(cal.total_loss(kept[0].user_attrs), rel=1e-12)
    study = cal.calibrate(scenario, world, tmp_path, InlineExecutor(), 8, 5, 7, target, batch=2, progress=False)
    told = [t for t in study.trials if t.state.is_finished()]  # (the prior's points not asked wait in memory)
    assert fields(told) == fields(stored().trials)
    assert fields(told)[:6] == fields(kept)
    assert [t.number for t in told] == list(range(9)) and cal.completed_trials(study) == 8
    prior = cal.prior_sample(cal.CALIBRATED, cal.PRIOR_SAMPLES, 7)
    assert [t.params for t in told] == prior[:9]  # the failed trial used its point up; none asked twice


@pytest.mark.slow
def test_a_calibration_starts_from_the_prior_and_cross_validates_inside_the_fitted_set(tmp_path, world):
    """No tuned default is enqueued: the first trials are a Latin hypercube over the bounds; with a cut-off the
    folds lie inside the fitted capitals, and what was known held by the cut-off enters the loss."""
    import optuna

    from sim import calibrate as cal
    from sim.params import Params
    from sim.scenario import load_scenario

    scenario = load_scenario("baseline", world)
    target = cal.target_until(world, dt.date(2021, 8, 12))
    assert target.fit.sum() == 13 and target.held_through == (dt.date(2021, 8, 12) - dt.date(2021, 5, 1)).days
    study = cal.calibrate(scenario, world, tmp_path, InlineExecutor(), 3, 10, 7, target, progress=False)
    first = study.trials[0].params
    assert first == cal.prior_sample(cal.CALIBRATED, cal.PRIOR_SAMPLES, 7)[0]
    assert first != {n: getattr(Params(), n) for n in cal.CALIBRATED}
    assert {"crps", "order", "districts", "held"} <= set(study.best_trial.user_attrs)
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 3
    folds = cal.folds_by_fall_date(world, np.flatnonzero(target.fit), 3, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == np.flatnonzero(target.fit).tolist()
    days = cal.observed_fall_days(world)
    assert all(days[f].min() <= days[np.flatnonzero(target.fit)].min() + 2 for f in folds)  # each spans the campaign
    cv = cal.cross_validate(scenario, world, tmp_path, InlineExecutor(), 3, 2, 10, 7, 1, False, target=target)
    assert cv["capitals"] == 13 and -1 <= cv["out_of_fold_tau_b_median_dates"] <= 1
    held_out = target.without(folds[0])
    assert not held_out.fit[folds[0]].any() and set(held_out.exclude) == set(folds[0].tolist())
