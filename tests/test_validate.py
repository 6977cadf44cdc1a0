"""`run.py validate`: the rolling-origin protocol runs, scores every cut-off against the nulls with intervals,
pools them, resumes after a kill, and refuses to mix two protocols in one folder."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO
from sim import folders
from sim import validate as val
from sim.executors import InlineExecutor
from sim.scenario import load_scenario

CUTOFFS = (dt.date(2021, 7, 1), dt.date(2021, 8, 8), dt.date(2021, 8, 12))  # before and after the first fall


def small(world, cutoffs=CUTOFFS, **kw):
    args = dict(trials=3, replicates=10, runs=40, seed=11, bootstrap=400)
    args.update(kw)
    return val.Protocol(load_scenario("forecast", world), cutoffs, **args)


@pytest.fixture(scope="module")
def done(tmp_path_factory, world):
    out = tmp_path_factory.mktemp("val") / "v"
    protocol = small(world)
    with folders.writer_lock(out):
        val.prepare_folder(out, protocol, world)
        summary = val.run_validation(protocol, world, out, InlineExecutor(), 1, progress=False)
    return out, protocol, summary


@pytest.mark.slow
def test_every_cutoff_is_scored_against_every_null_with_intervals(done, world):
    out, protocol, summary = done
    assert [r["cutoff"] for r in summary["cutoffs"]] == ["2021-07-01", "2021-08-08", "2021-08-12"]
    assert summary["cutoffs"][0]["fitted_capitals"] == 0  # nothing had fallen: districts and 'held' only
    first = summary["cutoffs"][1]
    assert first["fitted_capitals"] == 2  # Zaranj and Sheberghan fell, and were reported, before 8 August
    for variant in val.VARIANTS:
        card = first["variants"][variant]["seed_a"]
        assert card["n_capitals"] == 32 and len(card["capitals"]) == 32
        for score in ("tau_b", "mae", "crps"):
            assert set(card["paired"][score]) == set(val.SHORT)
            for res in card["paired"][score].values():
                assert res["lo"] <= res["point"] <= res["hi"] or np.isnan(res["point"])
                assert res["n_resamples"] == protocol.bootstrap
        assert {"curve", "kabul", "manner", "discordant_pairs"} <= set(card)
        assert "tau_b_median_dates" in first["variants"][variant]["seed_b"]
    # The calibrated point is a fitted set: it differs from the prior defaults.
    assert first["best_params"] != {n: getattr(protocol.scenario.params, n) for n in first["best_params"]}
    pooled = summary["pooled"]["calibrated"]["tau_b"]["hops from Kabul"]
    parts = [r["variants"]["calibrated"]["seed_a"]["paired"]["tau_b"]["hops from Kabul"] for r in summary["cutoffs"]]
    assert pooled["point"] == pytest.approx(np.mean([p["point"] for p in parts]))
    table = val.format_tables(summary)
    assert "pooled" in table and "2021-08-12" in table and "great-circle" in table and "cannot tell" in table
    csv = (out / "validation.csv").read_text()
    # header; cut-offs x variants x scores (tau-b, MAE, CRPS, MAE with observed timing) x nulls; pooled: 3 scores
    assert csv.count("\n") == 1 + 3 * 2 * 4 * 3 + 2 * 3 * 3
    assert (out / "cutoffs" / "2021-08-08.npz").exists()


@pytest.mark.slow
def test_a_finished_cutoff_is_read_not_run_again(done, world, monkeypatch):
    out, protocol, summary = done

    def forbidden(*a, **k):
        raise AssertionError("a finished cut-off must not run again")

    monkeypatch.setattr(val, "run_cutoff", forbidden)
    again = val.run_validation(protocol, world, out, InlineExecutor(), 1, progress=False)
    assert json.dumps(again["cutoffs"], sort_keys=True) == json.dumps(summary["cutoffs"], sort_keys=True)


@pytest.mark.slow
def test_another_protocol_in_the_same_folder_is_refused(done, world):
    out, protocol, _ = done
    with pytest.raises(folders.FolderError, match="holds a validation with another trials"):
        val.prepare_folder(out, small(world, trials=4), world)


@pytest.mark.slow
def test_the_in_sample_scorecard_has_its_cross_validation(tmp_path, world):
    out = tmp_path / "v0"
    protocol = small(world, cutoffs=(), cv_folds=2)
    with folders.writer_lock(out):
        val.prepare_folder(out, protocol, world)
        summary = val.run_validation(protocol, world, out, InlineExecutor(), 1, progress=False)
    rec = summary["in_sample"]
    assert rec["variants"]["calibrated"]["seed_a"]["n_capitals"] == 34
    cv = rec["cross_validation"]
    assert cv["folds"] == 2 and cv["capitals"] == 34 and set(cv["paired"]["tau_b"]) == set(val.SHORT)
    assert "out of fold (2 folds by fall date)" in val.format_tables(summary)


@pytest.mark.slow
def test_the_command_resumes_after_a_kill(tmp_path):
    out = tmp_path / "v"
    cmd = [sys.executable, str(REPO / "run.py"), "validate", "--cutoffs", "2021-08-06,2021-08-10,2021-08-14",
           "--trials", "4", "--replicates", "20", "--runs", "60", "--bootstrap", "300", "--workers", "1",
           "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "cutoffs" / "2021-08-06.json"
    deadline = time.time() + 240
    while time.time() < deadline and not first.exists():
        time.sleep(0.2)
    assert first.exists(), "the first cut-off did not finish"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stamp = first.stat().st_mtime_ns
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert first.stat().st_mtime_ns == stamp  # read, not recomputed
    assert "pooled" in r.stdout and "2021-08-14" in r.stdout
    assert json.loads((out / "validation.json").read_text())["pooled"] is not None
    r = subprocess.run(cmd[:4] + ["2021-08-06,2021-08-06", *cmd[5:]], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "2021-08-06 is given twice" in r.stderr
