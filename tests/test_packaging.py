"""The package works installed (not editable) and run from outside the checkout: the data and the shipped
scenarios are the installed copy's (sim/_data, sim/_scenarios), the console script and `python -m sim` work, and
results go to ./results. Built and installed offline: pip without build isolation, no index, no dependencies.
And what ships cites only what a reader can open."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: What the build reads: the package, the folders mapped into it, the metadata and the README it embeds.
SOURCES = ("sim", "data", "scenarios", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A copy of the sources (the build writes build/ and *.egg-info beside them), installed into a --target."""
    tmp = tmp_path_factory.mktemp("packaging")
    src, target = tmp / "src", tmp / "site"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "PIP_NO_INPUT": "1"})
    assert r.returncode == 0, f"pip install failed (setuptools>=77 comes with the [test] extra):\n{r.stderr}"
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "MPLBACKEND": "Agg"}
    return target, elsewhere, env


@pytest.mark.slow
@pytest.mark.versions
def test_the_installed_copy_carries_its_data_and_scenarios(installed):
    target, elsewhere, env = installed
    code = ("import json, sim, sim.resources as r, sim.data as d, sim.scenario as s, sim.sweep as w\n"
            "print(json.dumps([sim.__file__, str(r.data_dir()), str(s.SCENARIO_DIR), str(w.SWEEP_DIR),"
            " str(d.DATA_DIR), r.checkout()]))")
    r = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    module, data, scenarios, sweeps, data_const, checkout = json.loads(r.stdout)
    assert Path(module).is_relative_to(target), "the installed copy is imported, not the checkout"
    assert Path(data) == Path(data_const) == target / "sim" / "_data"
    assert Path(scenarios) == target / "sim" / "_scenarios"
    assert Path(sweeps) == target / "sim" / "_scenarios" / "sweeps"
    assert checkout is None
    shipped = {p.relative_to(REPO / "data") for p in (REPO / "data").rglob("*") if p.is_file()}
    assert shipped <= {p.relative_to(Path(data)) for p in Path(data).rglob("*") if p.is_file()}
    for name in ("baseline.toml", "README.md", "sweeps/lhs-1000.toml", "ablations/forecast-all-trial.toml"):
        assert (Path(scenarios) / name).is_file(), name


@pytest.mark.slow
def test_the_console_script_runs_from_elsewhere_into_dot_results(installed):
    target, elsewhere, env = installed
    script = target / "bin" / "afghan2021"
    assert script.is_file(), "pip writes the console script from [project.scripts]"
    r = subprocess.run([str(script), "run", "baseline", "--runs", "50"], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # ./results/<a folder named after the run> (its name depends on the run's variant, not checked here)
    written = sorted((elsewhere / "results").glob("*/manifest.json"))
    assert len(written) == 1, written
    manifest = json.loads(written[0].read_text())
    assert Path(manifest["scenario_file"]) == target / "sim" / "_scenarios" / "baseline.toml"
    assert Path(manifest["data_dir"]) == target / "sim" / "_data"
    assert manifest["n_runs"] == 50
    # No git checkout here: the manifest says so and names the package's version instead.
    assert manifest["git_commit"] is None
    assert manifest["packages"]["afghan2021-abm"] not in ("", "not installed")


@pytest.mark.slow
def test_python_m_sim_runs_from_elsewhere(installed, tmp_path):
    target, elsewhere, env = installed
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "sim", "run", "baseline", "--runs", "50", "--out", str(out)],
                       cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert Path(manifest["scenario_file"]).is_relative_to(target)
    r = subprocess.run([sys.executable, "-m", "sim", "scenarios"], cwd=elsewhere, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    listed = {line.split()[0] for line in r.stdout.splitlines() if line.strip() and not line.startswith("Run ")}
    assert {p.stem for p in (REPO / "scenarios").glob("*.toml")} <= listed


#: The research notes the record was compiled from: not in this repository, so a citation of them cannot be opened.
NOTES = re.compile(r"\b(timeline|STRATEGY|SOURCES|LITERATURE|PROVINCES)\.md\b|\bcapitals\.csv\b")


def test_what_ships_cites_what_a_reader_can_open():
    shipped = [p for folder in ("sim", "data", "scenarios") for p in (REPO / folder).rglob("*")
               if p.suffix in (".py", ".md", ".csv", ".toml") and p.is_file()]
    cited = [f"{p.relative_to(REPO)}:{n}" for p in shipped
             for n, line in enumerate(p.read_text(encoding="utf-8-sig").splitlines(), 1) if NOTES.search(line)]
    assert not cited, f"cite the original source (or data/README.md) instead of the notes: {cited}"
