"""Property-based tests of the command line as a careless or hostile user drives it (hypothesis).

Whatever the arguments, `run.main` either succeeds (exit 0) or refuses with exit 2 and one line that says why;
it never raises, never prints a traceback, and never writes outside the output folder it was given (its hidden
lock and temporaries beside it included). Commands run in this process with tiny sizes so that many examples
fit in CI; `HYPOTHESIS_PROFILE=thorough` runs many more (tests/conftest.py registers the profiles).
"""

import json
import os
import shutil
from pathlib import Path

import matplotlib
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import REPO, run_in_process

matplotlib.use("Agg")

# Examples per test: few by default (the whole file in about a minute), ten times more when asked.
SCALE = 10 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 1


def examples(n: int) -> int:
    return n * SCALE


# Each field has values a user means (valid) and values a careless or hostile one types (invalid). An example
# takes valid values everywhere, then breaks none, one or two fields: about a third of the examples run.
FIELDS = {
    "scenario": (["baseline", "no-cascade", "from-2021-08-12", "wait-for-withdrawal"],
                 ["nowhere", "../scenarios/baseline", "baseline.toml", "", "/etc/passwd"]),
    "runs": (["2", "3", "4"], ["0", "-1", "x", "1.5", "nan", "10000000000000", "9999999", ""]),
    "seed": (["0", "7", "20210501", str(2**63 - 1)], ["-1", "-2", str(2**63), str(2**70), "x", "1e3"]),
    "start": (["2021-05-01", "2021-08-10", "2021-08-15"],
              ["2021-08-16", "2021-04-30", "2021-09-06", "2022-01-01", "tomorrow", "2021-13-01"]),
    "engine": (["ensemble", "mesa"], ["gpu", ""]),
    "chunk": (["1", "2", "1000"], ["0", "-3", "x", "nan"]),
    "out": (["new", "nested"], ["user", "file", "here"]),
    "extra": ([None], ["x", "--nonsense", "-1", "é", "--runs"]),
    "flush": (["0", "2"], ["nan", "-5", "inf", "3601", "x"]),
    "scheduler": ([None], ["garbage", "tcp://nohost", "udp://h:1", "tcp://h:99999"]),
    "name": (["ok-sweep", "sweep.v2"], ["../escape", ".", "a/b", "x" * 70, "", ".hidden"]),
    "replicates": (["2", "3"], ["0", "-1", "2.5", '"2"', "100000000000"]),
    "values": (["[0.5, 1.0]", "[0.0]"], ["[]", "[99.0]", "[nan]", "0.5", '["a"]', "[inf]"]),
    "params": (["rural_rate", "target_north_weight,cascade_neighbour"],
               ["rural_rate,rural_rate", ",", "nonsense", "rural_rate,,", ""]),
    "n": (["1", "2"], ["0", "-3", "1000000000", "x"]),
    "method": (["sobol", "morris"], ["fast", ""]),
    "fit_until": ([None, "2021-08-12", "2021-08-15"], ["2021-05-02", "2021-04-01", "2022-01-01", "x"]),
    "cv": (["0", "2"], ["1", "-3", "100", "x"]),
    "abc": (["0", "3"], ["-5", "x"]),
    "accept": (["0.5"], ["nan", "2", "0", "1", "inf"]),
    "scenarios": ([["baseline", "no-cascade"], ["baseline", "wait-for-withdrawal", "no-cascade"]],
                  [[], ["baseline"], ["baseline", "nowhere"]]),
}


SWEEP = """name = "{name}"
description = "Property test sweep."
scenario = "{scenario}"
replicates = {replicates}
seed = {seed}
[axes]
target_north_weight = {values}
"""


@st.composite
def fields(draw, names):
    """Valid values for `names`, with none, one or two of them replaced by an invalid one."""
    values = {n: draw(st.sampled_from(FIELDS[n][0])) for n in names}
    for n in draw(st.lists(st.sampled_from(names), max_size=2, unique=True)):
        values[n] = draw(st.sampled_from(FIELDS[n][1]))
    return values


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
            for p in sorted(root.rglob("*")) if ".pytest" not in str(p)}


def call(argv: list[str]) -> tuple[int, str, str]:
    r = run_in_process(*argv)
    return r.returncode, r.stdout, r.stderr


def check(code: int, err: str, argv) -> None:
    event(f"exit {code}")  # shown by --hypothesis-show-statistics: how many examples ran and how many refused
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err[-3000:])
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines and "error: " in lines[-1], (argv, err)
        assert sum("error" in line for line in lines) == 1, (argv, err)


def guarded(root: Path, outs: list[Path]):
    """Snapshot everything under root and the repository's own folders except the output folders (and their
    hidden siblings); returns a function that asserts nothing else changed."""
    watched = [root, REPO / "results", REPO / "scenarios", REPO / "data"]

    def keep(path: str, base: Path) -> bool:
        full = base / path
        for o in outs:
            if full == o or o in full.parents or (full.parent == o.parent and full.name.startswith(f".{o.name}.")):
                return False
            if full in o.parents:  # the folders on the way to an output folder
                return False
        return True

    before = {b: {k: v for k, v in _tree(b).items() if keep(k, b)} for b in watched}

    def unchanged():
        for b in watched:
            after = {k: v for k, v in _tree(b).items() if keep(k, b)}
            assert after == before[b], (b, set(after) ^ set(before[b]))

    return unchanged


@pytest.fixture(scope="module")
def play(tmp_path_factory):
    """A folder with a user's own files in it, next to which outputs go."""
    root = tmp_path_factory.mktemp("cli")
    (root / "user").mkdir()
    (root / "user" / "notes.txt").write_text("mine")
    (root / "afile.txt").write_text("mine too")
    return root


def _out(play: Path, choice: str) -> Path:
    return {"new": play / "outs" / "new", "user": play / "user", "file": play / "afile.txt",
            "here": play, "nested": play / "outs" / "a" / "b"}[choice]


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.slow
@settings(max_examples=examples(25), **SETTINGS)
@given(f=fields(["scenario", "runs", "seed", "start", "engine", "chunk", "out", "extra"]),
       command=st.sampled_from([None, "run", "baseline"]), force=st.booleans(), before=st.booleans(),
       given_=st.sets(st.sampled_from(["seed", "start", "engine", "chunk"])))
def test_run_and_baseline(play, f, command, force, before, given_):
    target = _out(play, f["out"])
    opts = ["--out", str(target), "--quiet", "--runs", f["runs"]]
    for key, flag in (("seed", "--seed"), ("start", "--start"), ("engine", "--engine"), ("chunk", "--chunk-size")):
        if key in given_:
            opts += [flag, f[key]]
    if "engine" in given_ and f["engine"] == "mesa" and "chunk" in given_:
        opts[opts.index("--chunk-size") + 1] = "1"
    if force:
        opts.append("--force")
    if f["extra"] is not None:
        opts.append(f["extra"])
    cmd = [] if command is None else [command] + ([f["scenario"]] if command == "run" else [])
    argv = opts + cmd if before else cmd + opts
    existed = target.exists()
    unchanged = guarded(play, [target] if f["out"] in ("new", "nested") else [])  # the others are never ours
    code, _, err = call(argv)
    check(code, err, argv)
    unchanged()
    if code == 0:
        assert f["out"] in ("new", "nested") and (target / "manifest.json").is_file()
    elif not existed:
        assert not target.exists()


@settings(max_examples=examples(15), **SETTINGS)
@given(f=fields(["scenarios", "runs", "seed"]), rerun=st.booleans(), before=st.booleans())
def test_compare(play, f, rerun, before):
    opts = ["--quiet", "--seed", f["seed"], "--results", str(play / "outs")] + (["--rerun"] if rerun else [])
    runs = ["--runs", f["runs"]]
    argv = [*runs, "compare", *f["scenarios"], *opts] if before else ["compare", *f["scenarios"], *opts, *runs]
    unchanged = guarded(play, [])
    code, out, err = call(argv)
    check(code, err, argv)
    unchanged()
    if code == 0:
        assert "common random numbers" in out


@settings(max_examples=examples(20), **SETTINGS)
@given(f=fields(["name", "scenario", "replicates", "seed", "values", "flush", "scheduler", "out"]),
       force=st.booleans())
def test_sweep(play, f, force):
    path = play / "sweeps" / "s.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SWEEP.format(**f))
    target = _out(play, f["out"])
    argv = ["sweep", str(path), "--out", str(target), "--workers", "1", "--quiet", "--flush-seconds", f["flush"]]
    if f["scheduler"] is not None:
        argv += ["--scheduler", f["scheduler"]]
    if force:
        argv.append("--force")
    unchanged = guarded(play, ([target] if f["out"] in ("new", "nested") else []) + [path.parent])
    code, _, err = call(argv)
    check(code, err, argv)
    unchanged()
    if code == 0:
        assert (target / "manifest.json").is_file() and json.loads((target / "manifest.json").read_text())["complete"]


@pytest.mark.slow
@settings(max_examples=examples(12), **SETTINGS)
@given(f=fields(["params", "n", "replicates", "method", "seed"]))
def test_sensitivity(play, f):
    target = play / "outs" / "sens"
    argv = ["sensitivity", "baseline", "--n", f["n"], "--replicates", f["replicates"], "--method", f["method"],
            "--seed", f["seed"], "--params", f["params"], "--workers", "1", "--out", str(target), "--quiet",
            "--force"]
    unchanged = guarded(play, [target])
    code, _, err = call(argv)
    check(code, err, argv)
    unchanged()
    if code == 0:
        assert (target / "indices.csv").is_file()


@pytest.mark.slow
@settings(max_examples=examples(10), **SETTINGS)
@given(f=fields(["fit_until", "cv", "abc", "accept", "seed"]))
def test_calibrate(play, f):
    target = play / "outs" / "cal"
    argv = ["calibrate", "baseline", "--trials", "1", "--replicates", "3", "--cv", f["cv"], "--cv-trials", "1",
            "--abc", f["abc"], "--abc-accept", f["accept"], "--seed", f["seed"], "--workers", "1", "--out",
            str(target), "--quiet", "--force"]
    if f["fit_until"] is not None:
        argv += ["--fit-until", f["fit_until"]]
    unchanged = guarded(play, [target])
    code, _, err = call(argv)
    check(code, err, argv)
    unchanged()
    if code == 0:
        assert (target / "calibrated.toml").is_file() and (target / "calibration.json").is_file()


@pytest.mark.slow
@settings(max_examples=examples(10), **SETTINGS)
@given(damage=st.sampled_from(["none", "extra", "none", "metrics", "parquet", "manifest", "delete"]),
       which=st.sampled_from(["run", "run", "run", "user", "missing", "file"]))
def test_plot(play, damage, which):
    source = play / "plot-source"
    if not source.exists():
        assert call(["run", "baseline", "--runs", "3", "--out", str(source), "--quiet"])[0] == 0
    target = play / "outs" / "plotted"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    if damage == "metrics":
        (target / "metrics.json").write_text("{")
    elif damage == "parquet":
        (target / "fall_days.parquet").write_bytes((target / "fall_days.parquet").read_bytes()[:100])
    elif damage == "manifest":
        (target / "manifest.json").write_text("[]")
    elif damage == "delete":
        (target / "fall_days.parquet").unlink()
    elif damage == "extra":
        (target / "notes.txt").write_text("mine")
    folder = {"run": target, "user": play / "user", "missing": play / "nowhere", "file": play / "afile.txt"}[which]
    unchanged = guarded(play, [target])
    code, _, err = call(["plot", str(folder)])
    check(code, err, ["plot", folder, damage])
    unchanged()
    if code == 0:
        assert which == "run" and damage in ("none", "extra")
        assert (target / "report.html").read_text().rstrip().endswith("</html>")
    else:
        assert not (folder / "report.html").exists() if folder.is_dir() else True
