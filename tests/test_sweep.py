"""Sweeps: fixed ids and seeds, the same results on any executor (Dask included), resumable after SIGKILL,
failing points recorded, strict sweep files."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import REPO
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


def test_sensitivity_command_gives_indices_for_every_parameter_and_output(tmp_path):
    import pandas as pd

    out = tmp_path / "sens"
    r = subprocess.run([sys.executable, str(REPO / "run.py"), "sensitivity", "baseline", "--params",
                        "target_north_weight,rural_rate,cascade_neighbour", "--n", "8", "--replicates", "10",
                        "--workers", "1", "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "indices.csv")
    assert set(table["output"]) == {"kabul_fall_day", "tau_b", "fallen_by_aug15"}
    assert set(table["parameter"]) == {"target_north_weight", "rural_rate", "cascade_neighbour"}
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(table.columns) and table["ST"].notna().all()
    assert (out / "indices.png").exists() and "the ten largest by ST" in r.stdout
    r = subprocess.run([sys.executable, str(REPO / "run.py"), "sensitivity", "baseline", "--params", "nonsense",
                        "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "are not numeric model parameters" in r.stderr


def test_calibration_resumes_and_writes_a_runnable_scenario(tmp_path):
    import sqlite3

    out = tmp_path / "cal"
    base = [sys.executable, str(REPO / "run.py"), "calibrate", "baseline", "--replicates", "20", "--cv", "0",
            "--fit-until", "2021-08-12", "--workers", "1", "--out", str(out), "--quiet"]
    r = subprocess.run(base + ["--trials", "3"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "held out, 21 capitals" in r.stdout and "hops from Kabul" in r.stdout and "best loss" in r.stdout
    r = subprocess.run(base + ["--trials", "5"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "study.db") as db:
        complete = db.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0]
    assert complete == 5, "the second call resumed the study instead of starting again"
    calibrated = json.loads((out / "calibration.json").read_text())
    assert set(calibrated["best_params"]) >= {"target_north_weight", "rural_rate"}
    r = subprocess.run([sys.executable, str(REPO / "run.py"), "run", str(out / "calibrated.toml"), "--runs", "20",
                        "--out", str(tmp_path / "run"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_abc_rejection_keeps_the_closest_share(tmp_path):
    out = tmp_path / "abc"
    r = subprocess.run([sys.executable, str(REPO / "run.py"), "calibrate", "baseline", "--trials", "2",
                        "--replicates", "15", "--abc", "20", "--abc-accept", "0.2", "--workers", "1", "--cv", "2",
                        "--cv-trials", "2", "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out / "abc_samples.parquet").to_pandas()
    assert len(t) == 20 and t["accepted"].sum() == 4
    assert t.loc[t["accepted"], "loss"].max() <= t.loc[~t["accepted"], "loss"].min()
    assert (out / "abc.png").exists() and "ABC: 4 of 20 prior samples accepted" in r.stdout
    assert "cross-validation (2 folds over capitals" in r.stdout
    r = subprocess.run([sys.executable, str(REPO / "run.py"), "plot", str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "abc_marginals.png").exists() and (out / "abc_pairs.png").exists()
    assert (out / "calibration_loss.png").exists() and (out / "report.html").exists()
