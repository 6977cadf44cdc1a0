#!/usr/bin/env python3
"""Command line of the Afghanistan 2021 territorial-control model: parse the arguments and dispatch.

    python run.py                       run the baseline scenario and compare it with what happened
    python run.py run SCENARIO          run a scenario (a name in scenarios/ or a path to a .toml file)
    python run.py scenarios             list the scenarios with their one-line descriptions
    python run.py compare A B ...       compare scenarios with common random numbers
    python run.py sweep SWEEP           run a sweep of parameter points (local pool or Dask), resumable
    python run.py plot RESULTS_DIR ...  figures and report.html from stored results
    python run.py app                   the interactive app (Mesa SolaraViz) on 127.0.0.1
    python run.py sensitivity SCENARIO  global sensitivity (SALib Sobol' or Morris) over the Params bounds
    python run.py calibrate SCENARIO    fit the global parameters (Optuna), with held-out validation
    python run.py bench                 benchmark: runs per second (Mesa model, ensemble) and peak memory
    python run.py params                list every model parameter with its unit, default, bounds and source
    python run.py COMMAND --help        a command's options
"""

from __future__ import annotations

import argparse
import json
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Where results go by default: the checkout's results/ when run from a checkout (run.py), else ./results in the
# working folder (the installed `afghan2021` command, or `python -m sim`).
RESULTS = REPO / "results" if (REPO / "pyproject.toml").is_file() and (REPO / "sim" / "cli.py").is_file() \
    else Path.cwd() / "results"
DEFAULT_SCENARIO = "baseline"

EPILOG = """\
output (results/<scenario name>/ or --out DIR, replaced whole only when every file is written):
  manifest.json       who wrote it and what it holds, the run's full definition (scenario file, runs, seed, chunk
                      size, dates, engine, parameters, data checksums), git commit, package versions, and the
                      SHA-256 of each table (checked before a stored result is reused or plotted)
  fall_days.parquet   one row per run and province: run_id, seed, province, fell_on (null = held), fall_how
  metrics.json        every score of the comparison with the observed record, and the null models
  held.png            capitals held over time: ensemble median and bands against the observed steps

--out must be a new or empty folder, or one this command wrote before (--force: one of another kind this project
wrote); a folder with anything else in it is never touched. One writer per folder at a time.
Scenario files and their event kinds: scenarios/README.md. The model: docs/ODD.md. The data: data/README.md.
"""


class UserError(Exception):
    """A problem with what the user gave us: reported in one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: handled like Ctrl-C, so every command stops the same tidy way."""


class CliParser(argparse.ArgumentParser):
    """argparse with its errors on one line (usage is one `--help` away)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


MAX_RUNS = 10_000_000  # as a scenario file's replicates (sim/scenario.py MAX_REPLICATES)
MAX_SEED = 2**63 - 1  # one rule for every seed, on the command line and in files (sim/scenario.py MAX_SEED)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def positive_int(text: str, most: int = MAX_RUNS) -> int:
    v = _whole(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    if v > most:
        raise argparse.ArgumentTypeError(f"at most {most:,}, got {v:,}")
    return v


def count(text: str) -> int:
    """A whole number >= 0 (0 switches the option off)."""
    v = _whole(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {v}")
    return 0 if v == 0 else positive_int(text)


def seed_int(text: str) -> int:
    v = _whole(text)
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is a whole number from 0 to 2^63 - 1 ({MAX_SEED}), got {v}")
    return v


def port_int(text: str) -> int:
    return positive_int(text, 65535)


def seconds(text: str) -> float:
    v = _number(text)
    if not (0 <= v <= 3600):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"allowed 0 to 3600 seconds, got {text}")
    return v


def share(text: str) -> float:
    v = _number(text)
    if not (0 < v < 1):
        raise argparse.ArgumentTypeError(f"allowed strictly between 0 and 1, got {text}")
    return v


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD") from None


# Options that may come before the command name (run.py --runs 5 compare A B): they are moved after it, so the
# command either takes them or refuses them in one line, never ignores them.
OPTIONS_WITH_VALUE = ("--runs", "--seed", "--start", "--out", "--engine", "--chunk-size", "--data", "--set")
FLAG_OPTIONS = ("--quiet", "--force", "--yes")


def hoist_options(argv: list[str], commands) -> list[str]:
    """`--runs 5 compare A B` -> `compare A B --runs 5`; anything else is left as it is for argparse."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in commands:
            return [token, *argv[i + 1:], *argv[:i]] if i else argv
        if token.startswith("--") and "=" in token and token.split("=")[0] in OPTIONS_WITH_VALUE:
            i += 1
        elif token in OPTIONS_WITH_VALUE:
            i += 2
        elif token in FLAG_OPTIONS:
            i += 1
        else:
            break
    return argv


def add_safety_options(p: argparse.ArgumentParser, on_subcommand: bool = False) -> None:
    default = argparse.SUPPRESS if on_subcommand else False
    p.add_argument("--force", action="store_true", default=default,
                   help="replace results of another kind in --out (never a folder this project did not write)")
    p.add_argument("--yes", action="store_true", default=default,
                   help="start a job estimated to take more than an hour without asking")


def add_run_options(p: argparse.ArgumentParser, on_subcommand: bool = False) -> None:
    """The run options, accepted before or after the command name. On a subcommand their defaults are
    suppressed, so `run.py --runs 5 run baseline` keeps the 5 (argparse would otherwise reset it)."""
    default = (lambda v: argparse.SUPPRESS) if on_subcommand else (lambda v: v)  # noqa: E731
    p.add_argument("--runs", type=positive_int, default=default(None), metavar="N",
                   help="number of replicate runs (default: the scenario's replicates, 1,000 for the baseline)")
    p.add_argument("--seed", type=seed_int, default=default(None), metavar="S",
                   help="root seed, 0 to 2^63 - 1; the same seed gives the same results (default: the scenario's)")
    p.add_argument("--start", type=iso_date, default=default(None), metavar="DATE",
                   help="start on this date (2021-05-01 to 2021-08-15) seeded from the record as of that "
                        "morning (default: the scenario's start)")
    p.add_argument("--out", type=Path, default=default(None), metavar="DIR",
                   help="folder to write the results to (default results/<scenario name>)")
    p.add_argument("--engine", choices=("ensemble", "mesa"), default=default("ensemble"),
                   help="'ensemble' advances all runs at once (fast); 'mesa' runs one Mesa model after another "
                        "(the object view, about 15 ms a run). Same rules, same seeds per run with --chunk-size 1")
    p.add_argument("--chunk-size", type=positive_int, default=default(None), metavar="N",
                   help="replicates sharing one random stream in the ensemble path (default 1000)")
    p.add_argument("--data", type=Path, default=default(None), metavar="DIR",
                   help="read the data files from DIR instead of data/ (for example an alternative coding)")
    p.add_argument("--set", action="append", default=default([]), metavar="NAME=VALUE", dest="settings",
                   help="set a parameter on top of the scenario's, e.g. --set supply_stocks=true to run with a "
                        "mechanism on trial (repeatable; switches take true/false; `python run.py params` lists the "
                        "names and bounds); the results' manifest records every parameter")
    p.add_argument("--quiet", action="store_true", default=default(False),
                   help="print only the tables, no progress bar")
    add_safety_options(p, on_subcommand)


def add_executor_options(p: argparse.ArgumentParser, out_help: str) -> None:
    """Where a many-run command runs and writes: shared by sweep, calibrate and sensitivity."""
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: one per core; 1 runs in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="'local' for a Dask LocalCluster on loopback, or tcp://HOST:PORT of a running Dask scheduler")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help=out_help)
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="read the data files from DIR instead of data/ (every worker reads the same; on a Dask "
                        "cluster the folder must exist at the same path on every machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_safety_options(p)


def _prog_name() -> str:
    """The name the user typed: run.py from a checkout, `python -m sim`, or the installed afghan2021."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if name == "__main__.py":
        return "python -m sim"
    return name if name in ("run.py", "afghan2021") else "run.py"


def _invocation() -> str:
    """How the user calls this command line, for the hints it prints: python run.py, afghan2021 or python -m sim."""
    name = _prog_name()
    return "python run.py" if name == "run.py" else name


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog=_prog_name(),
        description="Agent-based model of territorial control in Afghanistan, 1 May - 6 September 2021. "
                    "With no command, runs the baseline scenario and prints the simulated fall of the 34 "
                    "provincial capitals beside the observed record and simple null models.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario and compare it with the observed record",
                         epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", metavar="SCENARIO", help="a scenario name (scenarios/NAME.toml) or a .toml path")
    add_run_options(run, on_subcommand=True)

    base = sub.add_parser("baseline", help="run the baseline scenario (the default when no command is given)",
                          epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(base, on_subcommand=True)

    sub.add_parser("scenarios", help="list the scenarios in scenarios/ with their one-line descriptions")

    cmp = sub.add_parser(
        "compare", help="compare scenarios with common random numbers",
        description="Runs (or reads the stored results of) several scenarios with the same seed and number of "
                    "runs, so that run i of each draws the same random numbers, and prints Kabul's fall date, "
                    "the capitals held on 31 August and tau-b against the observed order, each with its "
                    "difference from the first scenario and a 95 % interval on that difference.")
    cmp.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="two or more scenario names or paths")
    cmp.add_argument("--runs", type=positive_int, default=None, metavar="N",
                     help="runs per scenario (default: the first scenario's replicates)")
    cmp.add_argument("--seed", type=seed_int, default=None, metavar="S", help="root seed (default: the first's)")
    cmp.add_argument("--rerun", action="store_true",
                     help="run every scenario again instead of reading matching stored results")
    cmp.add_argument("--results", type=Path, default=RESULTS, metavar="DIR",
                     help="where stored runs are looked for, as DIR/<scenario name> (default results/). A stored "
                          "run is read only if it is the very run compare would make (same scenario file, runs, "
                          "seed, chunk size, start, data and a clean checkout of the same commit) and every table "
                          "matches its checksum; otherwise it is run again")
    cmp.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                     help="set a parameter in every scenario compared, e.g. --set supply_stocks=true to see the "
                          "what-ifs with a mechanism on trial switched on (repeatable; switches take true/false; "
                          "`python run.py params` lists the names and bounds)")
    cmp.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="also write the comparison into DIR: compare.txt (the table), comparison.csv (outcomes, "
                          "differences and their 95 %% interval bounds), per_run.parquet (each run's outcomes), "
                          "comparison.png/.svg (held curves and fall orders overlaid, the paired differences, each "
                          "scenario's dated events) and report.html. Without it nothing is written")
    cmp.add_argument("--force", action="store_true", help="let --out replace results of another kind")
    cmp.add_argument("--data", type=Path, default=None, metavar="DIR", help="read the data files from DIR")
    cmp.add_argument("--quiet", action="store_true", help="no progress bars")
    cmp.add_argument("--yes", action="store_true", help="start a comparison estimated to take over an hour")

    sw = sub.add_parser(
        "sweep", help="run a sweep: many parameter points, many replicates each, resumable",
        description="Runs the points of a sweep file (scenarios/sweeps/*.toml: a base scenario and [axes] or a "
                    "[design]) on a local process pool or a Dask cluster. Point ids and seeds are fixed before "
                    "anything runs, so the results are the same whatever the workers or executor. Finished points "
                    "are written as they come; started again on the same folder, a sweep skips them.",
        epilog="results/<sweep name>/: manifest.json, points.parquet (point_id, seed, parameter values), "
               "runs.parquet/ (run_id, point_id, seed and per-run metrics) and fall_days.parquet/ (long form), "
               "failed.json (points that raised, with their error). Dask: --scheduler local starts a "
               "LocalCluster on 127.0.0.1; --scheduler tcp://HOST:8786 uses a running scheduler (README).")
    sw.add_argument("sweep", metavar="SWEEP", help="a sweep name (scenarios/sweeps/NAME.toml) or a .toml path")
    add_executor_options(sw, "results folder (default results/<name>)")
    sw.add_argument("--flush-seconds", type=seconds, default=2.0, metavar="S",
                    help="write finished points at least this often (default 2; 0 = after every point)")

    pl = sub.add_parser(
        "plot", help="figures and report.html from stored results (never re-runs the model)",
        description="Writes PNG and SVG figures and a report.html next to the stored results: for a scenario "
                    "run, the fall-day distributions, capitals held over time, two maps and the metrics against "
                    "the null models; for a sweep, each metric against each parameter and heatmaps; for a "
                    "calibration, the ABC marginals and pairs and the loss over the trials. Given several run "
                    "folders, also a side-by-side comparison in --out.")
    pl.add_argument("folders", nargs="+", type=Path, metavar="RESULTS_DIR", help="results folder(s)")
    pl.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="where the comparison of several folders goes (default results/comparison)")
    pl.add_argument("--data", type=Path, default=None, metavar="DIR",
                    help="the data files the results were made with, if not data/ (checked against the manifest)")
    pl.add_argument("--force", action="store_true", help="replace results of another kind in --out")

    ca = sub.add_parser(
        "calibrate", help="fit the global parameters to the observed record (Optuna TPE), with held-out checks",
        description="Searches the calibrated Params (sim/calibrate.py CALIBRATED) over their bounds with Optuna's "
                    "TPE sampler; every trial runs an ensemble on the same seed. The study is stored in "
                    "study.db (SQLite) in the results folder, so an interrupted calibration resumes. Writes "
                    "calibrated.toml (a scenario file), calibration.json, and prints the loss per term, the fit in "
                    "and out of sample beside the null models, and the best point's spread over fresh seeds.")
    ca.add_argument("scenario", metavar="SCENARIO", help="the base scenario")
    ca.add_argument("--trials", type=positive_int, default=200, metavar="N", help="completed trials (default 200)")
    ca.add_argument("--replicates", type=positive_int, default=200, metavar="R", help="runs per trial (default 200)")
    ca.add_argument("--fit-until", type=iso_date, default=None, metavar="DATE",
                    help="fit only the capitals fallen by DATE (and LWJ figures before it); score the rest")
    ca.add_argument("--cv", type=count, default=4, metavar="K",
                    help="cross-validate over capitals in K folds and report the out-of-fold tau-b (default 4; "
                         "0 skips it; 2 up to the number of capitals)")
    ca.add_argument("--cv-trials", type=positive_int, default=100, metavar="N", help="trials per fold (default 100)")
    ca.add_argument("--abc", type=count, default=0, metavar="N",
                    help="also approximate the posterior by ABC rejection from N prior samples (e.g. 2000)")
    ca.add_argument("--abc-accept", type=share, default=0.05, metavar="Q",
                    help="share of the ABC samples accepted, those closest to the record (default 0.05)")
    ca.add_argument("--seed", type=seed_int, default=2021, metavar="S",
                    help="seed of the sampler and of the trials (0 to 2^63 - 1)")
    add_executor_options(ca, "results folder (default results/calibrate-<scenario>)")

    se = sub.add_parser(
        "sensitivity", help="global sensitivity (SALib Sobol' or Morris) of Kabul's date, tau-b, falls by 15 Aug",
        description="Samples the numeric Params over their bounds with SALib, runs the sample as a resumable "
                    "sweep (every point on the same seed: common random numbers), and prints and plots the "
                    "indices with 95 % confidence intervals for Kabul's fall day, tau-b against the observed "
                    "order and the capitals fallen by 15 August.")
    se.add_argument("scenario", metavar="SCENARIO", help="the base scenario")
    se.add_argument("--method", choices=("sobol", "morris"), default="sobol", help="default sobol")
    se.add_argument("--n", type=positive_int, default=None, metavar="N",
                    help="SALib base sample size (sobol: N x (D + 2) points, default 64; morris: N trajectories "
                         "of D + 1 points, default 20)")
    se.add_argument("--replicates", type=positive_int, default=50, metavar="R", help="runs per point (default 50)")
    se.add_argument("--seed", type=seed_int, default=2021, metavar="S",
                    help="seed of the sample and of the runs (0 to 2^63 - 1)")
    se.add_argument("--params", default=None, metavar="A,B,...",
                    help="only these parameters (default: every numeric parameter)")
    add_executor_options(se, "results folder (default results/sensitivity-<method>-<scenario>)")

    from sim.validate import COLUMNS, DEFAULT_BOOTSTRAP, DEFAULT_CUTOFFS, DEFAULT_REPLICATES, DEFAULT_RUNS, \
        DEFAULT_TRIALS

    va = sub.add_parser(
        "validate", help="rolling-origin validation: calibrate on what was known by each cut-off, forecast, score "
                         "against the null models with intervals",
        description="For each cut-off D: calibrate the global parameters on what was known by the end of the day "
                    "before (the falls, the LWJ figures published, that the others still held), forecast from D "
                    "with the calibrated and with the prior parameters (two root seeds), and score the capitals "
                    "still held at D against the distance nulls (road km, great-circle km, hops from Kabul) and "
                    "the timing null, each difference with a 90 % paired bootstrap interval over capitals; then "
                    "a pooled line. Resumable: started again on the same folder it skips the cut-offs done.",
        epilog=COLUMNS + "\n\nOutput (results/validate-<scenario>/): manifest.json, study.db, cutoffs/<D>.json and "
               ".npz, validation.json, validation.csv (one row per cut-off, variant, score and null), "
               "validation.png, report.html.", formatter_class=argparse.RawDescriptionHelpFormatter)
    va.add_argument("scenario", nargs="?", default="forecast", metavar="SCENARIO",
                    help="the scenario giving the parameters, events and end (default: forecast); its runs always "
                         "see the record as known at each cut-off")
    va.add_argument("--cutoffs", default=",".join(DEFAULT_CUTOFFS), metavar="D,D,...",
                    help="forecast dates, 2021-05-02 to 2021-08-15 (default: " + ", ".join(DEFAULT_CUTOFFS)
                         + "); 'none': the in-sample scorecard on all 34 with cross-validation over capitals")
    va.add_argument("--trials", type=positive_int, default=DEFAULT_TRIALS, metavar="N",
                    help=f"calibration trials per cut-off (default {DEFAULT_TRIALS}; more for a finer fit)")
    va.add_argument("--replicates", type=positive_int, default=DEFAULT_REPLICATES, metavar="R",
                    help=f"runs per calibration trial (default {DEFAULT_REPLICATES})")
    va.add_argument("--runs", type=positive_int, default=DEFAULT_RUNS, metavar="N",
                    help=f"runs per forecast (default {DEFAULT_RUNS})")
    va.add_argument("--seed", type=seed_int, default=20210501, metavar="S",
                    help="root seed; the second seed (seed noise) is derived from it")
    va.add_argument("--bootstrap", type=lambda t: positive_int(t, 100_000), default=DEFAULT_BOOTSTRAP, metavar="N",
                    help=f"bootstrap resamples of the capitals (default {DEFAULT_BOOTSTRAP:,})")
    va.add_argument("--cv", type=count, default=4, metavar="K",
                    help="with --cutoffs none: folds over the capitals, stratified by fall date (default 4)")
    add_executor_options(va, "results folder (default results/validate-<scenario>)")

    ap = sub.add_parser("app", help="serve the interactive app (Mesa SolaraViz) on 127.0.0.1",
                        description="Serves a page (Solara, Mesa's controller) for one run of a scenario: pick "
                                    "a shipped scenario or a *.toml scenario file in the working folder (its "
                                    "dates, start, dated events and parameters apply), play or step day by day "
                                    "on the map of each capital's control and each road's state and the "
                                    "capitals held against the observed curve; the parameters grouped, changes "
                                    "applied on Reset. One run per browser tab. Offline. Needs the optional "
                                    "extra: pip install -e \".[app]\"")
    ap.add_argument("--port", type=port_int, default=8765, help="port, 1-65535 (default 8765)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default 127.0.0.1, this machine only). The app has no "
                         "authentication: anything else lets every machine that can reach this one use it")

    bench = sub.add_parser("bench", help="benchmark: runs per second of the Mesa model and the ensemble, peak memory",
                           description="Times the baseline (the default parameters) on one core: the Mesa model one run "
                                       "after another, the ensemble at N = 1, 100 and 10,000, the cost of each "
                                       "mechanism on trial (the ensemble at N = 2,000 with its switch on), the "
                                       "peak memory of 100,000 ensemble runs and the memory growth over 5,000 "
                                       "Mesa models.")
    bench.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the figures as JSON")
    bench.add_argument("--repeats", type=positive_int, default=5, help="timed repeats per figure (default 5)")
    bench.add_argument("--quick", action="store_true",
                       help="fewer models and runs (a smoke test; the figures are then not the targets' measures)")
    par = sub.add_parser("params", help="list every model parameter: unit, default, bounds and where it comes from")
    par.add_argument("--markdown", action="store_true", help="print the table in Markdown (as in docs/ODD.md)")
    return parser


def _world(args):
    from sim.data import load_record
    from sim.world import build_world, default_world

    return build_world(load_record(args.data)) if getattr(args, "data", None) is not None else default_world()


def _data_dir(args) -> str | None:
    """The --data folder as workers should read it (an absolute path), None for the shipped data."""
    return str(args.data.resolve()) if getattr(args, "data", None) is not None else None


def _announce(note: str | None, args) -> None:
    if note and not getattr(args, "quiet", False):
        print(note, file=sys.stderr)


def cmd_run(args) -> int:
    from sim.scenario import load_scenario

    world = _world(args)
    as_filed = load_scenario(getattr(args, "scenario", DEFAULT_SCENARIO), world)
    # The rest after the scenario file is read: a wrong name or a broken file is refused in about half the time
    # (matplotlib, the ensemble and the scoring are not imported for an error).
    from sim import budget, folders
    from sim.experiment import describe_variant, run_scenario, variant, variant_folder_name, with_overrides
    from sim.store import run_definition, to_json, write_run

    scenario = with_overrides(as_filed, args.runs, args.seed, args.start)
    settings = parse_settings(getattr(args, "settings", None) or [])
    if settings:
        scenario = scenario.replace(params=_with_settings(scenario, settings))
    if args.engine == "mesa" and args.chunk_size not in (None, 1):
        raise UserError("--chunk-size applies to the ensemble engine; the Mesa engine runs one model per seed")
    changes = json.loads(to_json(variant(as_filed, scenario, args.engine, args.chunk_size)))
    # A variant gets a folder of its own by default (results/baseline-start-2021-08-12), never the file's run's.
    out = args.out if args.out is not None else RESULTS / variant_folder_name(scenario.name, changes)
    what = f"--runs {scenario.replicates:,}" if args.runs else f"{scenario.path}: key 'replicates' ({scenario.replicates:,})"
    note = budget.check(budget.for_run(what, scenario.replicates, args.engine), out, args.yes)

    with folders.writer_lock(out):
        if folders.check_target(out, "run", args.force):
            _refuse_another_run(out, scenario.name, changes, args.force,
                                RESULTS / variant_folder_name(scenario.name, changes))
        # Imported once the folder is ours: a busy or taken folder is refused without loading matplotlib.
        from sim.ensemble import observed_fall_days
        from sim.metrics import HeldBands, score_ensemble
        from sim.plots import held_over_time
        from sim.report import capital_table, district_table, fmt_seconds, metrics_table, patterns_table

        _announce(note, args)
        t0 = time.perf_counter()
        result = run_scenario(scenario, world, args.engine, args.chunk_size, progress=not args.quiet, daily=False)
        t_run = time.perf_counter() - t0
        scorecard = score_ensemble(result, world)
        title = (f"Capitals held, {scenario.name}: {result.n_runs:,} runs ({args.engine}), "
                 f"{scenario.start:%d %b} - {scenario.end:%d %b %Y}")
        held = result.held_count if result.held_count is not None else \
            HeldBands.from_fall_days(result.fall_day, result.start_day, result.end_day)
        fig, _ = held_over_time(held, result.start_day, observed_fall_days(world), world.n_provinces, title)
        definition = run_definition(scenario, result.n_runs, scenario.seed, result.chunk_size, args.engine, world)
        with folders.new_folder(out) as tmp:
            write_run(tmp, scenario.name, result, world, scorecard, figures={"held.png": fig},
                      extra_manifest={"engine": args.engine, "seconds_running": round(t_run, 3),
                                      "scenario_file": scenario.path, "scenario_text": scenario.text,
                                      "variant": changes,
                                      "interventions": [dict(kind=e.kind, on=e.on, **dict(e.args))
                                                        for e in scenario.events]},
                      definition=definition)
    import matplotlib.pyplot as plt

    plt.close(fig)
    elapsed = time.perf_counter() - t0

    print(f"{scenario.name}: {result.n_runs:,} runs ({args.engine} engine), {scenario.start} to {scenario.end}, "
          f"seed {scenario.seed}; simulated in {fmt_seconds(t_run)}")
    print(f"{scenario.summary}" + (" (the file's description)" if changes else ""))
    if changes:
        print(f"Changed from the file ({scenario.path}): {describe_variant(changes)}")
    print("Inputs: " + ("the record as it turned out (hindsight): a reconstruction, in sample by construction"
                        if scenario.hindsight else f"the record as known on the morning of {scenario.start}: a forecast"))
    seeding = getattr(result, "seeding", None)
    if seeding:
        print(f"Seeded start: {seeding['n_forced']} observed falls forced in the spin-up; effective sample size "
              f"{seeding['ess_share']:.1%} of the runs (smallest chunk {seeding['ess_share_min']:.1%})"
              + (f"; the weights collapsed in {seeding['collapsed_chunks']} chunk(s) and were tempered (power "
                 f"{seeding['beta_min']:.2f})" if seeding["collapsed_chunks"] else "")
              + (f"; {seeding['floored_kept']:.1f} forced falls per run the model gave almost no chance"
                 if seeding["floored_kept"] >= 0.05 else ""))
    print()
    print(capital_table(scorecard, result.end_day))
    print()
    n_scored = scorecard["n_scored_capitals"]
    what = "" if n_scored == world.n_provinces else ", those still held at the start: the nulls are scored on the same"
    print(f"Fit to the observed record ({n_scored} capitals{what})")
    print(metrics_table(scorecard))
    print()
    print(patterns_table(scorecard))
    districts = district_table(scorecard)
    if districts:
        print()
        print(districts)
    print(f"\nResults written to {out} ({fmt_seconds(elapsed)} in all). The model is described in docs/ODD.md "
          "(in the repository).")
    return 0


def _refuse_another_run(out: Path, name: str, changes: dict, force: bool, default: Path) -> None:
    """A run folder is replaced by the same run (the same scenario, changed the same way on the command line; the
    scenario file itself may have been edited), or with --force; never silently by a different run."""
    from sim import folders
    from sim.experiment import describe_variant

    meta = folders.read_manifest(out)
    if force or meta is None or meta.get("kind") != "run":
        return
    theirs = (meta.get("name"), meta.get("variant") or {})
    if theirs == (name, changes):
        return

    def what(n, ch):
        return f"`{n}`" + (f" with {describe_variant(ch)}" if ch else " as its file defines it")

    raise folders.FolderError(f"--out {out}: holds the run of {what(*theirs)}; this is the run of "
                              f"{what(name, changes)}. Give another --out" + ("" if default == out else
                              f" (this run's default is {default})") + ", or --force to replace it")


def cmd_scenarios(args) -> int:
    from sim.scenario import list_scenarios

    world = _world(args)
    rows = list_scenarios(world)
    width = max((len(s.name) for s in rows if not isinstance(s, Exception)), default=10)
    for s in rows:
        if isinstance(s, Exception):
            print(f"{'(invalid)':<{width}}  {s}")
        else:
            print(f"{s.name:<{width}}  {s.start:%d %b}-{s.end:%d %b}  {s.summary}")
    print(f"\nRun one with: {_invocation()} run NAME   (scenarios/README.md explains the file format)")
    return 0


def cmd_compare(args) -> int:
    from sim import budget, folders
    from sim.compare import compare_table, outcomes
    from sim.ensemble import DEFAULT_CHUNK
    from sim.experiment import run_scenario, variant, variant_folder_name, with_overrides
    from sim.scenario import load_scenario
    from sim.store import git_commit, run_definition, to_json

    if len(args.scenarios) < 2:
        raise UserError("compare needs at least two scenarios")
    world = _world(args)
    as_filed = [load_scenario(name, world) for name in args.scenarios]
    scenarios = list(as_filed)
    settings = parse_settings(args.settings)
    if settings:
        scenarios = [sc.replace(params=_with_settings(sc, settings)) for sc in scenarios]
        print("every scenario with " + ", ".join(f"{k} = {v}" for k, v in settings.items()), file=sys.stderr)
    runs = args.runs or scenarios[0].replicates
    seed = args.seed if args.seed is not None else scenarios[0].seed
    est = budget.for_run(f"--runs {runs:,} x {len(scenarios)} scenarios", runs * len(scenarios))
    _announce(budget.check(est, args.out, args.yes), args)
    if args.out is not None:  # refuse a bad --out before any run, not after
        with folders.writer_lock(args.out):
            folders.check_target(args.out, "comparison", args.force)
    commit = git_commit()
    rows, named = [], []
    for filed, sc in zip(as_filed, scenarios):
        sc = with_overrides(sc, runs, seed)
        result = None
        if not args.rerun:  # the stored run of this very variant: in its own folder, or in the scenario's
            definition = run_definition(sc, runs, seed, DEFAULT_CHUNK, "ensemble", world)
            own = args.results / variant_folder_name(sc.name, json.loads(to_json(variant(filed, sc))))
            for stored in dict.fromkeys([own, args.results / sc.name]):
                if result is None and stored.exists():
                    result = _stored_twin(stored, definition, commit, world, args)
        if result is None:
            if not args.quiet:
                print(f"running {sc.name} ({runs:,} runs, seed {seed}) ...", file=sys.stderr)
            result = run_scenario(sc, world, progress=not args.quiet)
        rows.append(outcomes(sc.name, result, world))
        named.append((sc, result))
    header = f"{len(rows)} scenarios, {runs:,} runs each, seed {seed} (common random numbers)"
    if settings:
        header += "; every scenario with " + ", ".join(f"{k} = {v}" for k, v in settings.items())
    table = compare_table(rows)
    print(header + "\n")
    print(table)
    if args.out is None:
        if not args.quiet:
            print("\n(add --out DIR to keep the table, each run's outcomes and a comparison figure)")
        return 0
    with folders.writer_lock(args.out):
        folders.check_target(args.out, "comparison", args.force)
        _write_comparison(args.out, header, table, rows, named, world, runs, seed, settings)
    print(f"\nComparison written to {args.out}: compare.txt, comparison.csv, per_run.parquet, comparison.png, "
          "report.html")
    return 0


def _write_comparison(out: Path, header: str, table: str, rows, named, world, runs: int, seed: int,
                      settings: dict) -> None:
    """The comparison folder, swapped in whole (call with its writer lock held): nothing half-written stays."""
    import html

    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    from sim import folders
    from sim.compare import overlay_figure, per_run_table, summary_csv
    from sim.store import stamp, write_json
    from sim.world import day_index

    title = (f"Scenarios compared: {', '.join(sc.name for sc, _ in named)} ({runs:,} runs each, seed {seed}, "
             "common random numbers)")
    fig, _ = overlay_figure([(sc.name, r, [(day_index(e.on), e.kind) for e in sc.events]) for sc, r in named],
                            world, paired=True, title=title)
    try:
        with folders.new_folder(out) as tmp:
            folders.write_text(tmp / "compare.txt", header + "\n\n" + table + "\n")
            folders.write_text(tmp / "comparison.csv", summary_csv(rows))
            with folders.atomic_path(tmp / "per_run.parquet") as part:
                pq.write_table(per_run_table(rows), part)
            fig.savefig(tmp / "comparison.png", dpi=110)
            fig.savefig(tmp / "comparison.svg")
            events = "".join(f"<li>{html.escape(sc.name)}: " + (", ".join(
                f"{html.escape(e.kind)} on {e.on:%d %b}" for e in sc.events) or "no dated events") + "</li>"
                for sc, _ in named)
            folders.write_text(tmp / "report.html", (
                f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<h1>Scenarios compared</h1><p>{html.escape(header)}</p><pre>{html.escape(table)}</pre>"
                f"<img src='comparison.png' style='max-width:100%'><h2>Dated events</h2><ul>{events}</ul>"))
            write_json(tmp / "manifest.json", {
                **stamp("comparison"), "name": out.name, "runs": runs, "seed": seed, "settings": settings,
                "scenarios": [{"name": sc.name, "file": sc.path, "scenario_text": sc.text,
                               "interventions": [dict(kind=e.kind, on=e.on, **dict(e.args)) for e in sc.events]}
                              for sc, _ in named]})
    finally:
        plt.close(fig)


def parse_settings(items: list[str]) -> dict:
    """--set NAME=VALUE items -> {name: value}, typed from Params.spec(); a bad item stops with one message."""
    from sim.params import Params

    spec = Params.spec()
    out = {}
    for item in items:
        name, eq, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name or not text:
            raise UserError(f"--set {item!r}: give NAME=VALUE, e.g. --set supply_stocks=true")
        if name not in spec:
            raise UserError(f"--set {item!r}: unknown parameter {name!r}; allowed: {', '.join(spec)}")
        if spec[name]["type"] == "bool":
            if text.lower() not in ("true", "false"):
                raise UserError(f"--set {item!r}: {name} is a switch: allowed true or false")
            out[name] = text.lower() == "true"
        else:
            try:
                out[name] = float(text)
            except ValueError:
                raise UserError(f"--set {item!r}: {name} takes a number, allowed {spec[name]['lo']} to "
                                f"{spec[name]['hi']} {spec[name]['unit']}") from None
    return out


def _with_settings(scenario, settings: dict):
    from sim.params import ParamsError

    try:
        return scenario.params.replace(**settings)
    except ParamsError as exc:
        raise UserError(f"--set: {exc}") from None


def _stored_twin(folder: Path, definition: dict, commit: str | None, world, args):
    """The stored result in `folder` if it is exactly the run compare would make (same definition, same clean
    commit, every table as written); None (with the reason, unless --quiet) otherwise."""
    import json

    from sim.store import ResultProblem, load_run, to_json

    if not folder.exists():
        return None
    try:
        meta, result = load_run(folder, world)
        stored = meta.get("definition") or {}
        wanted = json.loads(to_json(definition))
        differs = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
        if differs:
            raise ResultProblem(f"{folder}: a different run ({', '.join(differs)} differ)")
        if commit is None or commit.endswith("-dirty") or meta.get("git_commit") != commit:
            raise ResultProblem(f"{folder}: made with other code (commit {meta.get('git_commit')}, now {commit})")
    except ResultProblem as exc:
        if not args.quiet:
            print(f"not reusing {exc}; running it again", file=sys.stderr)
        return None
    if not args.quiet:
        print(f"reading the stored results of {folder.name} (same run, checksums verified)", file=sys.stderr)
    return result


def _close_on_exit(close):
    """Run close(kill=True) if the block is left by an interrupt, close() otherwise."""
    from contextlib import contextmanager

    @contextmanager
    def managed():
        try:
            yield
        except BaseException:  # an interrupt or an error: stop the workers now rather than wait for them
            close(kill=True)
            raise
        close()

    return managed()


def cmd_sweep(args) -> int:
    from sim import budget, folders
    from sim.executors import local_worker_peaks_mb
    from sim.memory import peak_mb
    from sim.report import fmt_seconds
    from sim.sweep import load_sweep, make_executor, run_sweep, summary

    world = _world(args)
    sweep = load_sweep(args.sweep, world)
    out = args.out if args.out is not None else RESULTS / sweep.name
    workers = 1 if args.scheduler is None and args.workers == 1 else (args.workers or os.cpu_count() or 1)
    est = budget.for_points(f"{sweep.path}: {len(sweep.points):,} points x {sweep.replicates:,} replicates",
                            len(sweep.points), sweep.replicates, workers)
    note = budget.check(est, out, args.yes)
    with folders.writer_lock(out):
        folders.check_target(out, "sweep", args.force)
        where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{workers} local worker process(es)"
        print(f"{sweep.name}: {len(sweep.points):,} points x {sweep.replicates:,} replicates ({sweep.method}), "
              f"base scenario {sweep.scenario.name}, on {where}", file=sys.stderr)
        _announce(note, args)
        executor, close = make_executor(args.workers, args.scheduler)
        with _close_on_exit(close):
            outcome = run_sweep(sweep, out, executor, progress=not args.quiet, flush_seconds=args.flush_seconds,
                                force=args.force, data_dir=_data_dir(args))
            # Each figure the process's own peak (VmHWM), the workers' read while they live: getrusage's
            # ru_maxrss of a worker starts at this process's size when the worker started, not the worker's own.
            workers_peak = local_worker_peaks_mb(executor)
        runs = outcome.n_run * sweep.replicates
        print(f"{sweep.name}: {outcome.n_run:,} points run ({runs:,} runs) in {fmt_seconds(outcome.seconds)}"
              + (f", {runs / outcome.seconds:,.0f} runs/s" if outcome.seconds > 0 and runs else "")
              + f"; {outcome.n_skipped:,} already stored; {len(outcome.failed):,} failed")
        print(f"peak memory: this process {peak_mb():,.0f} MB"
              + (f", largest local worker {max(workers_peak):,.0f} MB" if workers_peak else ""))
        for k, err in sorted(outcome.failed.items())[:10]:
            print(f"  point {k} failed: {err}")
        print(f"results in {out}" + ("" if outcome.complete else " (incomplete: run the same command to retry)")
              + "\n")
        print(summary(out, sweep))
    return 1 if outcome.failed else 0


def cmd_plot(args) -> int:
    from sim import folders
    from sim.figures import plot_comparison, plot_folder
    from sim.store import ResultProblem

    world = _world(args)
    kinds = {}
    for folder in args.folders:
        if not folder.is_dir() or folder.is_symlink():
            raise UserError(f"{folder}: no such results folder")
        kinds[folder] = folders.folder_kind(folder)
        if kinds[folder] is None:
            raise UserError(f"{folder}: not a results folder of this project (no manifest.json written by it); "
                            "nothing was written")
    for folder in args.folders:
        with folders.writer_lock(folder):
            try:
                paths, note = plot_folder(folder, world)
            except ResultProblem as exc:
                raise UserError(f"cannot plot: {exc}") from None
        print(f"{folder}: {', '.join(p.name for p in paths)}" + (f" ({note})" if note else ""))
    runs = [f for f in args.folders if kinds[f] == "run"]
    if len(runs) > 1:
        out = args.out if args.out is not None else RESULTS / "comparison"
        with folders.writer_lock(out):
            folders.check_target(out, "comparison", args.force)
            try:
                paths = plot_comparison(runs, out, world)
            except ResultProblem as exc:
                raise UserError(f"cannot compare: {exc}") from None
        print(f"{out}: {', '.join(p.name for p in paths)}")
    return 0


def cmd_calibrate(args) -> int:
    import numpy as np

    from sim import budget, folders
    from sim import calibrate as cal
    from sim.data import WINDOW_FIRST
    from sim.params import Params
    from sim.report import fmt_num, fmt_seconds
    from sim.scenario import load_scenario, parse_scenario
    from sim.store import write_json
    from sim.sweep import make_executor

    world = _world(args)
    scenario = load_scenario(args.scenario, world)
    out = args.out if args.out is not None else RESULTS / f"calibrate-{scenario.name}"
    if args.fit_until is not None and not WINDOW_FIRST <= args.fit_until <= scenario.end:
        # (before the window the record as then known holds no withdrawal plan to run on)
        raise UserError(f"--fit-until {args.fit_until}: outside the window: allowed {WINDOW_FIRST} to "
                        f"{scenario.end} (the end of {scenario.name})")
    target = cal.target_until(world, args.fit_until)
    if target.fit.sum() < 3:
        raise UserError(f"--fit-until {args.fit_until}: fewer than three capitals had fallen by then")
    if args.cv and not 2 <= args.cv <= target.fit.sum():
        raise UserError(f"--cv {args.cv}: allowed 0 (no cross-validation) or 2 to {target.fit.sum()} folds "
                        "over the fitted capitals")
    workers = 1 if args.scheduler is None and args.workers == 1 else (args.workers or os.cpu_count() or 1)
    points = args.trials + (args.cv or 0) * args.cv_trials + args.abc + 5 * 2
    note = budget.check(budget.for_points(f"--trials {args.trials:,} (with --cv, --abc) x --replicates "
                                          f"{args.replicates:,}", points, args.replicates, workers, 0),
                        out, args.yes)
    t0 = time.perf_counter()
    with folders.writer_lock(out):
        cal.prepare_folder(out, scenario, args.fit_until, args.replicates, args.seed, world, args.force)
        _announce(note, args)
        executor, close = make_executor(args.workers, args.scheduler)
        batch = workers
        with _close_on_exit(close):
            study = cal.calibrate(scenario, world, out, executor, args.trials, args.replicates, args.seed, target,
                                  batch=batch, progress=not args.quiet, data_dir=_data_dir(args))
            best = study.best_params
            cv = None
            if args.cv:
                cv = cal.cross_validate(scenario, world, out, executor, args.cv, args.cv_trials, args.replicates,
                                        args.seed, batch, not args.quiet, data_dir=_data_dir(args), target=target)
            abc = None
            if args.abc:
                abc = cal.abc_posterior(scenario, executor, out, args.abc, args.abc_accept, args.replicates,
                                        args.seed, target, not args.quiet, data_dir=_data_dir(args))
        fresh = cal.fresh_seed_scores(scenario, world, best, args.replicates, args.seed, target)
        # The base scenario's own values, scored the same way: a reference, not a trial of the study.
        reference = cal.run_trial(({n: getattr(scenario.params, n) for n in cal.CALIBRATED}, scenario,
                                   args.replicates, args.seed, target, _data_dir(args)))
        no_better = reference["loss"] <= study.best_value
        spread = lambda key, part: (float(np.mean([f[part][key] for f in fresh])),  # noqa: E731
                                    float(np.std([f[part][key] for f in fresh])))
        completed = cal.completed_trials(study)
        summary = {"scenario": scenario.name, "trials": completed, "replicates": args.replicates,
                   "fit_until": args.fit_until.isoformat() if args.fit_until else None, "best_params": best,
                   "best_loss": study.best_value, "best_terms": study.best_trial.user_attrs, "fresh_seeds": fresh,
                   "base_scenario_loss": reference["loss"], "base_scenario_terms": reference["terms"],
                   "no_trial_beat_the_base_scenario": no_better, "cross_validation": cv, "abc": abc}
        note = (f"Optuna TPE, {completed} trials x {args.replicates} runs, fitted on "
                + (f"the capitals fallen by {args.fit_until}" if args.fit_until else "all 34 capitals") + "."
                + (f" No trial beat the base scenario's own values (loss {reference['loss']:.3f} against the best "
                   f"trial's {study.best_value:.3f}): these values are not an improvement on {scenario.name}."
                   if no_better else ""))
        text = cal.calibrated_toml(scenario, best, note)
        parse_scenario(text, out / "calibrated.toml", world)  # what we write, run.py run accepts as is
        folders.write_text(out / "calibrated.toml", text)
        write_json(out / "calibration.json", summary)

    print(f"{scenario.name}: {completed} trials x {args.replicates} runs in "
          f"{fmt_seconds(time.perf_counter() - t0)}; best loss {study.best_value:.3f} = "
          + " + ".join(f"{k} {v:.3f}/{cal.SCALES[k]:g}" for k, v in study.best_trial.user_attrs.items()))
    print(f"  the base scenario's own values score {reference['loss']:.3f} on the same loss"
          + (f": NO TRIAL DID BETTER; calibrated.toml is not an improvement on {scenario.name} (more --trials, or "
             "keep the scenario's values)" if no_better else ""))
    for part, label in (("in_sample", "in sample (fitted capitals)"), ("held_out", "held out")):
        if fresh[0][part] is None:
            continue
        m, sd = spread("tau_b_median_dates", part)
        m2, sd2 = spread("tau_b_median_run", part)
        nulls = fresh[0][part]["nulls_tau_b"]
        print(f"  {label}, {fresh[0][part]['n_capitals']} capitals, 5 fresh seeds: tau-b of median dates "
              f"{fmt_num(m)} +- {sd:.2f}, median run {fmt_num(m2)} +- {sd2:.2f}; nulls: "
              + ", ".join(f"{k} {fmt_num(v)}" for k, v in nulls.items()))
    if cv:
        insample = spread("tau_b_median_dates", "in_sample")[0]
        gap = insample - cv["out_of_fold_tau_b_median_dates"]
        print(f"  cross-validation ({cv['folds']} folds over the {cv['capitals']} fitted capitals, stratified by fall "
              f"date, {cv['trials_per_fold']} trials each): out-of-fold tau-b {cv['out_of_fold_tau_b_median_dates']:.2f}"
              f", against {insample:.2f} for the calibrated point in sample"
              + (" - a gap over 0.1: overfitting" if gap > 0.1 else ""))
    if abc:
        narrow = sorted(cal.CALIBRATED, key=lambda n: abc["posterior_sd"][n] / (Params.spec()[n]["hi"] - Params.spec()[n]["lo"]))
        print(f"  ABC: {abc['accepted']} of {abc['samples']} prior samples accepted (abc_samples.parquet, abc.png); "
              f"most constrained: " + ", ".join(f"{n} {abc['posterior_mean'][n]:.3g} +- {abc['posterior_sd'][n]:.2g}"
                                               for n in narrow[:4]))
    print(f"best parameters in {out / 'calibrated.toml'}: {_invocation()} run {out / 'calibrated.toml'}")
    return 0


def cmd_sensitivity(args) -> int:
    from sim import budget, folders
    from sim.report import fmt_seconds
    from sim.scenario import load_scenario
    from sim.sensitivity import analyse, bar_chart, build_sweep
    from sim.store import ResultProblem
    from sim.sweep import make_executor, run_sweep

    world = _world(args)
    scenario = load_scenario(args.scenario, world)
    n = args.n or (64 if args.method == "sobol" else 20)
    names = [x.strip() for x in args.params.split(",")] if args.params is not None else None
    sweep, prob, x = build_sweep(scenario, args.method, n, args.replicates, args.seed, names)
    out = args.out if args.out is not None else RESULTS / sweep.name
    workers = 1 if args.scheduler is None and args.workers == 1 else (args.workers or os.cpu_count() or 1)
    note = budget.check(budget.for_points(f"--n {n:,} ({len(x):,} points) x --replicates {args.replicates:,}",
                                          len(x), args.replicates, workers), out, args.yes)
    with folders.writer_lock(out):
        folders.check_target(out, "sensitivity", args.force)
        print(f"{args.method} sensitivity of {scenario.name}: {prob['num_vars']} parameters, {len(x):,} points x "
              f"{args.replicates} replicates = {len(x) * args.replicates:,} runs", file=sys.stderr)
        _announce(note, args)
        executor, close = make_executor(args.workers, args.scheduler)
        with _close_on_exit(close):
            outcome = run_sweep(sweep, out, executor, progress=not args.quiet, kind="sensitivity", force=args.force,
                                data_dir=_data_dir(args))
        if outcome.failed:
            raise UserError(f"{len(outcome.failed)} points failed (see {out / 'failed.json'}); run again to retry "
                            "them")
        try:
            table = analyse(out, args.method, prob, x, args.seed)
        except ResultProblem as exc:
            raise UserError(str(exc)) from None
        folders.write_text(out / "indices.csv", table.to_csv(index=False))
        key = "ST" if args.method == "sobol" else "mu_star"
        fig, _ = bar_chart(table, args.method, f"{args.method} sensitivity of {scenario.name}: {len(x):,} points x "
                                               f"{args.replicates} runs")
        folders.save_figure(fig, out / "indices.png", dpi=130, bbox_inches="tight")
        folders.save_figure(fig, out / "indices.svg", bbox_inches="tight")
        import matplotlib.pyplot as plt

        plt.close(fig)
    print(f"{len(x):,} points ({outcome.n_skipped:,} already stored) in {fmt_seconds(outcome.seconds)}; "
          f"indices in {out / 'indices.csv'} and indices.png\n")
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_rows", 500):
        for output in table["output"].unique():
            t = table[table["output"] == output].sort_values(key, ascending=False).head(10)
            if t[key].isna().all():
                print(f"{output}: the same at every point of this sample, so its indices are undefined\n")
                continue
            print(f"{output}: the ten largest by {key}")
            print(t.drop(columns="output").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            print()
    return 0


APP_ENV = {"SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false", "SOLARA_ASSETS_PROXY": "true", "MPLBACKEND": "Agg"}
APP_MODULE = "sim.app"  # served by module name: the sim/app.py of this very sim package (PYTHONPATH below)
APP_STOP_SECONDS = 5  # how long the server gets to stop on SIGTERM before it is killed


def app_command(host: str, port: int) -> list[str]:
    # -P: the working folder (where the app looks for the user's scenario files) is not put on sys.path, so a
    # folder named sim/ there cannot stand in for the package.
    return [sys.executable, "-P", "-m", "solara", "run", APP_MODULE, "--host", host, "--port", str(port),
            "--production", "--no-open"]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """A child process's environment: this one with `extra`, and the folder holding this sim package first on its
    path, whether a checkout or site-packages, so the child imports the same package as this command."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    path = [package_parent, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(path)}


def app_env() -> dict[str, str]:
    """The server's environment (see child_env)."""
    return child_env(APP_ENV)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _die_with_parent(parent_pid: int | None = None):
    """preexec_fn of the app's server: on Linux the kernel sends it SIGTERM when run.py dies, however run.py ends
    (SIGKILL included). Elsewhere cmd_app's own cleanup is all there is."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        if parent_pid is not None and os.getppid() != parent_pid:  # run.py died before the prctl took effect
            os._exit(1)


def _stop_server(child: subprocess.Popen) -> None:
    """Stop the server and wait for it; a second Ctrl-C or SIGTERM meanwhile cannot cut this short."""
    import signal

    if child.poll() is not None:
        return
    names = [n for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {n: signal.signal(getattr(signal, n), signal.SIG_IGN) for n in names}
    try:
        child.terminate()
        try:
            child.wait(timeout=APP_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)


def cmd_app(args) -> int:
    import functools
    import importlib.util
    import signal

    missing = [m for m in ("solara", "solara_assets", "altair") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"the app needs the optional extra (missing {', '.join(missing)}): pip install -e \".[app]\"")
    if args.host not in LOOPBACK:
        print(f"warning: serving on {args.host}, not only this machine: the app has no authentication, so anyone "
              "who can reach this address can use it (and run the model on this machine)", file=sys.stderr)
    print(f"serving the app on http://{args.host}:{args.port}/ (Ctrl-C to stop)", file=sys.stderr)
    # Closing the terminal (SIGHUP) stops the server as Ctrl-C and SIGTERM do (main() handles SIGTERM).
    hangup = signal.signal(signal.SIGHUP, _terminate) if hasattr(signal, "SIGHUP") else None
    posix = {"preexec_fn": functools.partial(_die_with_parent, os.getpid())} if os.name == "posix" else {}
    try:
        # The working folder stays the user's: the app offers the scenario files found there.
        child = subprocess.Popen(app_command(args.host, args.port), env=app_env(), **posix)
        try:
            return child.wait()
        finally:  # however this ends (Ctrl-C, SIGTERM, SIGHUP, an error), the server goes with it
            _stop_server(child)
    finally:
        if hangup is not None:
            signal.signal(signal.SIGHUP, hangup)


def cmd_bench(args) -> int:
    from sim.bench import ONE_THREAD

    if args.json is not None:  # refused here, before a child is started for the measuring
        _check_own_file(args.json, "bench")
    if any(os.environ.get(k) != v for k, v in ONE_THREAD.items()):
        # Pin BLAS/OpenMP to one thread before numpy loads: re-run this command in a child with that set. The
        # command as main() was given it (not sys.argv: main() may be called from Python) and this very package.
        return subprocess.run([sys.executable, "-m", "sim", *args.argv], env=child_env(ONE_THREAD)).returncode
    from sim import folders
    from sim.bench import format_table, run_benchmark
    from sim.store import write_json

    sizes = dict(mesa_models=10, memory_runs=10_000, mesa_memory_models=200, cost_n=200) if args.quick else {}
    result = run_benchmark(repeats=args.repeats, progress=lambda msg: print(msg, file=sys.stderr), **sizes)
    print(format_table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.json, {"written_by": folders.OWNER, "kind": "bench", **result})
        print(f"\nfigures written to {args.json}")
    return 0


def _check_own_file(path: Path, kind: str) -> None:
    """A file an option names is replaced only if this project wrote it (a JSON of the same kind)."""
    import json

    from sim import folders

    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise UserError(f"--json {path}: not a plain file; it is left untouched")
    if path.exists():
        try:
            ours = json.loads(path.read_text(encoding="utf-8"))
            ours = isinstance(ours, dict) and ours.get("written_by") == folders.OWNER and ours.get("kind") == kind
        except (OSError, ValueError):
            ours = False
        if not ours:
            raise UserError(f"--json {path}: exists and was not written by `run.py {kind}`; it is left untouched. "
                            "Give a new file name")


def cmd_params(args) -> int:
    from sim.report import params_markdown, params_table

    print(params_markdown() if args.markdown else params_table())
    return 0


def _cutoffs(text: str, scenario) -> tuple:
    from sim.data import WINDOW_FIRST
    from sim.scenario import LATEST_START, MIN_DAYS

    if text.strip().lower() == "none":
        return ()
    out = []
    first, last = WINDOW_FIRST + dt.timedelta(days=1), min(LATEST_START, scenario.end - dt.timedelta(days=MIN_DAYS))
    for part in text.split(","):
        try:
            d = dt.date.fromisoformat(part.strip())
        except ValueError:
            raise UserError(f"--cutoffs: '{part.strip()}' is not a date YYYY-MM-DD (or give 'none')") from None
        if not first <= d <= last:
            raise UserError(f"--cutoffs: {d} is outside the window: allowed {first} to {last}")
        if d in out:
            raise UserError(f"--cutoffs: {d} is given twice")
        out.append(d)
    return tuple(sorted(out))


def cmd_validate(args) -> int:
    from sim import budget, folders
    from sim import validate as val
    from sim.report import fmt_seconds
    from sim.scenario import load_scenario
    from sim.sweep import make_executor

    world = _world(args)
    scenario = load_scenario(args.scenario, world)
    cutoffs = _cutoffs(args.cutoffs, scenario)
    protocol = val.Protocol(scenario, cutoffs, args.trials, args.replicates, args.runs, args.seed, args.bootstrap,
                            args.cv or 4)
    if not cutoffs and not 2 <= protocol.cv_folds <= world.n_provinces:
        raise UserError(f"--cv {args.cv}: allowed 2 to {world.n_provinces} folds over the capitals")
    out = args.out if args.out is not None else RESULTS / f"validate-{scenario.name}"
    workers = 1 if args.scheduler is None and args.workers == 1 else (args.workers or os.cpu_count() or 1)
    n = max(1, len(cutoffs))
    points = n * (args.trials + 5) + (0 if cutoffs else protocol.cv_folds * max(10, args.trials // 2))
    est = budget.for_points(f"{n} cut-off(s) x --trials {args.trials:,} x --replicates {args.replicates:,}", points,
                            args.replicates, workers, 0)
    est = budget.Estimate(est.what, est.runs + n * 4 * args.runs,
                          est.seconds + n * 4 * args.runs / budget.ENSEMBLE_RUNS_PER_SECOND, est.memory, est.disk)
    note = budget.check(est, out, args.yes)
    t0 = time.perf_counter()
    with folders.writer_lock(out):
        val.prepare_folder(out, protocol, world, args.force)
        _announce(note, args)
        executor, close = make_executor(args.workers, args.scheduler)
        with _close_on_exit(close):
            summary = val.run_validation(protocol, world, out, executor, workers, not args.quiet, _data_dir(args))
        what = (f"Rolling-origin validation of {scenario.name}: {len(cutoffs)} cut-offs" if cutoffs else
                f"In-sample scorecard of {scenario.name} with {protocol.cv_folds}-fold cross-validation")
        paths = val.write_report(out, summary, what)
    print(f"{what}; {args.trials} trials x {args.replicates} runs per calibration, {args.runs} runs per forecast, "
          f"seeds {protocol.seeds[0]} and {protocol.seeds[1]}; {fmt_seconds(time.perf_counter() - t0)}\n")
    print(val.format_tables(summary))
    print(f"\nresults in {out} ({', '.join(p.name for p in paths)}, validation.json, validation.csv)")
    return 0


COMMANDS = {None: cmd_run, "baseline": cmd_run, "run": cmd_run, "scenarios": cmd_scenarios,
            "compare": cmd_compare, "sweep": cmd_sweep, "plot": cmd_plot, "app": cmd_app, "sensitivity": cmd_sensitivity,
            "calibrate": cmd_calibrate, "bench": cmd_bench, "params": cmd_params, "validate": cmd_validate}


_TERMINATED = []


def _terminate(signum, frame):
    _TERMINATED.append(signum)
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal

    argv = hoist_options(list(sys.argv[1:] if argv is None else argv), [c for c in COMMANDS if c])
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as given, for a command that re-runs itself in a child (bench)
    from sim.budget import BudgetError
    from sim.data import DataError
    from sim.executors import ExecutorError, check_scheduler
    from sim.folders import FolderError
    from sim.params import ParamsError
    from sim.scenario import ScenarioError

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        check_scheduler(getattr(args, "scheduler", None))  # before any work: a bad address is a typo
        return COMMANDS[args.command](args)
    except (UserError, DataError, ParamsError, ScenarioError, FolderError, BudgetError, ExecutorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # e.g. the disk is full: nothing half-written was moved into place
        print(f"error: cannot write the results: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        what = "terminated" if _TERMINATED else "interrupted"
        stored = str(exc) if str(exc) else _nothing_written(args)
        print(f"{what}: {stored}", file=sys.stderr)
        return 143 if _TERMINATED else 130
    except Exception as exc:
        # A calibration that cannot go on (its study cannot be written, every trial fails): one line. Looked up,
        # not imported: only a command that imported sim.calibrate can raise it, and importing it costs the
        # other commands 0.8 s (it imports the compiled rules).
        calibrate = sys.modules.get("sim.calibrate")
        if calibrate is None or not isinstance(exc, calibrate.CalibrationError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def _nothing_written(args) -> str:
    if args.command == "calibrate":
        return "the trials finished so far are kept in study.db; run the same command again to resume"
    if args.command in (None, "run", "baseline"):
        return "the results folder was left as it was (results are moved into place only when complete)"
    return "nothing half-written was left"


if __name__ == "__main__":
    sys.exit(main())
