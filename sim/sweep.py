"""Scenario sweeps: an experiment design -> points with fixed ids and seeds -> any concurrent.futures Executor.

A sweep file (scenarios/sweeps/*.toml) names a base scenario and either `[axes]` (lists of values: the full grid)
or a `[design]` (`lhs`, `sobol` or `grid` over `[design.bounds]`, with a point count; scipy.stats.qmc), and the
replicates per point. Point ids and seeds are fixed before anything runs — point k gets the k-th child of
np.random.SeedSequence(seed).spawn(n_points) — and stored, so the results do not depend on the number of
workers, the executor, or the order in which points finish. A point's replicates run through the ensemble path.

Results (results/<sweep name>/, see sim/store.py): manifest.json, points.parquet, and the datasets
runs.parquet/ and fall_days.parquet/ (one part file per flush of finished points, each written atomically).
A sweep started again on the same folder skips the points already stored. A point that raises is recorded in
failed.json with its error, and the sweep goes on.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import uuid
import warnings
import time
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .ensemble import run_ensemble
from .metrics import censored, observed, run_metrics, seeded_capitals
from .params import Params, ParamsError
from .progress import progress_bar
from .resources import scenario_dir
from .scenario import Checker, Scenario, ScenarioError, load_scenario, read_text, read_toml, resolve, show
from .executors import InlineExecutor, make_executor  # noqa: F401 - re-exported for callers of sim.sweep
from .world import World, day_index, world_for

HELD_ON = dt.date(2021, 8, 31)
AUG15 = dt.date(2021, 8, 15)

SWEEP_DIR = scenario_dir() / "sweeps"  # the shipped sweeps (sim/resources.py)
TOP_KEYS = ("name", "description", "scenario", "replicates", "seed", "axes", "design")
DESIGN_KEYS = ("method", "points", "bounds", "seed")
METHODS = ("lhs", "sobol", "grid")
#: Points in one sweep (counted before any is laid out) and runs (points x replicates): beyond, a file is a typo.
MAX_POINTS = 100_000
MAX_SWEEP_REPLICATES = 1_000_000
MAX_SWEEP_RUNS = 1_000_000_000
RUN_METRICS = ("tau_b", "spearman", "mae_days", "curve_error", "kabul_error_days", "kabul_fall_day", "held_aug31",
               "fallen_by_aug15")


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    scenario: Scenario
    replicates: int
    seed: int
    parameters: tuple[str, ...]  # the swept Params fields
    points: tuple[dict, ...]  # point k's parameter values
    point_seeds: tuple[int, ...]
    method: str  # "axes" or the design method
    text: str
    path: str


# ------------------------------------------------------------------------------------------------- the file


def _points_from_design(c: Checker, design: dict, spec: dict, replicates: int
                        ) -> tuple[tuple[str, ...], list[dict], str]:
    c.unknown("design.", design, DESIGN_KEYS)
    method = design.get("method")
    if not isinstance(method, str) or method not in METHODS:
        c.fail("design.method", f"{show(method)} is not a design; allowed: {', '.join(METHODS)}")
    n = c.integer("design.points", design.get("points"), 1, MAX_POINTS)
    bounds = c.table("design.bounds", design.get("bounds", {}))
    if not bounds:
        c.fail("design.bounds", "give at least one parameter with [low, high]")
    names = tuple(bounds)
    lo, hi = [], []
    for name in names:
        key = f"design.bounds.{name}"
        if name not in spec:
            c.fail(key, "not a model parameter; allowed: " + ", ".join(spec))
        if spec[name]["type"] == "bool":
            c.fail(key, "a switch cannot be swept over bounds; use [axes] with [true, false]")
        pair = bounds[name]
        if not (isinstance(pair, list) and len(pair) == 2):
            c.fail(key, f"expected [low, high], got {show(pair)}")
        a = c.number(key, pair[0], spec[name]["lo"], spec[name]["hi"])
        b = c.number(key, pair[1], spec[name]["lo"], spec[name]["hi"])
        if not a < b:
            c.fail(key, f"low {a:g} must be below high {b:g}")
        lo.append(a)
        hi.append(b)
    seed = c.seed("design.seed", design.get("seed", 0))
    d = len(names)
    per_axis = max(2, round(n ** (1.0 / d)))
    n_points = per_axis**d if method == "grid" else n  # counted before anything is laid out
    if n_points > MAX_POINTS:
        c.fail("design.points", f"a grid of {per_axis} values on each of {d} parameters is {n_points:,} points; "
                                f"allowed: at most {MAX_POINTS:,} (fewer points or fewer parameters)")
    _check_runs(c, n_points, replicates, "design.points")
    from scipy.stats import qmc  # here, not at the top: the worker processes import this module, and need no qmc

    if method == "lhs":
        unit = qmc.LatinHypercube(d=d, seed=seed).random(n)
    elif method == "sobol":
        with warnings.catch_warnings():  # scipy's multi-line warning; the README says to use a power of 2
            warnings.simplefilter("ignore", UserWarning)
            unit = qmc.Sobol(d=d, scramble=True, seed=seed).random(n)
    else:
        axis = np.linspace(0.0, 1.0, per_axis)
        unit = np.array(list(itertools.product(axis, repeat=d)))
    values = qmc.scale(unit, lo, hi) if method != "grid" else np.array(lo) + unit * (np.array(hi) - np.array(lo))
    # Checked once for the whole design, not per point: scaling can overshoot a parameter's bound by a rounding.
    values = np.clip(values, [spec[x]["lo"] for x in names], [spec[x]["hi"] for x in names])
    return names, [dict(zip(names, row)) for row in values.tolist()], method


def _check_runs(c: Checker, n_points: int, replicates: int, key: str) -> None:
    if n_points * replicates > MAX_SWEEP_RUNS:
        c.fail(key, f"{n_points:,} points x {replicates:,} replicates (key 'replicates') = "
                    f"{n_points * replicates:,} runs; allowed: at most {MAX_SWEEP_RUNS:,} runs in one sweep")


def _points_from_axes(c: Checker, axes: dict, spec: dict, replicates: int) -> tuple[tuple[str, ...], list[dict]]:
    names = tuple(axes)
    if not names:
        c.fail("axes", "give at least one parameter with a list of values")
    lists = []
    for name in names:
        key = f"axes.{name}"
        if name not in spec:
            c.fail(key, "not a model parameter; allowed: " + ", ".join(spec))
        values = axes[name]
        if not isinstance(values, list) or not values:
            c.fail(key, f"expected a non-empty list of values, got {show(values)}")
        checked = []
        for v in values:
            if spec[name]["type"] == "bool":
                if not isinstance(v, bool):
                    c.fail(key, f"{show(v)} is not true or false")
                checked.append(v)
            else:
                checked.append(c.number(key, v, spec[name]["lo"], spec[name]["hi"]))
            if checked.count(checked[-1]) > 1:
                c.fail(key, f"{show(v)} is listed twice: it would run the same point twice")
        lists.append(checked)
    n_points = math.prod(len(v) for v in lists)  # counted before anything is laid out
    if n_points > MAX_POINTS:
        c.fail("axes", f"the full grid of {' x '.join(str(len(v)) for v in lists)} values is {n_points:,} points; "
                       f"allowed: at most {MAX_POINTS:,}")
    _check_runs(c, n_points, replicates, "axes")
    return names, [dict(zip(names, combo)) for combo in itertools.product(*lists)]


def parse_sweep(text: str, path, world: World) -> Sweep:
    """Validate the text of a sweep file and lay out its points and seeds; raises ScenarioError."""
    raw, c = read_toml(text, path, world, TOP_KEYS)
    for key in ("name", "description", "scenario", "replicates", "seed"):
        if key not in raw:
            c.fail(key, "missing; a sweep needs name, description, scenario, replicates, seed and [axes] or [design]")
    name = c.name("name", raw["name"])
    if ("axes" in raw) == ("design" in raw):
        c.fail("axes", "give either [axes] (a full grid) or [design] (lhs, sobol or grid over bounds), not both")
    replicates = c.integer("replicates", raw["replicates"], 1, MAX_SWEEP_REPLICATES)
    seed = c.seed("seed", raw["seed"])
    scenario = load_scenario(c.text("scenario", raw["scenario"]), world)
    spec = Params.spec()
    if "axes" in raw:
        names, points = _points_from_axes(c, c.table("axes", raw["axes"]), spec, replicates)
        method = "axes"
        extremes = [{n: v} for n, values in raw["axes"].items() for v in values]
    else:
        names, points, method = _points_from_design(c, c.table("design", raw["design"]), spec, replicates)
        extremes = [dict(zip(names, corner)) for corner in zip(*raw["design"]["bounds"].values())]
    # Every value is within its parameter's bounds (checked above), and Params has no bound across parameters, so
    # the extremes stand for every point: they must make valid Params with the base scenario's overrides.
    for values in extremes:
        try:
            scenario.params.replace(**values)
        except ParamsError as exc:
            raise ScenarioError(path, str(exc), "axes" if method == "axes" else "design") from None
    children = np.random.SeedSequence(seed).spawn(len(points))
    point_seeds = tuple(int(ch.generate_state(1, np.uint64)[0] >> np.uint64(1)) for ch in children)
    return Sweep(name=name, description=c.text("description", raw["description"]),
                 scenario=scenario, replicates=replicates,
                 seed=seed, parameters=names, points=tuple(points), point_seeds=point_seeds, method=method,
                 text=text, path=str(path))


def load_sweep(name_or_path: str, world: World) -> Sweep:
    p = resolve(name_or_path, SWEEP_DIR)
    known = ", ".join(sorted(q.stem for q in SWEEP_DIR.glob("*.toml")))
    return parse_sweep(read_text(p, f"no such sweep file; the shipped sweeps are: {known}"), p, world)


# ------------------------------------------------------------------------------------------------- one point


def run_point(task: tuple) -> dict:
    """Run one point's replicates and return its per-run metrics and fall days as plain arrays (picklable).

    Runs in a worker process: it takes everything it needs in `task` and builds the world from the data files
    the command was given (cached per process).
    """
    point_id, values, point_seed, replicates, scenario, *rest = task
    world = world_for(rest[0] if rest else None)  # scored against the whole record; runs see scenario.world
    params = scenario.params.replace(**values)
    r = run_ensemble(params, replicates, point_seed, scenario.start, scenario.end, scenario.world(world),
                     interventions=scenario.events, initial=scenario.initial, daily=False)
    obs = observed(world, r.start_day, r.end_day, seeded_capitals(r))
    days = censored(r.fall_day, r.end_day)
    metrics = run_metrics(days[:, obs.index], obs)
    metrics.setdefault("kabul_error_days", np.full(replicates, np.nan))
    metrics["held_aug31"] = (days > day_index(HELD_ON)).sum(axis=1).astype(float)
    metrics["kabul_fall_day"] = days[:, world.kabul]  # end + 1 if it held
    metrics["fallen_by_aug15"] = (days <= day_index(AUG15)).sum(axis=1).astype(float)
    return {
        "point_id": point_id,
        "run_seed": r.run_seed,
        "metrics": {k: np.asarray(metrics[k], dtype=float) for k in RUN_METRICS},
        "fall_day": r.fall_day,
        "fall_how": r.fall_how,
        "start_day": r.start_day,
    }


# ------------------------------------------------------------------------------------------------- the sweep


@dataclass
class SweepOutcome:
    n_points: int
    n_skipped: int  # already stored when the sweep started
    n_run: int  # points run and stored by this call
    failed: dict  # point id -> error text
    seconds: float
    complete: bool = False  # every point of the sweep is stored


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a sweep, after the finished points were stored: says how many."""

    def __init__(self, out: Path, stored: int, n_points: int):
        super().__init__(f"{stored:,} of {n_points:,} points are stored in {out}; run the same command again to "
                         "finish the others")
        self.out, self.stored, self.n_points = out, stored, n_points


def run_sweep(sweep: Sweep, out: Path, executor: Executor, progress: bool = True, point_fn=run_point,
              flush_seconds: float = 2.0, flush_points: int = 100, kind: str = "sweep", force: bool = False,
              data_dir: str | None = None) -> SweepOutcome:
    """Run every point not yet stored in `out`, writing finished points as they come (see sim/store.py).

    Holds the folder's writer lock throughout (a second writer refuses). On Ctrl-C or SIGTERM the points that
    finished are written first, then SweepInterrupted says how many are stored."""
    from . import folders, store

    t0 = time.perf_counter()
    out = Path(out)
    world = world_for(data_dir)
    with folders.writer_lock(out):
        store.prepare_sweep_folder(out, sweep, kind=kind, force=force, world=world)
        done = store.stored_point_ids(out)
        todo = [k for k in range(len(sweep.points)) if k not in done]
        failed: dict[int, str] = {}
        bar = None
        if progress:
            bar = progress_bar(len(todo) * sweep.replicates, sweep.name, "run", smoothing=0.1)
        buffer, last, n_written = [], time.perf_counter(), 0

        def flush():
            nonlocal buffer, last, n_written
            if buffer:
                store.append_sweep_part(out, sweep, buffer, world.names)
                n_written += len(buffer)
            buffer, last = [], time.perf_counter()

        futures: dict = {}
        collected: set = set()
        try:
            for k in todo:
                futures[executor.submit(point_fn, (k, sweep.points[k], sweep.point_seeds[k], sweep.replicates,
                                                   sweep.scenario, data_dir))] = k
            for fut in as_completed(futures):
                collected.add(fut)
                k = futures[fut]
                try:
                    buffer.append(fut.result())
                except Exception as exc:  # noqa: BLE001 - a failing point is recorded and the sweep goes on
                    failed[k] = f"{type(exc).__name__}: {exc}"
                if bar is not None:
                    bar.update(sweep.replicates)
                if buffer and (len(buffer) >= flush_points or time.perf_counter() - last > flush_seconds):
                    flush()
        except KeyboardInterrupt:
            for fut in futures:
                fut.cancel()
            # Points that finished but were not collected yet are kept too: a restart skips them.
            buffer += [f.result() for f in futures if f not in collected and f.done() and not f.cancelled()
                       and f.exception() is None]
            flush()
            store.write_failures(out, failed)
            if bar is not None:
                bar.close()
            raise SweepInterrupted(out, len(done) + n_written, len(sweep.points)) from None
        flush()
        store.write_failures(out, failed)
        if bar is not None:
            bar.close()
        complete = store.finish_sweep(out, len(sweep.points))
    return SweepOutcome(len(sweep.points), len(done), len(todo) - len(failed), failed, time.perf_counter() - t0,
                        complete)


def part_name() -> str:
    return f"part-{uuid.uuid4().hex}.parquet"


def summary(out: Path, sweep: Sweep, top: int = 5) -> str:
    """The best points by fit to the observed record, and each metric's mean per value of each swept parameter."""
    from . import store

    points, runs = store.read_sweep(out)
    p = points.to_pandas().set_index("point_id")
    r = runs.to_pandas()
    if r.empty:
        return "no finished points yet"
    per_point = r.groupby("point_id")[list(RUN_METRICS)].mean()
    per_point["abs_kabul_error"] = r.assign(a=r["kabul_error_days"].abs()).groupby("point_id")["a"].mean()
    table = p.join(per_point, how="inner")
    from .report import fmt_bin_edges, fmt_num, pareto_front

    # tau-b alone ranks first points whose Kabul is weeks off: rank by both, equally weighted.
    table["combined_rank"] = (table["tau_b"].rank(ascending=False, na_option="bottom")
                              + table["abs_kabul_error"].rank(ascending=True, na_option="bottom")) / 2
    table["pareto"] = ""
    table.iloc[pareto_front(table["tau_b"].to_numpy(float), table["abs_kabul_error"].to_numpy(float)),
               table.columns.get_loc("pareto")] = "*"
    best = table.sort_values(["combined_rank", "tau_b"], ascending=[True, False]).head(top)
    cols = list(sweep.parameters) + ["tau_b", "abs_kabul_error", "mae_days", "held_aug31", "combined_rank", "pareto"]
    number = lambda x: fmt_num(x, "{:.3g}")  # noqa: E731
    lines = [f"Best {len(best)} of {len(table)} points by combined rank: the mean of a point's rank on mean tau-b "
             "against the observed order (higher first) and on mean Kabul |error| in days (lower first). "
             f"* = on the Pareto front of the two ({(table['pareto'] == '*').sum()} points; none beats them on both; "
             "run.py plot draws the trade-off):", best[cols].to_string(float_format=number)]
    status = store.sweep_status(out)
    if status["note"]:
        lines.insert(0, f"{status['note']}: what follows covers only the stored points\n")
    lines.append("\nMean of each metric per value of each swept parameter"
                 + (" (in five bins of equal count)" if sweep.method != "axes" else "") + ":")
    metrics = ["tau_b", "abs_kabul_error", "mae_days", "held_aug31"]
    for name in sweep.parameters:
        key = table[name]
        if sweep.method != "axes" and key.nunique() > 5:
            import pandas as pd

            _, edges = pd.qcut(key, 5, duplicates="drop", retbins=True)
            key = pd.cut(key, edges, labels=fmt_bin_edges(edges), include_lowest=True)
        lines.append(f"\n{name}:")
        lines.append(table.groupby(key, observed=True)[metrics].mean().to_string(float_format=number))
    return "\n".join(lines)
