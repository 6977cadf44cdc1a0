"""TerritoryModel: one run as a Mesa model, on a Network space built from the road graph.

One step is one day. `step()` hands the day to the same rules the ensemble path uses (sim/rules.py) with a
replicate axis of one; the agents are the object view of that state. With the same seed, a TerritoryModel and
`ensemble.run_chunk(..., n=1, chunk_seed=seed)` give the identical run.

It works with Mesa's own tools on Mesa 3.3 and 3.5: every Params field is a keyword argument
(`TerritoryModel(cascade_neighbour=0.1, seed=3)`), `seed=None` draws a fresh seed (kept in `model.seed`, so the run
can be replayed), `rng=` is taken as Mesa 3.5's batch_run passes it, and each province reports its fall date, so

    mesa.batch_run(TerritoryModel, parameters={"cascade_neighbour": [0.05, 0.1]}, iterations=2,
                   number_processes=1, data_collection_period=-1)

returns one row per run and capital with `province`, `fell_on`, `fall_day`, `fall_how` and the run's `seed`.
`seed` is deliberately not a named argument: Mesa 3.5's batch_run overwrites a named `seed` (or `rng`) with its
own `rng` values, which would silently drop `parameters={"seed": [...]}`.
"""

from __future__ import annotations

import datetime as dt
import inspect
import numbers
from collections.abc import Mapping

import mesa
import numpy as np
import pandas as pd
from mesa.datacollection import DataCollector
from mesa.discrete_space import Network

from .agents import AirSupportAgent, GarrisonAgent, ProvinceAgent, RoadLinkAgent, TalibanForceAgent
from .data import WINDOW_FIRST
from .ensemble import DEFAULT_END
from .interventions import compile_schedule
from .params import params_with
from .scenario import MAX_SEED
from .params import Params
from .progress import progress_bar
from .kernels import advance_day
from .rules import NOT_FALLEN, make_drivers
from .seeding import InitialConditions, seed_state
from .world import World, day_date, day_index, default_world

# Mesa 3.5 added a `layout` argument and otherwise runs an unseeded spring layout on every construction;
# Mesa 3.3 (the newest for Python 3.11) has no such argument.
_NETWORK_TAKES_LAYOUT = "layout" in inspect.signature(Network.__init__).parameters


def road_network(world: World, random) -> Network:
    """The road graph as a Mesa Network, with each capital at its real (lon, lat)."""
    graph = world.graph()
    positions = {name: np.array(graph.nodes[name]["pos"], dtype=float) for name in graph.nodes}
    if _NETWORK_TAKES_LAYOUT:
        return Network(graph, random=random, layout=positions)
    return Network(graph, random=random)  # positions stay on the graph as the node attribute "pos"


# What is collected after every step: module-level functions, so a model pickles.
def _day(m): return m.day - 1  # noqa: E704
def _capitals_held(m): return int(m.state.is_held.sum())  # noqa: E704
def _district_share(m): return float(m.state.control[0] @ m.world.n_districts / m.world.n_districts.sum())  # noqa: E704,E501
def _taliban_fighters(m): return float(m.state.taliban[0])  # noqa: E704
def _roads_open(m): return int(m.state.is_road_open.sum())  # noqa: E704
def _air_strikes_available(m): return float(m.drivers.air_capacity[m.day - 1])  # noqa: E704


MODEL_REPORTERS = {
    "day": _day,
    "capitals_held": _capitals_held,
    "district_share": _district_share,
    "taliban_fighters": _taliban_fighters,
    "roads_open": _roads_open,
    "air_strikes_available": _air_strikes_available,
}


# What each province reports once, on the run's last day (its fall is final then): module-level functions too.
def _province(a): return a.name  # noqa: E704
def _capital(a): return a.capital  # noqa: E704
def _fell_on(a): return None if a.fell_on is None else pd.Timestamp(a.fell_on)  # noqa: E704
def _fall_day(a): return a.fall_day  # noqa: E704
def _fall_how(a): return a.fall_how  # noqa: E704
def _seed(a): return a.model.seed  # noqa: E704


AGENT_REPORTERS = {
    "province": _province,  # the province's name, as in data/provinces.csv and the Parquet tables
    "capital": _capital,
    "fell_on": _fell_on,  # pandas Timestamp of the day the capital fell; None (NaT in a DataFrame) if it held
    "fall_day": _fall_day,  # the same as a day index: days since 2021-05-01 (day 0); None if it held
    "fall_how": _fall_how,  # "fighting", "negotiated", "surrender" or "held"
    "seed": _seed,  # the run's seed: TerritoryModel(seed=seed, **the same parameters) replays it
}


class TerritoryCollector(DataCollector):
    """Mesa's DataCollector with the model reporters every day and the province reporters once, on the last day.

    Recording 34 provinces every day would double a model's run time for values that matter only at the end. The
    last day's records are keyed where Mesa's batch_run looks for its final step: the last entry of
    `_collection_steps` (the model's time) on Mesa >= 3.5, `model.steps - 1` on Mesa 3.3.
    """

    def collect(self, model) -> None:
        reporters, self.agent_reporters = self.agent_reporters, {}
        try:
            super().collect(model)
        finally:
            self.agent_reporters = reporters
        if reporters and not model.running:
            steps = getattr(self, "_collection_steps", None)
            key = steps[-1] if steps else model.steps - 1
            self._agent_records[key] = [(key, p.unique_id, *(r(p) for r in reporters.values()))
                                        for p in model.provinces]


def fresh_seed() -> int:
    """A new seed from the operating system's entropy, in 0..MAX_SEED."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


def resolve_seed(seed=None, rng=None) -> int:
    """The integer seed of a run from Mesa's two ways of giving one: `seed` (an integer) or `rng` (an integer, a
    SeedSequence, a sequence of integers, a numpy Generator or BitGenerator). None for both draws a fresh seed.
    Anything but an integer is turned into one (a Generator gives its next draw), so every run has an integer
    seed that replays it."""
    if seed is not None and rng is not None:
        raise ValueError("give seed or rng, not both")
    value = seed if seed is not None else rng
    if value is None:
        return fresh_seed()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if not 0 <= int(value) <= MAX_SEED:
            raise ValueError(f"seed {value} is out of range: allowed 0 to 2^63 - 1")
        return int(value)
    if seed is not None:
        raise TypeError(f"seed must be a whole number 0 to 2^63 - 1, got {seed!r}; pass a Generator or "
                        "SeedSequence as rng=")
    try:
        return int(np.random.default_rng(value).integers(0, MAX_SEED, endpoint=True))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"rng must be an integer, a SeedSequence, a sequence of integers or a numpy Generator, got "
                        f"{value!r} ({exc})") from None


class TerritoryModel(mesa.Model):
    """One run of the withdrawal-phase model.

    Args:
        params: the parameters (defaults: Params()); a mapping of Params fields is taken too.
        seed: integer seed (0 to 2^63 - 1) of the run's numpy Generator (model.rng); every draw comes from it.
            None (and no rng) draws a fresh one, kept in `model.seed`. A keyword: see the module docstring.
        rng: Mesa's other way to seed (what Mesa 3.5's batch_run passes): an integer is the seed; a SeedSequence,
            sequence of integers or Generator gives one integer seed (model.seed). Give seed or rng, not both.
        start, end: the first and last simulated days (2021-05-01 to 2021-09-06 by default).
        world: the fixed world (defaults to the shipped data).
        interventions: dated what-ifs (sim.interventions.Intervention), as a scenario's [[events]].
        initial: what a scenario adds to the observed record at its start (sim.seeding.InitialConditions).
        **parameters: any Params field by name, applied on top of `params`
            (`TerritoryModel(cascade_neighbour=0.1, seed=3)`); an unknown name is an error naming the closest.
    """

    def __init__(self, params: Params | Mapping | None = None, *, rng=None, start: dt.date = WINDOW_FIRST,
                 end: dt.date = DEFAULT_END, world: World | None = None, interventions=(),
                 initial: InitialConditions | None = None, scenario=None, **parameters):
        # `scenario` is Mesa 3.5's own (mesa.experimental.scenarios), which SolaraViz passes on reset to a model
        # taking **kwargs (this project's scenarios are TOML files): its rng seeds the run when no seed is given,
        # and it is kept as model.scenario, as Mesa does.
        if rng is None and parameters.get("seed") is None and scenario is not None:
            rng = getattr(scenario, "rng", None)
        seed = resolve_seed(parameters.pop("seed", None), rng)
        params = params_with(params, parameters)
        super().__init__(rng=seed)
        if scenario is not None:
            self.scenario = scenario
        self.seed = seed
        self.params = params
        self.world = world or default_world()
        self.start_day, self.end_day = day_index(start), day_index(end)
        self.day = self.start_day
        self.drivers = make_drivers(self.world, self.params, compile_schedule(self.world, interventions))
        # seeding: how the spin-up of a seeded start was weighed (a chunk of one resamples to itself), or None.
        self.state, self.seeding = seed_state(self.world, self.params, self.drivers, 1, self.start_day, initial,
                                              self.rng)

        self.grid = road_network(self.world, self.random)
        self.provinces = [ProvinceAgent(self, i, self.grid[name]) for i, name in enumerate(self.world.names)]
        self.garrisons = [GarrisonAgent(self, p) for p in self.provinces]
        self.roads = [RoadLinkAgent(self, e, (self.provinces[a], self.provinces[b]))
                      for e, (a, b) in enumerate(zip(self.world.edge_a, self.world.edge_b))]
        self.air_support = AirSupportAgent(self)
        self.taliban = TalibanForceAgent(self)
        _release_agent_id_counter(self)

        self.datacollector = TerritoryCollector(model_reporters=MODEL_REPORTERS, agent_reporters=AGENT_REPORTERS)

    @property
    def date(self) -> dt.date:
        """The day the next step will simulate."""
        return day_date(self.day)

    def step(self) -> None:
        advance_day(self.state, self.world, self.params, self.drivers, self.day)
        self.day += 1
        if self.day > self.end_day:
            self.running = False  # before collecting: the last day's collection records the provinces
        self.datacollector.collect(self)

    def run(self) -> dict[str, dt.date | None]:
        """Run to the end date; return each province's fall date (None where the capital held)."""
        while self.running:
            self.step()
        return self.fall_dates()

    def fall_dates(self) -> dict[str, dt.date | None]:
        return {p.name: p.fell_on for p in self.provinces}

    def fall_days(self) -> np.ndarray:
        """(P,) fall day index per province, NOT_FALLEN where held: the same layout as the ensemble's rows."""
        return self.state.fall_day[0].copy()

    @property
    def capitals_held(self) -> int:
        return int(self.state.is_held.sum())


def _release_agent_id_counter(model: mesa.Model) -> None:
    """Mesa before 3.4.2 keeps every model alive as a key of Agent._ids (its per-model id counter). All agents
    are created in __init__, so the counter is no longer needed and the entry is dropped to let the model go."""
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


__all__ = ["TerritoryModel", "TerritoryCollector", "road_network", "resolve_seed", "params_with", "NOT_FALLEN"]


def run_models(params: Params | None = None, n_runs: int = 100, seed: int = 0, start: dt.date = WINDOW_FIRST,
               end: dt.date = DEFAULT_END, world: World | None = None, progress: bool = False, interventions=(),
               initial: InitialConditions | None = None):
    """Run n_runs TerritoryModels one after another and gather them like an ensemble.

    Run k uses the k-th seed of chunk_seeds(seed, n_runs, chunk_size=1), so the result equals
    run_ensemble(..., chunk_size=1) exactly: the slow path and the fast path are the same rules.
    """
    from .ensemble import EnsembleResult, chunk_seeds, seeding_fields

    params = params or Params()
    world = world or default_world()
    seeds = chunk_seeds(seed, n_runs, chunk_size=1)
    bar = progress_bar(len(seeds), "Mesa models", "run", leave=False) if progress else None
    falls, hows, held, share, reports = [], [], [], [], []
    for s in seeds:
        m = TerritoryModel(params, seed=int(s), start=start, end=end, world=world, interventions=interventions,
                           initial=initial)
        m.run()
        frame = m.datacollector.get_model_vars_dataframe()
        falls.append(m.state.fall_day[0].copy())
        hows.append(m.state.fall_how[0].copy())
        held.append(frame["capitals_held"].to_numpy(np.int16))
        share.append(frame["district_share"].to_numpy(np.float32))
        reports.append(m.seeding)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return EnsembleResult(names=world.names, params=params, seed=seed, start_day=day_index(start),
                          end_day=day_index(end), chunk_size=1, run_seed=seeds, fall_day=np.array(falls),
                          fall_how=np.array(hows), held_count=np.array(held), district_share=np.array(share),
                          **seeding_fields(reports))
