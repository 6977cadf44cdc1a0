"""Where the compiled rules spend their time: a perf profile of the ensemble with numba's functions named.

    python tools/perf_kernels.py                  # N = 10,000, defaults; needs Linux perf (perf_event_paranoid <= 2)
    python tools/perf_kernels.py --all-on         # every mechanism on trial switched on
    python tools/perf_kernels.py --keep /tmp/pk   # keep perf.data, the perf map and each hot function's machine code

perf cannot name JIT code by itself. The child compiles the rules into a fresh cache folder (so that the object
code is at hand: one compile, tens of seconds), looks up where each compiled function was loaded, writes perf's
map file (/tmp/perf-PID.map), and runs the ensemble once under `perf record`. The report is each function's share
of the samples in compiled code; what LLVM inlined counts in its caller (_day inlines most rules). With --keep the
machine code of each function is written to FOLDER/code_NAME.bin and the sample counts per offset to
FOLDER/offsets.json, for `objdump -D -b binary -m i386:x86-64 FOLDER/code_NAME.bin`: that is how the scalar loops
of 3 December were found (a division per lane where a vector one was meant).
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def child(out: Path, all_on: bool, n: int) -> None:
    """Runs under perf: compile, write the perf map and the functions' table, run the ensemble."""
    import ctypes

    sys.path.insert(0, str(HERE))
    from sim import kernels
    from sim.bench import trial_switches
    from sim.ensemble import run_ensemble
    from sim.params import Params

    params = Params().replace(**{name: True for name in trial_switches()}) if all_on else Params()
    run_ensemble(params, n_runs=200, seed=0)  # compiles _run_block and everything it calls into one library
    library = next(iter(kernels._run_block.overloads.values())).library
    obj = out / "run_block.o"
    obj.write_bytes(library.serialize_using_object_code()[2][0])
    nm = subprocess.run(["nm", "-S", "--defined-only", str(obj)], capture_output=True, text=True, check=True).stdout
    table = []
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "TtWw":
            address = library.get_pointer_to_function(parts[3])
            if address:
                short = parts[3].split("B3v")[0].split("B2v")[0]
                for prefix in ("_ZN3sim7kernels", "_ZN3sim7f32math", "_ZN3sim7streams", "_ZN7cpython3sim7kernels"):
                    short = short.replace(prefix, "")
                table.append((address, int(parts[1], 16), short.lstrip("0123456789")))
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as f:
        for address, size, name in table:
            f.write(f"{address:x} {size:x} {name}\n")
    (out / "functions.json").write_text(json.dumps(table))
    for address, size, name in table:
        (out / f"code_{name}.bin").write_bytes(ctypes.string_at(address, size))
    run_ensemble(params, n_runs=n, seed=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all-on", action="store_true", help="every mechanism on trial switched on")
    ap.add_argument("--n", type=int, default=10_000, help="runs in the profiled ensemble (default 10,000)")
    ap.add_argument("--keep", type=Path, help="a new folder for perf.data, the machine code and the offsets")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.child, a.all_on, a.n)
    if a.keep is not None and a.keep.exists():
        raise SystemExit(f"error: --keep {a.keep} already exists; give a new folder")
    with tempfile.TemporaryDirectory(prefix="perf-kernels-") as tmp:
        out = a.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NUMBA_CACHE_DIR": str(out / "numba-cache"), "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1"}
        cmd = ["perf", "record", "-q", "-F", "4999", "-o", str(out / "perf.data"), sys.executable, __file__,
               "--child", str(out), "--n", str(a.n)] + (["--all-on"] if a.all_on else [])
        if subprocess.run(cmd, env=env).returncode != 0:
            raise SystemExit("error: perf record failed (is perf installed, and perf_event_paranoid <= 2?)")
        ips = subprocess.run(["perf", "script", "-i", str(out / "perf.data"), "-F", "ip"], capture_output=True,
                             text=True, check=True).stdout.split()
        table = sorted(tuple(row) for row in json.loads((out / "functions.json").read_text()))
        starts = [row[0] for row in table]
        by_function, by_offset = collections.Counter(), collections.Counter()
        for ip in map(lambda s: int(s, 16), ips):
            k = bisect.bisect_right(starts, ip) - 1
            if k >= 0 and ip < table[k][0] + table[k][1]:
                by_function[table[k][2]] += 1
                by_offset[f"{table[k][2]}+{ip - table[k][0]}"] += 1
        total = sum(by_function.values())
        print(f"{total:,} samples in compiled code ({len(ips):,} in all, the compile included)")
        for name, count in by_function.most_common():
            print(f"{100 * count / total:5.1f} %  {name}")
        (out / "offsets.json").write_text(json.dumps(by_offset))


if __name__ == "__main__":
    main()
