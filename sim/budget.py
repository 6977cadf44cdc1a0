"""Before a job starts: estimate its time, memory and disk, and refuse what this machine cannot do.

The figures per run are deliberately pessimistic (measured with `python run.py bench` and /usr/bin/time on the
project's 2-core machine, then rounded towards caution; a busy machine runs at half speed): a refusal should
never come after an hour of work, and a job that fits should not be refused. A job estimated to take longer
than ASK_ABOVE_SECONDS starts only with --yes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

ENSEMBLE_RUNS_PER_SECOND = 2_000  # per core; bench: about 5,000 on an idle core at N = 10,000
MESA_RUNS_PER_SECOND = 30  # bench: about 60
BASE_MEMORY = 400e6  # the interpreter with numpy, scipy, pyarrow, matplotlib, and the world
RUN_MEMORY = 300  # bytes per run a `run` keeps: fall days and manners, seeds, per-run scores
DAILY_RUN_MEMORY = 1_200  # bytes per run where daily series are kept (the Mesa engine, one sweep point)
RUN_DISK = 80  # bytes per run in fall_days.parquet (measured: 44)
SWEEP_RUN_DISK = 200  # bytes per run in a sweep's two datasets
ASK_ABOVE_SECONDS = 3600


class BudgetError(Exception):
    """The job does not fit this machine, or needs --yes: one line, exit code 2."""


@dataclass(frozen=True)
class Estimate:
    what: str  # the option or key that sets the size, for the message ("--runs 5,000,000")
    runs: int
    seconds: float
    memory: float  # peak bytes, all processes
    disk: float  # bytes written


def available_memory() -> float | None:
    """Bytes of memory available to a new job (MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def free_disk(path: Path) -> float | None:
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return float(shutil.disk_usage(p).free)
    except OSError:
        return None


def fmt_bytes(b: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if b >= size:
            return f"{b / size:,.1f} {unit}"
    return f"{b / 1e3:,.0f} kB"


def fmt_duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 2 * 365 * 86400:
        return f"{s / 86400:,.0f} days"
    return f"{s / (365 * 86400):,.0f} years"


def check(est: Estimate, out: Path | None, yes: bool = False) -> str | None:
    """Raise BudgetError if the job cannot fit (memory, disk) or needs --yes (time). Returns a line announcing
    the estimate for jobs that take more than a minute, else None."""
    mem = available_memory()
    if mem is not None and est.memory > 0.9 * mem:
        raise BudgetError(f"{est.what}: would need about {fmt_bytes(est.memory)} of memory and this machine has "
                          f"{fmt_bytes(mem)} available; ask for fewer runs")
    disk = free_disk(out) if out is not None else None
    if disk is not None and est.disk > 0.9 * disk:
        raise BudgetError(f"{est.what}: would write about {fmt_bytes(est.disk)} and {out} has "
                          f"{fmt_bytes(disk)} free; ask for fewer runs or choose another --out")
    if est.seconds > ASK_ABOVE_SECONDS and not yes:
        raise BudgetError(f"{est.what}: {est.runs:,} runs would take about {fmt_duration(est.seconds)} on this "
                          "machine; add --yes to start it anyway, or ask for fewer runs")
    if est.seconds > 60:
        return (f"estimated: about {fmt_duration(est.seconds)}, {fmt_bytes(est.memory)} of memory, "
                f"{fmt_bytes(est.disk)} on disk")
    return None


def for_run(what: str, runs: int, engine: str = "ensemble") -> Estimate:
    rate = ENSEMBLE_RUNS_PER_SECOND if engine == "ensemble" else MESA_RUNS_PER_SECOND
    per_run = RUN_MEMORY if engine == "ensemble" else DAILY_RUN_MEMORY
    return Estimate(what, runs, runs / rate, BASE_MEMORY + runs * per_run, runs * RUN_DISK)


def for_points(what: str, points: int, replicates: int, workers: int, disk_per_run: float = SWEEP_RUN_DISK,
               flush_points: int = 100) -> Estimate:
    """Many points of `replicates` runs each on `workers` processes (sweeps, sensitivity, calibration)."""
    runs = points * replicates
    in_flight = workers * replicates * DAILY_RUN_MEMORY + min(points, flush_points) * replicates * RUN_MEMORY
    return Estimate(what, runs, runs / (ENSEMBLE_RUNS_PER_SECOND * max(1, workers)),
                    BASE_MEMORY * (workers + 1) + in_flight, runs * disk_per_run)
