"""TerritoryModel: one run as a Mesa model, on a Network space built from the road graph.

One step is one day. `step()` hands the day to the same rules the ensemble path uses (sim/rules.py) with a
replicate axis of one; the agents are the object view of that state. With the same seed, a TerritoryModel and
`ensemble.run_chunk(..., n=1, chunk_seed=seed)` give the identical run.
"""

from __future__ import annotations

import datetime as dt
import inspect

import mesa
import numpy as np
from mesa.datacollection import DataCollector
from mesa.discrete_space import Network

from .agents import AirSupportAgent, GarrisonAgent, ProvinceAgent, RoadLinkAgent, TalibanForceAgent
from .data import WINDOW_FIRST
from .ensemble import DEFAULT_END
from .interventions import compile_schedule
from .params import Params
from .rules import NOT_FALLEN, advance_day, make_drivers
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


class TerritoryModel(mesa.Model):
    """One run of the withdrawal-phase model.

    Args:
        params: the parameters (defaults: Params()).
        seed: integer seed of the run's numpy Generator (model.rng); every draw comes from it.
        start, end: the first and last simulated days (2021-05-01 to 2021-09-06 by default).
        world: the fixed world (defaults to the shipped data).
        interventions: dated what-ifs (sim.interventions.Intervention), as a scenario's [[events]].
        initial: what a scenario adds to the observed record at its start (sim.seeding.InitialConditions).
    """

    def __init__(self, params: Params | None = None, seed: int = 0, start: dt.date = WINDOW_FIRST,
                 end: dt.date = DEFAULT_END, world: World | None = None, interventions=(),
                 initial: InitialConditions | None = None):
        super().__init__(rng=int(seed))
        self.seed = int(seed)
        self.params = params or Params()
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

        self.datacollector = DataCollector(model_reporters=MODEL_REPORTERS)

    @property
    def date(self) -> dt.date:
        """The day the next step will simulate."""
        return day_date(self.day)

    def step(self) -> None:
        advance_day(self.state, self.world, self.params, self.drivers, self.day, self.rng)
        self.day += 1
        self.datacollector.collect(self)
        if self.day > self.end_day:
            self.running = False

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


__all__ = ["TerritoryModel", "road_network", "NOT_FALLEN"]


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
    iterator = seeds
    if progress:
        from tqdm import tqdm

        iterator = tqdm(seeds, unit="run", desc="Mesa models", disable=None, leave=False)
    falls, hows, held, share, reports = [], [], [], [], []
    for s in iterator:
        m = TerritoryModel(params, seed=int(s), start=start, end=end, world=world, interventions=interventions,
                           initial=initial)
        m.run()
        frame = m.datacollector.get_model_vars_dataframe()
        falls.append(m.state.fall_day[0].copy())
        hows.append(m.state.fall_how[0].copy())
        held.append(frame["capitals_held"].to_numpy(np.int16))
        share.append(frame["district_share"].to_numpy(np.float32))
        reports.append(m.seeding)
    return EnsembleResult(names=world.names, params=params, seed=seed, start_day=day_index(start),
                          end_day=day_index(end), chunk_size=1, run_seed=seeds, fall_day=np.array(falls),
                          fall_how=np.array(hows), held_count=np.array(held), district_share=np.array(share),
                          **seeding_fields(reports))
