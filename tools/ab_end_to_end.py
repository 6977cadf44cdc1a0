"""End-to-end wall time of one command in this checkout and in another one, interleaved, in fresh processes.

    git worktree add /tmp/previous <commit>
    python tools/ab_end_to_end.py /tmp/previous                        # sweep lhs-1000, 2 rounds
    python tools/ab_end_to_end.py /tmp/previous --rounds 3 --command validate   # any run.py command

Each round runs the other checkout's `python run.py COMMAND --out FRESH --quiet`, then this one's, each writing
into a new temporary folder that is removed afterwards (so neither skips stored work), with the wall time taken
around the whole process: start-up, imports, worker processes and the final summary included, as a user waits
for it. Interleaving puts a slow spell of a shared machine on both sides. Prints each time, the medians and their
ratio. Both checkouts run with this interpreter: the other one must work with the packages installed here.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def timed_run(checkout: Path, command: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="ab-end-to-end-") as tmp:
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "run.py", *command, "--out", str(Path(tmp) / "out"), "--quiet"],
                              cwd=checkout, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{checkout}: `run.py {' '.join(command)}` failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("other", type=Path, help="the other checkout (a folder holding run.py)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--command", default="sweep lhs-1000",
                    help='the run.py command and its arguments, quoted (default: "sweep lhs-1000")')
    args = ap.parse_args()
    args.command = shlex.split(args.command)
    if not (args.other / "run.py").is_file():
        sys.exit(f"{args.other}: no run.py there; give a checkout of this project")
    times: dict[str, list[float]] = {"other": [], "this": []}
    for k in range(args.rounds):
        for side, checkout in (("other", args.other), ("this", HERE)):
            times[side].append(timed_run(checkout, args.command))
            print(f"round {k + 1}: {side} ({checkout}) {times[side][-1]:.1f} s", flush=True)
    other, this = statistics.median(times["other"]), statistics.median(times["this"])
    print(f"`run.py {' '.join(args.command)}`: other {other:.1f} s, this {this:.1f} s (medians of {args.rounds}); "
          f"this is {other / this:.2f} x as fast")


if __name__ == "__main__":
    main()
