"""The benchmark runs and reports every figure the speed issue asks for (the figures themselves are measured by
`python run.py bench`, not asserted here: timings are not tests)."""

import json
import os

import pytest

from sim.bench import format_table, run_benchmark
from sim.store import write_json

# The memory figures read /proc/PID/status, which only Linux has.
NEEDS_PROC = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="no /proc here (not Linux)")


@pytest.mark.slow
def test_benchmark_reports_every_figure(tmp_path):
    r = run_benchmark(repeats=1, mesa_models=2, memory_runs=300, mesa_memory_models=5, cost_n=20,
                      progress=lambda m: None, startup_times=False)  # the start-up has a test of its own
    for key in ("mesa_runs_per_s", "ensemble_runs_per_s", "ensemble_peak_rss_mb", "python", "mesa", "numpy",
                "ensemble_runs_per_s_n1", "ensemble_runs_per_s_n100", "mesa_memory_growth_mb"):
        assert key in r, key
    assert r["mesa_runs_per_s"] > 0 and r["ensemble_runs_per_s"] > 0 and r["ensemble_peak_rss_mb"] > 0
    table = format_table(r)
    assert "ensemble, N = 10,000" in table and "Mesa model" in table
    trial = [k for k in r["mechanism_runs_per_s"] if k not in ("defaults", "all")]
    assert {"supply_stocks", "commando_reserve", "negotiated_handover"} <= set(trial)
    assert all(f"  {name} " in table for name in trial) and "% time per run" in table
    assert r["reference_calls_per_s"] > 0 and r["ensemble_per_reference"] > 0 and r["mesa_per_reference"] > 0
    assert "reference kernel v1" in table and "ensemble runs per reference call" in table
    write_json(tmp_path / "bench.json", r)
    assert json.loads((tmp_path / "bench.json").read_text())["ensemble_runs_per_s"] == r["ensemble_runs_per_s"]


def test_the_start_up_is_timed_and_tabled():
    """In-process and warm here (the cold start compiles for half a minute: `python run.py bench` times it)."""
    from sim.bench import machine, startup_job

    f = startup_job()
    assert all(f[k] >= 0 for k in ("import_s", "first_ensemble_s", "first_mesa_s"))
    figures = dict(mesa_runs_per_s=1.0, mesa_ms_per_run=1000.0, ensemble_runs_per_s_n1=1.0,
                   ensemble_runs_per_s_n100=1.0, ensemble_runs_per_s_n10000=1.0, ensemble_runs_per_s=1.0,
                   ensemble_over_mesa=1.0, reference_version=1, reference_calls_per_s=1.0, mesa_per_reference=1.0,
                   ensemble_per_reference=1.0, ensemble_memory_runs=1, ensemble_peak_rss_mb=1.0,
                   mesa_memory_models=1, mesa_memory_growth_mb=0.0, repeats=1, python="3", mesa="3", numpy="2",
                   machine=machine(), startup={"cold": f, "warm": f})
    table = format_table(figures)
    assert "start, cold (empty numba cache: compiling)" in table and f"first Mesa run {f['first_mesa_s']:.1f} s" in table


# The source of reference kernel v1, as first shipped. Changing the kernel silently would make every ratio quoted
# against it meaningless: a changed kernel must come with a new REFERENCE_VERSION (and a new hash here).
REFERENCE_SOURCES = {1: "279469b47438c6be15ed60aa5aa560d70eec07385dc82477695132a05656bea7"}


def test_the_reference_kernel_is_frozen_per_version_and_deterministic():
    import hashlib
    import inspect

    from sim import bench

    source = hashlib.sha256(inspect.getsource(bench.reference_kernel).encode()).hexdigest()
    assert REFERENCE_SOURCES.get(bench.REFERENCE_VERSION) == source, "changed the kernel: bump REFERENCE_VERSION"
    held = bench.reference_kernel(n=50)
    assert held == bench.reference_kernel(n=50) and 0 < held < 50 * 34


@NEEDS_PROC
def test_a_fresh_process_reports_its_own_peak_memory_not_the_benchmarks():
    """The memory figures come from fresh processes; getrusage's ru_maxrss there starts at the parent's resident
    set (measured: 527 MB in a child of a 527 MB process whose own peak was 13 MB), so a large benchmark process
    inflated them. The child's own high-water mark must not see the parent's 600 MB."""
    import numpy as np

    from sim.bench import _child
    from sim.memory import resident_mb

    ballast = np.ones(600 * 2**20 // 8)  # 600 MB, every page touched
    assert resident_mb() > 600
    child = _child("ensemble", 10)
    assert 0 < child["peak_rss_mb"] < 450, child  # numba, LLVM and a small ensemble: about 180 MB here
    assert child["anonymous_mb"] + child["file_backed_mb"] <= child["peak_rss_mb"] + 1
    del ballast


def _hold_mb(mb: int) -> int:
    """In a worker: touch `mb` MB, and return the worker's process id."""
    import os

    import numpy as np

    block = np.ones(mb * 2**20 // 8)
    return os.getpid() if block[-1] == 1.0 else -1


@NEEDS_PROC
def test_a_sweeps_worker_peak_is_the_workers_own_not_its_parents():
    """The sweep's "largest local worker" figure: each worker's own VmHWM, read from outside while the pool lives.
    Before, getrusage(RUSAGE_CHILDREN) gave at least the main process's size when the workers started."""
    import math

    import numpy as np

    from sim.executors import local_worker_peaks_mb, make_executor
    from sim.memory import peak_mb, resident_mb

    ballast = np.ones(500 * 2**20 // 8)  # the parent holds 500 MB when the pool starts its workers
    assert resident_mb() > 500
    executor, close = make_executor(2, None)
    try:
        assert executor.submit(_hold_mb, 120).result() > 0
        peaks = local_worker_peaks_mb(executor)
    finally:
        close()
    assert len(peaks) >= 1, peaks
    assert 120 < max(peaks) < 400, peaks  # its 120 MB and an interpreter with numpy, not the parent's 500 MB
    assert peak_mb() > 500 and not math.isnan(peak_mb())
    assert local_worker_peaks_mb(make_executor(1, None)[0]) == []  # in this process: nothing to add
    del ballast
