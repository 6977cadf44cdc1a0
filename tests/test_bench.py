"""The benchmark runs and reports every figure the speed issue asks for (the figures themselves are measured by
`python run.py bench`, not asserted here: timings are not tests)."""

import json

import pytest

from sim.bench import format_table, run_benchmark
from sim.store import write_json


@pytest.mark.slow
def test_benchmark_reports_every_figure(tmp_path):
    r = run_benchmark(repeats=1, mesa_models=2, memory_runs=300, mesa_memory_models=5, cost_n=20,
                      progress=lambda m: None)
    for key in ("mesa_runs_per_s", "ensemble_runs_per_s", "ensemble_peak_rss_mb", "python", "mesa", "numpy",
                "ensemble_runs_per_s_n1", "ensemble_runs_per_s_n100", "mesa_memory_growth_mb"):
        assert key in r, key
    assert r["mesa_runs_per_s"] > 0 and r["ensemble_runs_per_s"] > 0 and r["ensemble_peak_rss_mb"] > 0
    table = format_table(r)
    assert "ensemble, N = 10,000" in table and "Mesa model" in table
    trial = [k for k in r["mechanism_runs_per_s"] if k not in ("defaults", "all")]
    assert {"supply_stocks", "commando_reserve", "negotiated_handover"} <= set(trial)
    assert all(f"  {name} " in table for name in trial) and "% time per run" in table
    write_json(tmp_path / "bench.json", r)
    assert json.loads((tmp_path / "bench.json").read_text())["ensemble_runs_per_s"] == r["ensemble_runs_per_s"]
