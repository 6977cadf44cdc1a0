"""The benchmark: runs per second of the Mesa model and of the ensemble path, and peak memory.

Timing follows Mesa's own benchmarks (benchmarks/global_benchmark.py): garbage collection stays enabled while
timing, every measurement starts from a collected heap, and the first call of each kind is a warm-up that is not
counted. Each figure is the median of several repeats. The baseline is timed: 2021-05-01 to 2021-09-06, default
parameters (the mechanisms that ship on); the cost of each mechanism on trial (a switch that ships off) is the
ensemble's rate with it switched on, beside the defaults' at the same N. Memory is measured in fresh child processes, so one figure does not inherit
the heap of another. Everything runs on one core: the child processes pin BLAS and OpenMP to one thread. The
start-up is timed in fresh processes too: compiling the rules into an empty numba cache, then from the filled one.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from .memory import peak_mb, resident_mb
from .resources import PACKAGE_PARENT

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}

# Targets of the speed issue, printed beside the measurements.
TARGETS = {
    "mesa_runs_per_s": 50.0,
    "ensemble_runs_per_s": 5000.0,  # issue 14's target is relative: 5x the numpy ensemble (tools/ab_speed.py)
    "ensemble_peak_rss_mb": 1024.0,
    "mesa_memory_growth_mb": 50.0,
}


# ------------------------------------------------------------------------------------------- the reference kernel
REFERENCE_VERSION = 1  # bump only with a new kernel: ratios are comparable only between equal versions


def reference_kernel(n: int = 1000, p: int = 34, days: int = 129, seed: int = 0) -> int:
    """A fixed small numpy model of this model's kind (N replicates x P provinces, float32, a daily loop of
    element-wise updates, a neighbour product, float32 expm1 and uniform draws), timed beside every measurement.

    The model's own speed changes with its code; this kernel's only with the machine and its load. So the ratio of
    a measured rate to the kernel's rate, taken in the same run, compares figures across days and machines, where
    absolute runs per second on a shared machine can halve from one hour to the next. Never change it: make a new
    version (REFERENCE_VERSION) instead."""
    import numpy as np

    rng = np.random.default_rng(seed)
    near = rng.random((p, p)) < 0.1
    adj = (near | near.T).astype(np.float32)
    control = np.zeros((n, p), np.float32)
    morale = np.full((n, p), 0.8, np.float32)
    held = np.ones((n, p), bool)
    for _ in range(days):
        u = rng.random((n, p), dtype=np.float32)
        pressure = control @ adj
        control += np.float32(0.01) * (1 - control) * (1 + np.float32(0.1) * pressure)
        np.minimum(control, 1, out=control)
        hazard = -np.expm1(np.float32(-0.02) * control / morale)
        fall = held & (u < hazard)
        held &= ~fall
        morale -= np.float32(0.01) * (fall.astype(np.float32) @ adj)
        np.clip(morale, 0.05, 1, out=morale)
    return int(held.sum())


def _time_once(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _median_rate(fn, runs_per_call: int, repeats: int, reference: list | None = None) -> tuple[float, list[float]]:
    """Median rate over repeats after a warm-up. With `reference` (a list), the reference kernel is timed after
    every repeat and its seconds appended there: interleaved, a slow spell falls on both."""
    fn()  # warm-up
    seconds = []
    for _ in range(repeats):
        seconds.append(_time_once(fn))
        if reference is not None:
            reference.append(_time_once(reference_kernel))
    return runs_per_call / statistics.median(seconds), seconds


def time_mesa(n_models: int, repeats: int, reference: list | None = None) -> dict:
    from .model import TerritoryModel
    from .world import default_world

    world = default_world()

    def batch():
        for seed in range(n_models):
            TerritoryModel(seed=seed, world=world).run()

    rate, seconds = _median_rate(batch, n_models, repeats, reference)
    return {"runs_per_s": rate, "ms_per_run": 1000.0 / rate, "repeats_s": seconds, "models_per_repeat": n_models}


def trial_switches() -> list[str]:
    """The mechanisms on trial: the switches that ship off."""
    from .params import Params

    return [name for name, spec in Params.spec().items() if spec["group"] == "switches" and spec["default"] is False]


def time_ensemble(n: int, repeats: int, calls: int = 1, reference: list | None = None, **changes) -> dict:
    from .ensemble import run_ensemble
    from .params import Params
    from .world import default_world

    world, params = default_world(), Params().replace(**changes)

    def batch():
        for k in range(calls):
            run_ensemble(params, n, seed=k, world=world)

    rate, seconds = _median_rate(batch, n * calls, repeats, reference)
    return {"runs_per_s": rate, "repeats_s": seconds, "n": n, "calls_per_repeat": calls}


def time_mechanisms(n: int, repeats: int) -> dict[str, float]:
    """The ensemble's rate with each mechanism on trial switched on, beside the defaults' and all of them on.

    The configurations are timed in turn within each repeat (not one after the other), so that a slow spell of a
    shared machine falls on all of them alike rather than on one: the differences are a few per cent.
    """
    from .ensemble import run_ensemble
    from .params import Params
    from .world import default_world

    world, trial = default_world(), trial_switches()
    configs = {"defaults": Params()}
    configs.update({name: Params().replace(**{name: True}) for name in trial})
    configs["all"] = Params().replace(**{k: True for k in trial})
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for params in configs.values():  # warm-up
        run_ensemble(params, n, seed=0, world=world)
    for _ in range(repeats):
        for name, params in configs.items():
            gc.collect()
            t0 = time.perf_counter()
            run_ensemble(params, n, seed=0, world=world)
            seconds[name].append(time.perf_counter() - t0)
    return {name: n / statistics.median(s) for name, s in seconds.items()}


def startup_job() -> dict:
    """Run in a fresh process: seconds to import the package, to make the first ensemble call (10 runs) and the
    first Mesa run: with an empty numba cache (NUMBA_CACHE_DIR) that is the compile time, with a filled one the
    warm start."""
    t0 = time.perf_counter()
    from .ensemble import run_ensemble
    from .model import TerritoryModel

    t1 = time.perf_counter()
    run_ensemble(n_runs=10, seed=1)
    t2 = time.perf_counter()
    TerritoryModel(seed=1).run()
    t3 = time.perf_counter()
    return {"import_s": t1 - t0, "first_ensemble_s": t2 - t1, "first_mesa_s": t3 - t2}


def startup(progress=print) -> dict:
    """The cold (empty numba cache) and the warm start, each in fresh processes sharing one temporary cache."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="afghan2021-numba-") as cache:
        progress("startup: compiling the rules into an empty cache (fresh process) ...")
        cold = _child("startup", 0, NUMBA_CACHE_DIR=cache)
        progress("startup: the same from the filled cache (fresh process) ...")
        warm = _child("startup", 0, NUMBA_CACHE_DIR=cache)
    return {"cold": cold, "warm": warm}


def memory_job(kind: str, n: int) -> dict:
    """Run in a fresh process: the peak RSS of n ensemble runs, or the growth of n Mesa models run in turn."""
    if kind == "startup":
        return startup_job()
    if kind == "ensemble":
        from .ensemble import run_ensemble

        before = peak_mb()
        t0 = time.perf_counter()
        r = run_ensemble(n_runs=n, seed=1)
        assert r.n_runs == n
        seconds = time.perf_counter() - t0
        # With the result still held, the resident set is at its peak: its split into the two kinds.
        return {"peak_rss_mb": peak_mb(), "peak_rss_before_mb": before, "seconds": seconds,
                "anonymous_mb": resident_mb("RssAnon"), "file_backed_mb": resident_mb("RssFile")}
    from .model import TerritoryModel
    from .world import default_world

    world = default_world()
    for seed in range(20):  # warm-up: imports, caches, first allocations
        TerritoryModel(seed=seed, world=world).run()
    gc.collect()
    start = resident_mb()
    t0 = time.perf_counter()
    for seed in range(n):
        TerritoryModel(seed=seed, world=world).run()
    gc.collect()
    return {"growth_mb": resident_mb() - start, "rss_start_mb": start, "seconds": time.perf_counter() - t0}


def _child(kind: str, n: int, **extra_env) -> dict:
    env = {**os.environ, **ONE_THREAD, **extra_env}
    # Started in the folder holding this sim package (checkout or site-packages), so the child imports the same copy.
    out = subprocess.run([sys.executable, "-m", "sim.bench", kind, str(n)], cwd=PACKAGE_PARENT, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def machine() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def run_benchmark(repeats: int = 5, mesa_models: int = 50, memory_runs: int = 100_000,
                  mesa_memory_models: int = 5000, cost_n: int = 2000, progress=print, startup_times: bool = True) -> dict:
    """Every figure of the speed issue. Call in a process started with ONE_THREAD set (see main)."""
    import mesa
    import numpy

    reference_kernel()  # warm-up
    ref: dict[str, list[float]] = {"mesa": [], "ensemble": []}
    progress(f"Mesa model: {mesa_models} runs x {repeats} repeats (each followed by the reference kernel) ...")
    m = time_mesa(mesa_models, repeats, ref["mesa"])
    ens = {}
    for n, calls in ((1, 50), (100, 5), (10_000, 1)):
        progress(f"ensemble, N = {n:,}: {calls} call(s) x {repeats} repeats ...")
        ens[n] = time_ensemble(n, repeats, calls, ref["ensemble"] if n == 10_000 else None)
    ref_rate = {k: 1.0 / statistics.median(v) for k, v in ref.items()}
    progress(f"the cost of each mechanism on trial: ensemble, N = {cost_n:,}, with it on ...")
    costs = time_mechanisms(cost_n, repeats)
    progress(f"peak memory of {memory_runs:,} ensemble runs (fresh process) ...")
    mem = _child("ensemble", memory_runs)
    progress(f"memory growth over {mesa_memory_models:,} Mesa models in one process (fresh process) ...")
    growth = _child("mesa", mesa_memory_models)
    start = startup(progress) if startup_times else None  # compiling from nothing takes up to a minute
    return {
        "mesa_runs_per_s": m["runs_per_s"],
        "mesa_ms_per_run": m["ms_per_run"],
        "ensemble_runs_per_s": ens[10_000]["runs_per_s"],
        "ensemble_runs_per_s_n1": ens[1]["runs_per_s"],
        "ensemble_runs_per_s_n100": ens[100]["runs_per_s"],
        "ensemble_runs_per_s_n10000": ens[10_000]["runs_per_s"],
        "ensemble_over_mesa": ens[10_000]["runs_per_s"] / m["runs_per_s"],
        # rates per reference-kernel call per second, the kernel timed between the repeats of the same measure
        "reference_version": REFERENCE_VERSION,
        "reference_calls_per_s": statistics.median(ref["mesa"] + ref["ensemble"]) ** -1,
        "mesa_per_reference": m["runs_per_s"] / ref_rate["mesa"],
        "ensemble_per_reference": ens[10_000]["runs_per_s"] / ref_rate["ensemble"],
        "ensemble_peak_rss_mb": mem["peak_rss_mb"],
        "ensemble_memory_runs": memory_runs,
        "ensemble_memory_seconds": mem["seconds"],
        "ensemble_anonymous_mb": mem["anonymous_mb"],
        "ensemble_file_backed_mb": mem["file_backed_mb"],
        "mesa_memory_growth_mb": growth["growth_mb"],
        "mesa_memory_models": mesa_memory_models,
        "mechanism_cost_n": cost_n,
        "startup": start,
        "mechanism_runs_per_s": costs,
        "repeats": repeats,
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "numpy": numpy.__version__,
        "machine": machine(),
        "details": {"mesa": m, "ensemble": {str(k): v for k, v in ens.items()}, "memory": mem, "growth": growth},
    }


def format_table(r: dict) -> str:
    t = TARGETS
    ok = lambda good: "yes" if good else "NO"  # noqa: E731
    rows = [
        ("Mesa model, one run after another", f"{r['mesa_runs_per_s']:,.0f} runs/s ({r['mesa_ms_per_run']:.1f} ms/run)",
         f">= {t['mesa_runs_per_s']:.0f} runs/s", ok(r["mesa_runs_per_s"] >= t["mesa_runs_per_s"])),
        ("ensemble, N = 1", f"{r['ensemble_runs_per_s_n1']:,.0f} runs/s", "", ""),
        ("ensemble, N = 100", f"{r['ensemble_runs_per_s_n100']:,.0f} runs/s", "", ""),
        ("ensemble, N = 10,000", f"{r['ensemble_runs_per_s_n10000']:,.0f} runs/s",
         f">= {t['ensemble_runs_per_s']:,.0f} runs/s", ok(r["ensemble_runs_per_s"] >= t["ensemble_runs_per_s"])),
        ("ensemble / Mesa (N = 10,000)", f"{r['ensemble_over_mesa']:,.0f} x", "", ""),
        (f"reference kernel v{r['reference_version']} (machine speed)", f"{r['reference_calls_per_s']:,.1f} calls/s",
         "", ""),
        ("Mesa runs per reference call", f"{r['mesa_per_reference']:,.2f}", "", ""),
        ("ensemble runs per reference call", f"{r['ensemble_per_reference']:,.0f}", "", ""),
        (f"peak RSS, {r['ensemble_memory_runs']:,} ensemble runs", f"{r['ensemble_peak_rss_mb']:,.0f} MB",
         f"< {t['ensemble_peak_rss_mb']:,.0f} MB", ok(r["ensemble_peak_rss_mb"] < t["ensemble_peak_rss_mb"])),
        ("  of which anonymous (arrays, heap) / file-backed (library code)",
         f"{r.get('ensemble_anonymous_mb', float('nan')):,.0f} / {r.get('ensemble_file_backed_mb', float('nan')):,.0f} MB",
         "", ""),
        (f"memory growth, {r['mesa_memory_models']:,} Mesa models", f"{r['mesa_memory_growth_mb']:+.1f} MB",
         f"< {t['mesa_memory_growth_mb']:.0f} MB", ok(r["mesa_memory_growth_mb"] < t["mesa_memory_growth_mb"])),
    ]
    w = [max(len(row[k]) for row in rows) for k in range(4)]
    head = ("measure", "measured", "target", "met")
    w = [max(a, len(b)) for a, b in zip(w, head)]
    line = lambda cells: "  ".join(c.ljust(n) for c, n in zip(cells, w)).rstrip()  # noqa: E731
    out = [line(head), line(["-" * n for n in w])] + [line(row) for row in rows]
    costs = r.get("mechanism_runs_per_s")
    if costs:
        base = costs["defaults"]
        out.append(f"\nthe cost of each mechanism on trial (ships off): ensemble, N = {r['mechanism_cost_n']:,}, with it on")
        width = max(map(len, costs))
        for name, rate in costs.items():
            note = "" if name == "defaults" else f"  {100 * (base / rate - 1):+.0f} % time per run"
            out.append(f"  {name:<{width}}  {rate:>7,.0f} runs/s{note}")
    st = r.get("startup")
    if st:
        out.append("")
        for label, k in (("cold (empty numba cache: compiling)", "cold"), ("warm (cache filled)", "warm")):
            f = st[k]
            out.append(f"start, {label}: import {f['import_s']:.1f} s, first ensemble call "
                       f"{f['first_ensemble_s']:.1f} s, first Mesa run {f['first_mesa_s']:.1f} s")
    mc = r["machine"]
    out.append(f"\nmedian of {r['repeats']} repeats after a warm-up, GC enabled as in Mesa's benchmarks, one thread; "
               f"Python {r['python']}, Mesa {r['mesa']}, numpy {r['numpy']}; {mc['cpu']}, {mc['cores']} cores")
    return "\n".join(out)


if __name__ == "__main__":  # the child process of memory_job
    print(json.dumps(memory_job(sys.argv[1], int(sys.argv[2]))))
