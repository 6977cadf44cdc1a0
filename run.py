#!/usr/bin/env python3
"""Command line of the Afghanistan 2021 territorial-control model: parse the arguments and dispatch.

    python run.py                 run the baseline (1 May - 6 Sep 2021) and compare it with what happened
    python run.py bench           benchmark: runs per second (Mesa model, ensemble) and peak memory
    python run.py params          list every model parameter with its unit, default, bounds and source
    python run.py --help          this help; `python run.py COMMAND --help` for a command's options
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent

BASELINE = {
    "name": "baseline",
    "runs": 1000,
    "seed": 20210501,
    "start": dt.date(2021, 5, 1),
    "end": dt.date(2021, 9, 6),
}

EPILOG = """\
output (results/<name>/, replaced whole only when every file is written):
  manifest.json       parameters, seeds, start and end, git commit, package versions, data checksums
  fall_days.parquet   one row per run and province: run_id, seed, province, fell_on (null = held), fall_how
  metrics.json        every score of the comparison with the observed record, and the null models
  held.png            capitals held over time: ensemble median and bands against the observed steps

The model is described in docs/ODD.md; the data and their sources in data/README.md.
"""


class UserError(Exception):
    """A problem with what the user gave us: reported in one line, exit code 2."""


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def add_run_options(p: argparse.ArgumentParser, on_subcommand: bool = False) -> None:
    """The run options, accepted before or after the command name. On a subcommand their defaults are
    suppressed, so `run.py --runs 5 baseline` keeps the 5 (argparse would otherwise reset it)."""
    default = (lambda v: argparse.SUPPRESS) if on_subcommand else (lambda v: v)  # noqa: E731
    p.add_argument("--runs", type=positive_int, default=default(BASELINE["runs"]), metavar="N",
                   help=f"number of replicate runs (default {BASELINE['runs']})")
    p.add_argument("--seed", type=int, default=default(BASELINE["seed"]), metavar="S",
                   help=f"root seed; the same seed gives the same results (default {BASELINE['seed']})")
    p.add_argument("--out", type=Path, default=default(None), metavar="DIR",
                   help="folder to write the results to (default results/baseline)")
    p.add_argument("--engine", choices=("ensemble", "mesa"), default=default("ensemble"),
                   help="'ensemble' advances all runs at once (fast); 'mesa' runs one Mesa model after another "
                        "(the object view, about 15 ms a run). Same rules, same seeds per run with --chunk-size 1")
    p.add_argument("--chunk-size", type=positive_int, default=default(None), metavar="N",
                   help="replicates sharing one random stream in the ensemble path (default 1000)")
    p.add_argument("--data", type=Path, default=default(None), metavar="DIR",
                   help="read the data files from DIR instead of data/ (for example an alternative coding)")
    p.add_argument("--quiet", action="store_true", default=default(False),
                   help="print only the tables, no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Agent-based model of territorial control in Afghanistan, 1 May - 6 September 2021. "
                    "With no command, runs the baseline and prints the simulated fall of the 34 provincial "
                    "capitals beside the observed record and simple null models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    base = sub.add_parser("baseline", help="run the baseline (the default when no command is given)",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(base, on_subcommand=True)
    bench = sub.add_parser("bench", help="benchmark: runs per second of the Mesa model and the ensemble, peak memory",
                           description="Times the baseline (every mechanism on) on one core: the Mesa model one run "
                                       "after another, the ensemble at N = 1, 100 and 10,000, the peak memory of "
                                       "100,000 ensemble runs and the memory growth over 5,000 Mesa models.")
    bench.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")
    bench.add_argument("--repeats", type=positive_int, default=5, help="timed repeats per figure (default 5)")
    bench.add_argument("--quick", action="store_true",
                       help="fewer models and runs (a smoke test; the figures are then not the targets' measures)")
    par = sub.add_parser("params", help="list every model parameter: unit, default, bounds and where it comes from")
    par.add_argument("--markdown", action="store_true", help="print the table in Markdown (as in docs/ODD.md)")
    return parser


def cmd_baseline(args) -> int:
    from sim.data import DataError  # noqa: F401  (imported here so --help stays fast)
    from sim.ensemble import DEFAULT_CHUNK, observed_fall_days, run_ensemble
    from sim.metrics import score_ensemble
    from sim.model import run_models
    from sim.params import Params
    from sim.plots import held_over_time
    from sim.report import capital_table, district_table, fmt_seconds, metrics_table
    from sim.store import write_run
    from sim.data import load_record
    from sim.world import build_world, default_world

    name = BASELINE["name"]
    out = args.out if args.out is not None else REPO / "results" / name
    world = build_world(load_record(args.data)) if args.data is not None else default_world()
    params = Params()
    t0 = time.perf_counter()
    progress = not args.quiet
    if args.engine == "mesa":
        if args.chunk_size not in (None, 1):
            raise UserError("--chunk-size applies to the ensemble engine; the Mesa engine runs one model per seed")
        result = run_models(params, args.runs, args.seed, BASELINE["start"], BASELINE["end"], world, progress)
    else:
        result = run_ensemble(params, args.runs, args.seed, BASELINE["start"], BASELINE["end"], world,
                              chunk_size=args.chunk_size or DEFAULT_CHUNK, progress=progress)
    t_run = time.perf_counter() - t0
    scorecard = score_ensemble(result, world)
    title = (f"Capitals held, {name}: {result.n_runs:,} runs ({args.engine}), "
             f"{BASELINE['start']:%d %b} - {BASELINE['end']:%d %b %Y}")
    fig, _ = held_over_time(result.held_count, result.start_day, observed_fall_days(world), world.n_provinces, title)
    write_run(out, name, result, world, scorecard, figures={"held.png": fig},
              extra_manifest={"engine": args.engine, "seconds_running": round(t_run, 3)})
    elapsed = time.perf_counter() - t0

    print(f"{name}: {result.n_runs:,} runs ({args.engine} engine), {BASELINE['start']} to {BASELINE['end']}, "
          f"seed {args.seed}; simulated in {fmt_seconds(t_run)}\n")
    print(capital_table(scorecard, result.end_day))
    print()
    print(f"Fit to the observed record ({scorecard['n_scored_capitals']} capitals)")
    print(metrics_table(scorecard))
    print()
    print(district_table(scorecard))
    print(f"\nResults written to {out} ({fmt_seconds(elapsed)} in all). The model is described in docs/ODD.md.")
    return 0


def cmd_bench(args) -> int:
    from sim.bench import ONE_THREAD

    if any(os.environ.get(k) != v for k, v in ONE_THREAD.items()):
        # Pin BLAS/OpenMP to one thread before numpy loads: re-run this command in a child with that set.
        child = subprocess.run([sys.executable, *sys.argv], env={**os.environ, **ONE_THREAD})
        return child.returncode
    from sim.bench import format_table, run_benchmark
    from sim.store import write_json

    sizes = dict(mesa_models=10, memory_runs=10_000, mesa_memory_models=200) if args.quick else {}
    result = run_benchmark(repeats=args.repeats, progress=lambda msg: print(msg, file=sys.stderr), **sizes)
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, result)
        print(f"\nfigures written to {args.json}")
    return 0


def cmd_params(args) -> int:
    from sim.report import params_markdown, params_table

    print(params_markdown() if args.markdown else params_table())
    return 0


COMMANDS = {None: cmd_baseline, "baseline": cmd_baseline, "bench": cmd_bench, "params": cmd_params}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sim.data import DataError
    from sim.params import ParamsError

    try:
        return COMMANDS[args.command](args)
    except (UserError, DataError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out names a file, or the disk is full: nothing was moved into place
        print(f"error: cannot write the results: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: nothing was written to results/", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
