"""Does the machine code LLVM is asked for explain the ensemble's speed on this processor?

    python tools/cpu_targets.py                       # host, haswell, znver3, the host without AVX, and the
                                                      # host with LLVM's auto-vectorisers off (scalar code)
    python tools/cpu_targets.py --names skylake-avx512 --repeats 3

Times the compiled ensemble (N = 10,000, default parameters, median of the repeats) in a fresh process per
target: compiled for the host, for each named CPU (NUMBA_CPU_NAME, the host's features), and for the host with
every AVX feature turned off (NUMBA_CPU_FEATURES: 128-bit SSE only), and for the host with numba's loop and SLP
vectorisers off (NUMBA_LOOP_VECTORIZE=0, NUMBA_SLP_VECTORIZE=0: how much the SIMD code is worth here). Each target
compiles once into numba's cache (tens of seconds) before it is timed; the timing itself excludes the compile.
The scalar target compiles into a cache folder of its own, because numba's cache key names the CPU and its
features but not the vectorisers. Run it on an idle machine.

Read the SSE-only figure with the processor in mind: Zen 1 (LLVM's "znver1") executes each 256-bit AVX2
instruction as two 128-bit halves, so there SSE and AVX2 give about the same throughput and the figure says
nothing about wider vectors; the scalar target does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
from sim.bench import ONE_THREAD  # noqa: E402  (the benchmark's pinning: one BLAS/OpenMP thread per process)

CHILD = """
import json
from sim.bench import time_ensemble
from sim.ensemble import run_ensemble
from sim.params import Params
from sim.world import default_world
run_ensemble(Params(), 100, seed=0, world=default_world())  # compile, or load from the cache, outside the timing
r = time_ensemble(10_000, {repeats})
print(json.dumps(r["runs_per_s"]))
"""


def features_without_avx() -> str:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    features = llvm.get_host_cpu_features()
    for name in list(features):
        if name.startswith("avx") or name in ("fma", "f16c", "vaes", "vpclmulqdq"):
            features[name] = False
    return features.flatten()


def rate(env: dict, repeats: int) -> float:
    r = subprocess.run([sys.executable, "-c", CHILD.format(repeats=repeats)], cwd=HERE, capture_output=True,
                       text=True, env={**os.environ, **ONE_THREAD, **env})
    if r.returncode != 0:
        raise SystemExit(f"error: the timing failed with {env}:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", default="haswell,znver3", help="CPU names for NUMBA_CPU_NAME, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per target (default 5)")
    args = parser.parse_args()
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    targets = {f"host ({llvm.get_host_cpu_name()})": {}}
    targets.update({name: {"NUMBA_CPU_NAME": name} for name in args.names.split(",") if name})
    targets["host without AVX (SSE only)"] = {"NUMBA_CPU_FEATURES": features_without_avx()}
    with tempfile.TemporaryDirectory(prefix="scalar-cache-") as scalar_cache:
        targets["host, no auto-vectorisation"] = {"NUMBA_LOOP_VECTORIZE": "0", "NUMBA_SLP_VECTORIZE": "0",
                                                  "NUMBA_CACHE_DIR": scalar_cache}
        host = None
        for label, env in targets.items():
            r = rate(env, args.repeats)
            host = host or r
            print(f"{label:32s} {r:8,.0f} runs/s  {r / host:5.2f} x the host's", flush=True)


if __name__ == "__main__":
    main()
