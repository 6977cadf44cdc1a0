"""The fast path: advance N replicates at once with the rules of sim/rules.py.

Seeds are fixed before anything runs. The root seed is split with numpy's SeedSequence into one child per
chunk of `chunk_size` replicates; each chunk runs on its own generator, seeded with the integer stored for every
run in `run_seed`. A chunk's result therefore depends only on its seed and size, never on how many chunks ran,
in what order or in which process, and `run_chunk(run_seed, n)` (or the Mesa model, for a chunk of one) gives
it again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .data import WINDOW_FIRST
from .params import Params
from .interventions import compile_schedule
from .rules import advance_day, make_drivers
from .seeding import InitialConditions, observed_fall_days, start_state
from .world import World, day_index, default_world

__all__ = ["EnsembleResult", "run_ensemble", "run_chunk", "chunk_seeds", "observed_fall_days", "DEFAULT_END"]

DEFAULT_END = dt.date(2021, 9, 6)  # the Taliban claim Panjshir
DEFAULT_CHUNK = 1000


def chunk_seeds(seed: int, n_runs: int, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """The integer seed of every chunk: SeedSequence(seed).spawn(n_chunks), one 63-bit integer each."""
    n_chunks = -(-n_runs // chunk_size)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    return np.array([int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children], dtype=np.int64)


@dataclass
class EnsembleResult:
    """Outcome of N runs. Day indices count from 2021-05-01; NOT_FALLEN (-1) marks a capital held to the end."""

    names: tuple[str, ...]
    params: Params
    seed: int
    start_day: int
    end_day: int
    chunk_size: int
    run_seed: np.ndarray  # (n,) the seed of the chunk each run belongs to
    fall_day: np.ndarray  # (n, P) int16
    fall_how: np.ndarray  # (n, P) int8, codes in rules.FALL_HOW_NAMES
    held_count: np.ndarray  # (n, days) capitals government-held at the end of each simulated day
    district_share: np.ndarray  # (n, days) national share of districts under Taliban control at the end of each day

    @property
    def n_runs(self) -> int:
        return self.fall_day.shape[0]

    @property
    def days(self) -> np.ndarray:
        return np.arange(self.start_day, self.end_day + 1)


def run_chunk(world: World, params: Params, n: int, chunk_seed: int, start_day: int, end_day: int,
              on_day=None, interventions=(), initial: InitialConditions | None = None):
    """Run n replicates on one generator; returns (fall_day, fall_how, held_count, district_share)."""
    drivers = make_drivers(world, params, compile_schedule(world, interventions))
    rng = np.random.default_rng(int(chunk_seed))
    s = start_state(world, params, drivers, n, start_day, initial, rng)
    n_days = end_day - start_day + 1
    held = np.empty((n, n_days), dtype=np.int16)
    share = np.empty((n, n_days), dtype=np.float32)
    weights = (world.n_districts / world.n_districts.sum()).astype(np.float32)
    for k, day in enumerate(range(start_day, end_day + 1)):
        advance_day(s, world, params, drivers, day, rng)
        held[:, k] = np.count_nonzero(s.is_held, axis=1)
        share[:, k] = s.control @ weights
        if on_day is not None:
            on_day()
    return s.fall_day, s.fall_how, held, share


def run_ensemble(params: Params | None = None, n_runs: int = 1000, seed: int = 0,
                 start: dt.date = WINDOW_FIRST, end: dt.date = DEFAULT_END, world: World | None = None,
                 chunk_size: int = DEFAULT_CHUNK, progress: bool = False, interventions=(),
                 initial: InitialConditions | None = None) -> EnsembleResult:
    """Run n_runs replicates of one parameter point, chunk by chunk, and gather the outcome."""
    params = params or Params()
    world = world or default_world()
    start_day, end_day = day_index(start), day_index(end)
    if not 0 <= start_day <= end_day:
        raise ValueError(f"start {start} must lie between {WINDOW_FIRST} and the end date {end}")
    seeds = chunk_seeds(seed, n_runs, chunk_size)
    sizes = [min(chunk_size, n_runs - c * chunk_size) for c in range(len(seeds))]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(seeds) * (end_day - start_day + 1), unit="day", desc=f"{n_runs} runs",
                   disable=None, leave=False)
    parts = [run_chunk(world, params, size, cs, start_day, end_day, bar.update if bar else None,
                       interventions, initial)
             for cs, size in zip(seeds, sizes)]
    if bar is not None:
        bar.close()
    return EnsembleResult(
        names=world.names,
        params=params,
        seed=seed,
        start_day=start_day,
        end_day=end_day,
        chunk_size=chunk_size,
        run_seed=np.repeat(seeds, sizes),
        fall_day=np.concatenate([p[0] for p in parts]),
        fall_how=np.concatenate([p[1] for p in parts]),
        held_count=np.concatenate([p[2] for p in parts]),
        district_share=np.concatenate([p[3] for p in parts]),
    )
