"""Run a scenario: one function, scenario in, ensemble result out (EMA Workbench's `model.py` pattern)."""

from __future__ import annotations

import datetime as dt

from .ensemble import DEFAULT_CHUNK, EnsembleResult, run_ensemble
from .scenario import LATEST_START, MIN_DAYS, Scenario, ScenarioError
from .data import WINDOW_FIRST
from .world import World, day_index


def with_overrides(scenario: Scenario, runs: int | None = None, seed: int | None = None,
                   start: dt.date | None = None) -> Scenario:
    """The scenario with the command line's --runs, --seed and --start applied (and checked)."""
    changes = {}
    if runs is not None:
        changes["replicates"] = runs
    if seed is not None:
        changes["seed"] = seed
    if start is not None:
        last = min(LATEST_START, scenario.end - dt.timedelta(days=MIN_DAYS))  # a run needs days after its start
        if not WINDOW_FIRST <= start <= last:
            raise ScenarioError(scenario.path, f"--start {start} is outside the window: allowed {WINDOW_FIRST} to "
                                               f"{last}", "start")
        changes["start"] = start
    return scenario.replace(**changes) if changes else scenario


def run_scenario(scenario: Scenario, world: World, engine: str = "ensemble", chunk_size: int | None = None,
                 progress: bool = False, daily: bool = True) -> EnsembleResult:
    """All replicates of a scenario; the same seed gives the same result whatever the engine's batching.
    The runs see `world` as the scenario says (Scenario.world: as known on the morning of its start, or whole in
    hindsight); score them against the whole `world`. daily=False keeps memory flat in the number of runs."""
    score_days = [day_index(o.as_of) for o in world.record.district_series]  # recorded to score, never seen
    world = scenario.world(world)
    if engine == "mesa":
        from .model import run_models

        return run_models(scenario.params, scenario.replicates, scenario.seed, scenario.start, scenario.end, world,
                          progress, scenario.events, scenario.initial)
    return run_ensemble(scenario.params, scenario.replicates, scenario.seed, scenario.start, scenario.end, world,
                        chunk_size=chunk_size or DEFAULT_CHUNK, progress=progress, interventions=scenario.events,
                        initial=scenario.initial, daily=daily, district_days=score_days)


# ------------------------------------------------------------------------------------------ command-line variants
def variant(file_scenario: Scenario, scenario: Scenario, engine: str = "ensemble",
            chunk_size: int | None = None) -> dict[str, list]:
    """What the command line changed from the scenario file: {key: [as in the file, as run]}, in a fixed order.
    Keys: start, runs, seed, each parameter set with --set, and the engine and chunk size when not the defaults:
    both decide which random numbers each run draws (the seeds are spawned per chunk), so they change the runs,
    though not their distribution."""
    changes = {}
    for key, attr in (("start", "start"), ("runs", "replicates"), ("seed", "seed")):
        a, b = getattr(file_scenario, attr), getattr(scenario, attr)
        if a != b:
            changes[key] = [a.isoformat() if isinstance(a, dt.date) else a,
                            b.isoformat() if isinstance(b, dt.date) else b]
    was, now = file_scenario.params.to_dict(), scenario.params.to_dict()
    for name in sorted(k for k in now if now[k] != was[k]):
        changes[name] = [was[name], now[name]]
    if engine != "ensemble":
        changes["engine"] = ["ensemble", engine]
    if chunk_size is not None and chunk_size != DEFAULT_CHUNK and engine == "ensemble":
        changes["chunk"] = [DEFAULT_CHUNK, int(chunk_size)]
    return changes


def _token(value) -> str:
    text = str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text)


def variant_folder_name(name: str, changes: dict[str, list]) -> str:
    """The default results folder of a variant: `baseline-start-2021-08-12-runs-50`; the scenario's own name when
    nothing was changed, so a variant never lands in the folder of the run as the file defines it."""
    return "-".join([name] + [f"{k}-{_token(v[1])}" for k, v in changes.items()])


def describe_variant(changes: dict[str, list]) -> str:
    """One line for headers and reports: 'start 2021-05-01 -> 2021-08-12, runs 1000 -> 50' ('' if none)."""
    def show(v):
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v).lower() \
            if isinstance(v, bool) else f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} {show(a)} -> {show(b)}" for k, (a, b) in changes.items())
