"""The command line end to end on a small run, its outputs' schema, and clear errors on bad input."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_in_process


def run_cli(*args):
    """run.py in a new process: for the tests of the entry point itself (the rest run main() in this process)."""
    return subprocess.run([sys.executable, str(REPO / "run.py"), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_baseline_end_to_end(tmp_path):
    out = tmp_path / "baseline"
    r = run_cli("--runs", "40", "--seed", "7", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Zaranj" in r.stdout and "Kendall tau-b" in r.stdout and "hops from Kabul" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["fall_days.parquet", "held.png", "manifest.json", "metrics.json"]
    table = pq.read_table(out / "fall_days.parquet")
    assert table.column_names == ["run_id", "seed", "province", "fell_on", "fall_how"]
    assert str(table.schema.field("fell_on").type) == "timestamp[ms]"  # pandas reads datetime64 (tests/test_api.py)
    assert table.num_rows == 40 * 34
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("params", "seed", "start", "end", "git_commit", "packages", "chunk_seeds", "data_sha256"):
        assert key in manifest, key
    assert manifest["start"] == "2021-05-01" and manifest["end"] == "2021-09-06" and manifest["n_runs"] == 40
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["nulls"]) == {"road distance from Kabul", "hops from Kabul", "great-circle distance from Kabul",
                                     "random order (mean)"}
    assert len(metrics["capitals"]) == 34


@pytest.mark.slow
def test_same_seed_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert run_cli("--runs", "30", "--seed", "3", "--out", str(out), "--quiet").returncode == 0
    assert pq.read_table(a / "fall_days.parquet").equals(pq.read_table(b / "fall_days.parquet"))


def test_broken_data_file_fails_cleanly_and_writes_nothing(tmp_path, data_copy):
    path = data_copy / "roads.csv"
    path.write_text(path.read_text().replace("Kabul,Maidan Wardak", "Kabul,Maidan Wardakk", 1))
    out = tmp_path / "results" / "baseline"
    r = run_cli("--runs", "10", "--data", str(data_copy), "--out", str(out), "--quiet")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "roads.csv, line 2, field 'to_province': 'Maidan Wardakk' is not one of" in r.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_bad_option_value():
    r = run_cli("--runs", "0")
    assert r.returncode == 2 and "--runs: must be at least 1" in r.stderr


def test_params_command_lists_every_parameter():
    from sim.params import Params

    r = run_in_process("params")
    assert r.returncode == 0
    for name in Params.names():
        assert name in r.stdout


def test_help_explains():
    r = run_cli("--help")
    assert r.returncode == 0 and "--runs" in r.stdout and "results/<scenario name>/" in r.stdout


def test_options_before_or_after_the_command():
    import run

    assert run.build_parser().parse_args(["--runs", "5", "run", "baseline"]).runs == 5
    assert run.build_parser().parse_args(["run", "baseline", "--runs", "7"]).runs == 7
    assert run.build_parser().parse_args(["run", "baseline"]).runs is None  # the scenario decides


@pytest.mark.slow
def test_run_a_scenario_from_a_later_start(tmp_path):
    out = tmp_path / "r"
    r = run_in_process("run", "reinforce-kabul", "--runs", "30", "--start", "2021-08-10", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "2021-08-10 to 2021-09-06" in r.stdout and "those still held at the start" in r.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["start"] == "2021-08-10" and manifest["interventions"][0]["kind"] == "reinforce"
    assert 'name = "reinforce-kabul"' in manifest["scenario_text"]


def test_bad_scenario_file_fails_cleanly_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\ndescription = "x"\nstart = 2021-05-01\nend = 2021-09-06\nreplicates = 5\n'
                   'seed = 1\n[[events]]\non = 2021-06-01\nkind = "reinforce"\nprovince = "Narnia"\ntroops = 5\n')
    out = tmp_path / "results" / "bad"
    r = run_in_process("run", str(bad), "--out", str(out), "--quiet")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "bad.toml: key 'events[0].province': unknown province 'Narnia'; allowed: Badakhshan" in r.stderr
    assert not (tmp_path / "results").exists()


def test_bad_start_date_option():
    r = run_in_process("run", "baseline", "--start", "2021-08-30", "--quiet")
    assert r.returncode == 2 and "--start 2021-08-30 is outside the window: allowed 2021-05-01 to 2021-08-15" in r.stderr
    r = run_in_process("run", "baseline", "--start", "yesterday")
    assert r.returncode == 2 and "'yesterday' is not a date YYYY-MM-DD" in r.stderr


def test_a_fit_until_date_outside_the_window_is_refused_in_one_line(tmp_path):
    """Found by hypothesis (test_cli_properties.test_calibrate): --fit-until 2021-04-01 ended in a traceback from
    deep in the data (the record as known then holds no withdrawal plan)."""
    for when in ("2021-04-01", "2022-01-01"):
        r = run_in_process("calibrate", "baseline", "--fit-until", when, "--trials", "1", "--replicates", "3",
                           "--cv", "0", "--workers", "1", "--out", str(tmp_path / "cal"), "--quiet")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"error: --fit-until {when}: outside the window: allowed 2021-05-01 to "), r.stderr
    assert not (tmp_path / "cal").exists()


def test_scenarios_and_compare_commands():
    r = run_in_process("scenarios")
    assert r.returncode == 0 and "from-2021-08-12" in r.stdout and "hold-the-highway" in r.stdout
    r = run_in_process("compare", "baseline", "no-cascade", "--runs", "60", "--rerun", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "common random numbers" in r.stdout and "no-cascade" in r.stdout and "+-" in r.stdout


@pytest.mark.slow
def test_compare_with_a_mechanism_set_on_in_every_scenario():
    """--set changes every scenario compared (contractors-stay then acts through supply as well as strikes), and a
    bad setting stops with one message naming the key and what is allowed."""
    base = run_in_process("compare", "baseline", "contractors-stay", "--runs", "60", "--rerun", "--quiet")
    on = run_in_process("compare", "baseline", "contractors-stay", "--runs", "60", "--rerun", "--quiet",
                        "--set", "supply_stocks=true", "--set", "air_logistics=true")
    assert base.returncode == on.returncode == 0, on.stderr
    assert "supply_stocks = True, air_logistics = True" in on.stderr
    row = lambda out: next(line for line in out.splitlines() if line.startswith("baseline "))  # noqa: E731
    assert row(base.stdout) != row(on.stdout)  # the baseline row moved
    for bad, says in (("foo=1", "unknown parameter 'foo'; allowed: rural_expansion"),
                      ("supply_stocks=yes", "supply_stocks is a switch: allowed true or false"),
                      ("stock_days=1000", "'stock_days' = 1000.0 is out of bounds: allowed 3.0 to 180.0 days"),
                      ("stock_days", "give NAME=VALUE")):
        r = run_in_process("compare", "baseline", "contractors-stay", "--runs", "10", "--quiet", "--set", bad)
        assert r.returncode == 2 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)


@pytest.mark.slow
def test_run_with_a_setting_records_it_and_a_bad_one_writes_nothing(tmp_path):
    out = tmp_path / "stocks"
    r = run_in_process("--set", "supply_stocks=true", "run", "baseline", "--runs", "20", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params_changed_from_defaults"] == {"supply_stocks": True}
    bad = tmp_path / "bad"
    r = run_in_process("run", "baseline", "--runs", "20", "--out", str(bad), "--set", "commando_strength=-5", "--quiet")
    assert r.returncode == 2 and "'commando_strength' = -5.0 is out of bounds: allowed 0.0 to 40000" in r.stderr
    assert not bad.exists()


@pytest.mark.slow
def test_the_example_sweep_runs_from_the_readme(tmp_path):
    r = run_in_process("sweep", "north-and-cascade", "--out", str(tmp_path / "sw"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "25 points run (2,500 runs)" in r.stdout and "Best 5 of 25 points" in r.stdout
    assert "target_north_weight:" in r.stdout and "peak memory" in r.stdout
    assert sorted(p.name for p in (tmp_path / "sw").iterdir()) == ["fall_days.parquet", "manifest.json",
                                                                   "points.parquet", "runs.parquet"]


@pytest.mark.slow
def test_a_forecast_from_any_start_runs(tmp_path):
    """A forecast runs on the record as known at its start, and is scored on every LWJ figure, later ones too."""
    for start in ("2021-05-01", "2021-07-01", "2021-08-10"):
        r = run_in_process("run", "forecast", "--runs", "20", "--start", start, "--out", tmp_path / start, "--quiet")
        assert r.returncode == 0, r.stderr
        if start < "2021-08-03":  # the last LWJ figure is scored even though the run could not see it
            assert "2021-08-03" in r.stdout


def test_listings_and_a_wrong_scenario_name_do_not_load_the_model():
    """`params`, `scenarios` and a refused scenario name answer without importing matplotlib or the calibration
    (which imports the compiled ensemble): 1.1-1.3 s instead of 1.5-2.4 s on the slow machine of 3 December.
    (numba itself is imported: the rules' constants and random streams live in modules compiled with it.)"""
    code = ("import contextlib, io, sys; from sim.cli import main\n"
            "codes = []\n"
            "for argv in (['params'], ['scenarios'], ['run', 'nowhere']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "        codes.append(main(argv))\n"
            "print(codes, sorted(m for m in ('sim.calibrate', 'sim.ensemble', 'matplotlib.pyplot')"
            " if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0, 0, 2] []", r.stdout
