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
