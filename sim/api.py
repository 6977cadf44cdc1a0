"""The Python API: run a scenario, get tidy pandas tables; read a stored run folder back as the same tables.

    import sim

    res = sim.run("baseline", runs=200, seed=1, cascade_neighbour=0.1)   # any Params field as a keyword
    res.falls        # one row per run and capital: run_id, seed, province, fell_on (datetime64), fall_how
    res.daily        # one row per run and day: run_id, date (datetime64), day, capitals_held, district_share
    res.scores       # the scorecard (the dict written to metrics.json); res.metrics and res.capitals as tables
    res.save("results/my-run")                 # a run folder, as `python run.py run` writes it
    again = sim.read_results("results/my-run") # the same Results, checked against the manifest's checksums
    res.replay(17)   # run 17 simulated again from its stored seed: its rows of res.falls

Everything goes through the pieces the command line uses (sim.scenario.load_scenario, sim.experiment.
with_overrides and run_scenario, sim.metrics.score_ensemble, sim.store.write_run and load_run), so a run made here
and `python run.py run` with the same scenario, runs, seed and --set give the same tables.

Seeds. The runs of the ensemble engine are simulated in chunks of `chunk_size` (1000 by default) on one numpy
Generator a chunk; `falls.seed` is the integer seed of run i's chunk (sim.ensemble.chunk_seeds: the root seed's
np.random.SeedSequence spawned once a chunk). Run i is row i % chunk_size of
`sim.ensemble.run_chunk(world, params, n, seed, start_day, end_day, interventions=..., initial=...)`, n the size of
its chunk (chunk_size, or what is left for the last one): `Results.replay(i)` does exactly that. With
`chunk_size=1` (slower) or `engine="mesa"`, every run has its own seed, and
`TerritoryModel(params, seed=seed, start=..., end=...)` replays it too.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .params import Params, ParamsError, check_names, params_with  # noqa: F401 (re-exported)
from .scenario import MAX_SEED

ENGINES = ("ensemble", "mesa")


def _whole(name: str, value, lo: int, hi: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not lo <= int(value) <= hi:
        raise ValueError(f"{name} must be a whole number from {lo:,} to {hi:,}, got {value!r}")
    return int(value)


def _date(name: str, value) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{name} must be a date (datetime.date or 'YYYY-MM-DD'), got {value!r}") from None


def _default_world(world):
    from .world import default_world

    return world if world is not None else default_world()


def run(scenario_or_path="baseline", runs: int | None = None, seed: int | None = None, start=None,
        engine: str = "ensemble", progress: bool = False, *, chunk_size: int | None = None, world=None,
        **param_overrides) -> Results:
    """Run a scenario and return its Results.

    Args:
        scenario_or_path: a shipped scenario's name ("baseline", `python run.py scenarios` lists them), the path of
            a scenario file, or a sim.scenario.Scenario.
        runs, seed, start: override the scenario's replicates, root seed (0 to 2^63 - 1) and start date
            (a date or "YYYY-MM-DD"), as --runs, --seed and --start do.
        engine: "ensemble" (vectorised, the default) or "mesa" (one TerritoryModel per run; the same runs as
            chunk_size=1).
        progress: show a progress bar.
        chunk_size: runs per chunk of the ensemble engine (default 1000); 1 gives every run its own seed.
        world: a sim.world.World built from other data files (default: the shipped data).
        **param_overrides: any Params field (`python run.py params`), on top of the scenario's [params], as
            --set does. An unknown name raises ParamsError naming the closest fields.
    """
    from .experiment import run_scenario, with_overrides
    from .metrics import score_ensemble
    from .scenario import Scenario, load_scenario
    from .store import to_json

    world = _default_world(world)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if chunk_size is not None:
        chunk_size = _whole("chunk_size", chunk_size, 1, 1_000_000)
        if engine == "mesa" and chunk_size != 1:
            raise ValueError("chunk_size applies to the ensemble engine; the Mesa engine runs one model per seed")
    if isinstance(scenario_or_path, Scenario):
        scenario = scenario_or_path
    elif isinstance(scenario_or_path, (str, Path)):
        scenario = load_scenario(str(scenario_or_path), world)
    else:
        raise TypeError(f"scenario_or_path must be a scenario name, a path or a Scenario, got "
                        f"{type(scenario_or_path).__name__}")
    from .scenario import MAX_REPLICATES

    scenario = with_overrides(
        scenario, None if runs is None else _whole("runs", runs, 1, MAX_REPLICATES),
        None if seed is None else _whole("seed", seed, 0, MAX_SEED), None if start is None else _date("start", start))
    if param_overrides:
        scenario = scenario.replace(params=params_with(scenario.params, param_overrides))
    result = run_scenario(scenario, world, engine, chunk_size, progress=progress, daily=True)
    scores = json.loads(to_json(score_ensemble(result, world)))  # exactly what metrics.json holds and gives back
    return Results(scenario=scenario, ensemble=result, scores=scores, engine=engine, world=world)


def read_results(path, world=None) -> Results:
    """The Results of a run folder (`python run.py run` or Results.save), checked as `plot` and `compare` check
    it: written by this project, every table's checksum as in the manifest, every row in place, the same data
    files. Raises sim.store.ResultProblem with the reason otherwise.

    A run folder keeps fall days, not daily series: `daily.capitals_held` is computed from the fall days (the same
    counts a run gives), and `daily.district_share` is NaN.
    """
    from .store import load_run

    world = _default_world(world)
    folder = Path(path)
    meta, result = load_run(folder, world)
    scores = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))  # its checksum checked by load_run
    return Results(scenario=_scenario_of(meta, result, world), ensemble=result, scores=scores,
                   engine=meta.get("engine") or (meta.get("definition") or {}).get("engine", "ensemble"),
                   world=world, folder=folder, manifest=meta)


def _scenario_of(meta: dict, result, world):
    """The scenario a stored run ran: its file's text as recorded, with the runs, seed, dates and parameters of
    the run (command-line overrides included). A manifest without the text gives a bare Scenario."""
    from .scenario import Scenario, ScenarioError, parse_scenario
    from .world import day_date

    definition = meta.get("definition") or {}
    text = definition.get("scenario_text") or meta.get("scenario_text")
    path = meta.get("scenario_file") or f"{meta.get('name', 'run')}.toml"
    scenario = None
    if text:
        try:
            scenario = parse_scenario(text, path, world)
        except ScenarioError:
            scenario = None  # a file that no longer parses (other data files): keep what the manifest says
    if scenario is None:
        scenario = Scenario(name=str(meta.get("name", "run")), description="read from a results folder",
                            start=day_date(result.start_day), end=day_date(result.end_day),
                            replicates=result.n_runs, seed=int(result.seed), params=result.params, path=str(path))
    return scenario.replace(params=result.params, replicates=result.n_runs, seed=int(result.seed),
                            start=day_date(result.start_day), end=day_date(result.end_day))


@dataclass(frozen=True, eq=False)
class Results:
    """The outcome of a scenario run: the tables below (built when first read), the scenario and its parameters.

    falls: one row per run and province, the columns and dtypes of a run folder's fall_days.parquet:
        run_id (int64), seed (int64: the seed that replays the run, see `replay`), province (str),
        fell_on (datetime64[ms], midnight of the day the capital fell; NaT where it held), fall_how (str:
        fighting, negotiated, surrender, "observed before start" for a seeded start, held).
    daily: one row per run and day from the start: run_id, date (datetime64[ms]), day (days since 2021-05-01),
        capitals_held (government-held at the end of the day), district_share (national share of districts under
        Taliban control at the end of the day; NaN for results read from a folder, which does not store it).
    scores: the scorecard as a dict (metrics.json); `metrics` and `capitals` give its main parts as DataFrames.
    """

    scenario: object  # sim.scenario.Scenario, runs, seed, start and parameters as run
    ensemble: object = field(repr=False)  # sim.ensemble.EnsembleResult: the arrays behind the tables
    scores: dict = field(repr=False)
    engine: str = "ensemble"
    world: object = field(default=None, repr=False)
    folder: Path | None = None  # the folder it was read from, if any
    manifest: dict | None = field(default=None, repr=False)

    # ------------------------------------------------------------------------------------------- the basics
    @property
    def params(self) -> Params:
        return self.ensemble.params

    @property
    def n_runs(self) -> int:
        return self.ensemble.n_runs

    @property
    def seed(self) -> int:
        """The root seed (the scenario's, or run(seed=...))."""
        return int(self.ensemble.seed)

    @property
    def chunk_size(self) -> int:
        return int(self.ensemble.chunk_size)

    def __repr__(self) -> str:
        sc = self.scenario
        tau = (self.scores.get("per_run", {}).get("tau_b") or {}).get("median", float("nan"))
        changed = self.params.changed()
        return (f"<Results {sc.name}: {self.n_runs:,} runs ({self.engine}), seed {self.seed}, {sc.start} to "
                f"{sc.end}, {len(changed)} parameter(s) off their defaults; median tau-b {tau:.3f}"
                + (f"; from {self.folder}" if self.folder else "") + ">")

    # ------------------------------------------------------------------------------------------- the tables
    @cached_property
    def falls(self) -> pd.DataFrame:
        from .store import fall_days_table

        return fall_days_table(self.ensemble).to_pandas()

    @cached_property
    def daily(self) -> pd.DataFrame:
        r = self.ensemble
        days = np.arange(r.start_day, r.end_day + 1)
        n, n_days = r.n_runs, len(days)
        if r.held_count is not None and r.held_count.shape[1] == n_days:
            held = np.asarray(r.held_count, dtype=np.int64)
        else:  # not stored (a folder, whose held_count is empty) or not kept (a compact run)
            held = held_from_fall_days(r.fall_day, r.start_day, r.end_day)
        if r.district_days is None and r.district_share.shape[1] == n_days:
            share = np.asarray(r.district_share, dtype=np.float64)
        else:  # not stored (a folder) or only on the LWJ dates (a compact run): NaN where unknown
            share = np.full((n, n_days), np.nan)
            for k, d in enumerate(r.district_days if r.district_days is not None else ()):
                share[:, int(d) - r.start_day] = r.district_share[:, k]
        from .world import DAY0

        return pd.DataFrame({
            "run_id": np.repeat(np.arange(n, dtype=np.int64), n_days),
            "date": np.tile((np.datetime64(DAY0, "D") + days).astype("datetime64[ms]"), n),
            "day": np.tile(days.astype(np.int64), n),
            "capitals_held": held.ravel(),
            "district_share": share.ravel(),
        })

    @cached_property
    def metrics(self) -> pd.DataFrame:
        """One row per per-run metric (tau_b, spearman, mae_days, curve_error, kabul_error_days): the model's
        median, p10, p90 and mean over runs, then each null model's value ("null: <name>")."""
        table = pd.DataFrame(self.scores["per_run"]).T
        for name, values in self.scores.get("nulls", {}).items():
            table[f"null: {name}"] = pd.Series({k: values.get(k, np.nan) for k in table.index}, dtype=float)
        table.index.name = "metric"
        return table

    @cached_property
    def capitals(self) -> pd.DataFrame:
        """One row per scored capital: the observed and simulated fall days (day indices, with their dates in the
        *_on columns), the chance it fell by 15 August, held to the end, and its CRPS in days."""
        from .world import DAY0

        table = pd.DataFrame(self.scores["capitals"])
        base = np.datetime64(DAY0, "D")
        for col in ("observed_day", "median_day", "p10_day", "p90_day"):
            if col in table:
                days = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
                dates = np.full(len(days), np.datetime64("NaT", "ms"))
                ok = np.isfinite(days)
                dates[ok] = (base + np.floor(days[ok]).astype(np.int64)).astype("datetime64[ms]")
                table[col.replace("_day", "_on")] = dates
        return table

    # ------------------------------------------------------------------------------------------- actions
    def save(self, folder, force: bool = False) -> Path:
        """Write a run folder as `python run.py run` does (fall_days.parquet, metrics.json, manifest.json with the
        run's definition and checksums), under the same rules: the folder must be absent, empty or a run folder
        this project wrote (force=True replaces a results folder of another kind; never anything else); one
        writer at a time; written beside and swapped in whole. Returns the folder."""
        from . import folders
        from .store import run_definition, write_run

        out = Path(folder)
        sc, r = self.scenario, self.ensemble
        world = _default_world(self.world)
        with folders.writer_lock(out):
            folders.check_target(out, "run", force, what="folder")
            definition = run_definition(sc, r.n_runs, sc.seed, r.chunk_size, self.engine, world)
            with folders.new_folder(out) as tmp:
                write_run(tmp, sc.name, r, world, self.scores,
                          extra_manifest={"engine": self.engine, "scenario_file": sc.path, "scenario_text": sc.text,
                                          "interventions": [dict(kind=e.kind, on=e.on, **dict(e.args))
                                                            for e in sc.events],
                                          "written_from": "sim.api (Python)"},
                          definition=definition)
        return out

    def replay(self, run_id: int) -> pd.DataFrame:
        """Simulate run `run_id` again from its stored seed and return its rows of `falls` (equal to them).

        Run i was row i % chunk_size of the chunk seeded with falls.seed; the chunk is run again whole (one
        Generator draws for all its runs at once), with the scenario's parameters, events and start."""
        from .ensemble import run_chunk
        from .store import fall_days_table
        from .world import day_index

        i = _whole("run_id", run_id, 0, self.n_runs - 1)
        r, sc = self.ensemble, self.scenario
        first = (i // r.chunk_size) * r.chunk_size
        n = min(r.chunk_size, r.n_runs - first)
        seed = int(r.run_seed[i])
        world = sc.world(_default_world(self.world))
        fd, how, *_ = run_chunk(world, r.params, n, seed, day_index(sc.start), day_index(sc.end),
                                interventions=sc.events, initial=sc.initial, daily=False)
        one = type(r)(names=r.names, params=r.params, seed=r.seed, start_day=r.start_day, end_day=r.end_day,
                      chunk_size=r.chunk_size, run_seed=np.array([seed]), fall_day=fd[i - first][None],
                      fall_how=how[i - first][None], held_count=None, district_share=np.zeros((1, 0), np.float32))
        frame = fall_days_table(one).to_pandas()
        frame["run_id"] = np.int64(i)
        return frame

    def equals(self, other: Results) -> bool:
        """Same scenario text, parameters, runs and seeds, fall days, scores and held counts."""
        from .store import to_json

        return (self.scenario.text == other.scenario.text and self.params == other.params
                and self.falls.equals(other.falls) and to_json(self.scores) == to_json(other.scores)
                and self.daily["capitals_held"].equals(other.daily["capitals_held"]))


def held_from_fall_days(fall_day: np.ndarray, start_day: int, end_day: int) -> np.ndarray:
    """(n, days) capitals held at the end of each day from start_day, from the (n, P) fall days: the counts a run
    records (a capital that fell before the start counts as fallen from the first day)."""
    from .rules import NOT_FALLEN

    n, n_p = fall_day.shape
    n_days = end_day - start_day + 1
    fallen = np.zeros((n, n_days + 1), dtype=np.int64)
    rows, cols = np.nonzero(fall_day != NOT_FALLEN)
    k = np.clip(fall_day[rows, cols].astype(np.int64) - start_day, 0, n_days)
    np.add.at(fallen, (rows, k), 1)
    return n_p - np.cumsum(fallen, axis=1)[:, :n_days]


__all__ = ["Results", "run", "read_results", "params_with", "check_names", "held_from_fall_days"]
