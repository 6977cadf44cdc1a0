"""The examples run as a researcher would run them: examples/quickstart.py whole, in a temporary folder, with a
non-interactive matplotlib backend, writing only there."""

import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_quickstart_runs_and_writes_only_its_output_folder(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO), "QUICKSTART_OUT": str(tmp_path / "out")}
    env.pop("PYTHONSTARTUP", None)
    r = subprocess.run([sys.executable, str(REPO / "examples" / "quickstart.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Kabul fell in" in r.stdout and "replayed from seed" in r.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["baseline-300", "capitals_held.png", "kabul_fall_date.png"]
    assert sorted(p.name for p in (out / "baseline-300").iterdir()) == ["fall_days.parquet", "manifest.json",
                                                                         "metrics.json"]
