"""A run changed on the command line (another start, seed, run count or --set) is a variant: it gets a folder of
its own by default, never silently replaces another run's folder, and its header says what changed."""

from __future__ import annotations

import json

import pytest

from sim import cli
from sim.experiment import describe_variant, variant, variant_folder_name, with_overrides
from sim.params import Params
from sim.scenario import load_scenario
from sim.world import default_world


def fingerprint(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "RESULTS", tmp_path / "results")
    return tmp_path / "results"


def test_a_variant_names_what_changed():
    base = load_scenario("baseline", default_world())
    run = with_overrides(base, 50, None, __import__("datetime").date(2021, 8, 12))
    run = run.replace(params=run.params.replace(cascade_neighbour=0.1))
    changes = json.loads(json.dumps(variant(base, run)))
    assert list(changes) == ["start", "runs", "cascade_neighbour"]
    assert changes["start"] == ["2021-05-01", "2021-08-12"] and changes["runs"] == [base.replicates, 50]
    assert variant_folder_name("baseline", changes) == "baseline-start-2021-08-12-runs-50-cascade_neighbour-0.1"
    assert describe_variant(changes).startswith("start 2021-05-01 -> 2021-08-12, runs 1,000 -> 50")
    assert variant(base, base) == {} and variant_folder_name("baseline", {}) == "baseline"
    # the engine and the chunk size decide which random numbers each run draws: a variant too
    assert variant(base, base, "mesa") == {"engine": ["ensemble", "mesa"]}
    assert variant_folder_name("baseline", variant(base, base, chunk_size=5)) == "baseline-chunk-5"
    assert variant(base, base, chunk_size=1000) == {}  # the default chunk
    assert Params().cascade_neighbour != 0.1  # else the test above would not change anything


@pytest.mark.slow
def test_a_variant_gets_its_own_folder_by_default(results, capsys):
    assert cli.main(["run", "baseline", "--runs", "20", "--quiet"]) == 0
    plain = results / "baseline-runs-20"
    before = fingerprint(plain)
    assert cli.main(["run", "baseline", "--runs", "20", "--start", "2021-08-12", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Changed from the file" in out and "start 2021-05-01 -> 2021-08-12" in out
    shifted = results / "baseline-start-2021-08-12-runs-20"
    assert fingerprint(plain) == before  # the other run's folder is untouched
    meta = json.loads((shifted / "manifest.json").read_text())
    assert meta["variant"]["start"] == ["2021-05-01", "2021-08-12"]


@pytest.mark.slow
def test_a_variant_never_replaces_another_runs_folder_unasked(tmp_path, capsys):
    out = tmp_path / "shared"
    assert cli.main(["run", "baseline", "--runs", "20", "--out", str(out), "--quiet"]) == 0
    before = fingerprint(out)
    assert cli.main(["run", "baseline", "--runs", "20", "--seed", "7", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the run of `baseline` with runs 1,000 -> 20" in err and "--force" in err
    assert fingerprint(out) == before
    # the same run again replaces its own folder; --force replaces another
    assert cli.main(["run", "baseline", "--runs", "20", "--out", str(out), "--quiet"]) == 0
    assert cli.main(["run", "baseline", "--runs", "20", "--seed", "7", "--out", str(out), "--quiet", "--force"]) == 0
    assert json.loads((out / "manifest.json").read_text())["variant"]["seed"] == [20210501, 7]
