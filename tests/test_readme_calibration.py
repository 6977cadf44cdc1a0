"""The README's two calibration commands, run in order as a new user would, must give two studies.

The commands are read from the README itself (so the test follows the documentation), with small trial counts and
every folder moved under tmp_path: `results/X` becomes `tmp_path/results/X`, and a command without `--out` gets the
folder the CLI would use by default (`results/calibrate-<scenario>`).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from conftest import run_in_process

REPO = Path(__file__).resolve().parent.parent
SMALL = {"--trials": "3", "--abc": "4", "--replicates": "5"}


def readme_calibrate_commands() -> list[list[str]]:
    lines = (REPO / "README.md").read_text().splitlines()
    found = [ln.split("#")[0].strip() for ln in lines if ln.strip().startswith("python run.py calibrate ")]
    return [shlex.split(c)[2:] for c in found]  # drop "python run.py"


def shrink(argv: list[str], results: Path) -> list[str]:
    """Small counts, folders under `results`, one worker, no cross-validation."""
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a in SMALL:
            out[i + 1] = SMALL[a]
        if a == "--out" and not Path(out[i + 1]).is_absolute():
            out[i + 1] = str(results / Path(out[i + 1]).relative_to("results"))
    if "--out" not in out:
        out += ["--out", str(results / f"calibrate-{out[1]}")]
    return out + ["--replicates", SMALL["--replicates"], "--cv", "0", "--workers", "1", "--yes"]


@pytest.mark.slow
def test_the_readmes_two_calibrations_in_order_do_not_share_a_study(tmp_path):
    commands = readme_calibrate_commands()
    assert len(commands) == 2 and "--fit-until" in commands[0] and "--fit-until" not in commands[1], commands
    results = tmp_path / "results"
    outs = []
    for argv in commands:
        argv = shrink(argv, results)
        r = run_in_process(*argv, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.append(Path(argv[argv.index("--out") + 1]))
    first, second = (json.loads((o / "calibration.json").read_text()) for o in outs)
    assert outs[0] != outs[1]
    assert first["fit_until"] == "2021-08-12" and second["fit_until"] is None
    # the second study ran and scored its own trials: its count is its own, and its loss is on its own target
    # (the same seeded opening points may win both, so the point itself can coincide)
    assert first["trials"] == second["trials"] == int(SMALL["--trials"])
    assert second["best_loss"] != first["best_loss"]
    assert "all 34 capitals" in (outs[1] / "calibrated.toml").read_text()
    assert "fallen by 2021-08-12" in (outs[0] / "calibrated.toml").read_text()


@pytest.mark.slow
def test_the_second_command_into_the_first_ones_folder_refuses(tmp_path):
    """Without the README's --out, the second command would meet the first one's study: it must refuse, not
    resume it (the harm issue 13 reports: a 'fit on all 34' that held the 12 August study's point)."""
    first, second = readme_calibrate_commands()
    folder = tmp_path / "cal"

    def cli(argv):
        argv = shrink(argv, tmp_path / "results")
        argv[argv.index("--out") + 1] = str(folder)
        return run_in_process(*argv, cwd=tmp_path)

    assert cli(first).returncode == 0
    before = (folder / "calibration.json").read_text()
    r = cli(second)
    assert r.returncode != 0 and "holds a calibration with another fit_until" in r.stderr, r.stderr
    assert re.search(r"--force|--out", r.stderr)
    assert (folder / "calibration.json").read_text() == before
