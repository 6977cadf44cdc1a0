"""The fast path: advance N replicates at once with the rules of sim/rules.py.

Seeds are fixed before anything runs. The root seed is split with numpy's SeedSequence into one child per
chunk of `chunk_size` replicates; each chunk runs on its own generator, seeded with the integer stored for every
run in `run_seed`. A chunk's result therefore depends only on its seed and size, never on how many chunks ran,
in what order or in which process, and `run_chunk(run_seed, n)` (or the Mesa model, for a chunk of one) gives
it again.

A seeded start (sim/seeding.py) weighs and resamples each chunk's replicates on their own; the effective sample
size of each chunk's weights is carried out in EnsembleResult.ess, with a summary in EnsembleResult.seeding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .data import WINDOW_FIRST
from .params import Params
from .progress import progress_bar
from .interventions import compile_schedule
from .kernels import run_days
from .rules import make_drivers
from .seeding import InitialConditions, SeedingReport, observed_fall_days, seed_state, summarise
from .world import World, day_date, day_index, default_world

__all__ = ["DEFAULT_END", "ChunkParts", "EnsembleResult", "chunk_seeds", "district_record_days", "iter_chunks",
           "observed_fall_days", "run_chunk", "run_ensemble"]

DEFAULT_END = dt.date(2021, 9, 6)  # the Taliban claim Panjshir
DEFAULT_CHUNK = 1000


def chunk_seeds(seed: int, n_runs: int, chunk_size: int = DEFAULT_CHUNK) -> np.ndarray:
    """The integer seed of every chunk: SeedSequence(seed).spawn(n_chunks), one 63-bit integer each."""
    n_chunks = -(-n_runs // chunk_size)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    return np.array([int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children], dtype=np.int64)


def district_record_days(world: World, start_day: int, end_day: int) -> np.ndarray:
    """Day indices, ascending, of the Long War Journal district figures within start_day..end_day: the only days
    on which anything reads the simulated district share (metrics.district_comparison, calibrate.loss_terms)."""
    days = {day_index(o.as_of) for o in world.record.district_series}
    return np.array(sorted(d for d in days if start_day <= d <= end_day), dtype=np.int64)


@dataclass
class EnsembleResult:
    """Outcome of N runs. Day indices count from 2021-05-01; NOT_FALLEN (-1) marks a capital held to the end.

    Two layouts of the daily series: daily (held_count and district_share on every day from start_day), or
    compact (run_ensemble(daily=False): no held_count, which metrics.held_quantiles derives from fall_day, and the
    district share only on `district_days`). Read the district share through district_share_on, which knows both.
    """

    names: tuple[str, ...]
    params: Params
    seed: int
    start_day: int
    end_day: int
    chunk_size: int
    run_seed: np.ndarray  # (n,) the seed of the chunk each run belongs to
    fall_day: np.ndarray  # (n, P) int16
    fall_how: np.ndarray  # (n, P) int8, codes in rules.FALL_HOW_NAMES
    held_count: np.ndarray | None  # (n, days) capitals government-held at the end of each day; None if not daily
    district_share: np.ndarray  # (n, days) national share of districts under Taliban control at the end of each day,
    # or (n, len(district_days)) on those days only
    district_days: np.ndarray | None = None  # day index of each district_share column; None: every day from start
    # A seeded start (sim/seeding.py): the Kish effective sample size of each chunk's weights before resampling,
    # (n_chunks,), and seeding.summarise's summary (ESS shares, collapsed chunks, tempering, floored falls);
    # None for a start with no spin-up.
    ess: np.ndarray | None = None
    seeding: dict | None = None

    @property
    def n_runs(self) -> int:
        return self.fall_day.shape[0]

    @property
    def days(self) -> np.ndarray:
        return np.arange(self.start_day, self.end_day + 1)

    def district_share_on(self, day: int) -> np.ndarray:
        """(n,) national share of districts under Taliban control at the end of `day`, in either layout."""
        if self.district_days is None:
            k = day - self.start_day
            found = 0 <= k < self.district_share.shape[1]
        else:
            hit = np.flatnonzero(self.district_days == day)
            found, k = hit.size > 0, int(hit[0]) if hit.size else -1
        if not found:
            raise KeyError(f"this result holds no district share for day {day} ({day_date(day)})")
        return self.district_share[:, k]


def kept_days(world: World, start_day: int, end_day: int, district_days=None) -> np.ndarray:
    """The days a compact run keeps the district share on: `district_days` (those in the window) if given, else
    the LWJ dates of `world`. A forecast on the world as known on D asks for the whole record's dates, so that it
    can be scored on the figures published later: what is recorded, not what the runs see."""
    if district_days is None:
        return district_record_days(world, start_day, end_day)
    return np.array(sorted({int(d) for d in district_days if start_day <= d <= end_day}), dtype=np.int64)


class ChunkParts(tuple):
    """What run_chunk returns: the tuple (fall_day, fall_how, held_count, district_share), with the chunk's
    SeedingReport as `.seeding` (None for a start with no spin-up)."""

    def __new__(cls, parts=(), seeding: SeedingReport | None = None):
        out = super().__new__(cls, parts)
        out.seeding = seeding
        return out


def run_chunk(world: World, params: Params, n: int, chunk_seed: int, start_day: int, end_day: int,
              on_day=None, interventions=(), initial: InitialConditions | None = None, daily: bool = True,
              district_days=None) -> ChunkParts:
    """Run n replicates on one generator; returns (fall_day, fall_how, held_count, district_share) as ChunkParts.

    daily=False keeps no held_count (None) and the district share only on kept_days(world, start_day, end_day,
    district_days); the runs themselves, and every value kept, are the same.
    """
    drivers = make_drivers(world, params, compile_schedule(world, interventions))
    rng = np.random.default_rng(int(chunk_seed))
    s, report = seed_state(world, params, drivers, n, start_day, initial, rng)
    n_days = end_day - start_day + 1
    kept = None if daily else kept_days(world, start_day, end_day, district_days)
    held = np.empty((n, n_days), dtype=np.int16) if daily else None
    share = np.empty((n, n_days if daily else len(kept)), dtype=np.float32)
    run_days(s, world, params, drivers, start_day, end_day, held, share, kept)  # every day of every run, compiled
    if on_day is not None:
        # All the chunk's days at once (on_day(k): k chunk-days done): told one day at a time, a first call that
        # compiled made day 1 look 26 s long, and the bar promised 55 minutes for a 27 s run.
        on_day(n_days)
    return ChunkParts((s.fall_day, s.fall_how, held, share), report)


def _window(start: dt.date, end: dt.date) -> tuple[int, int]:
    start_day, end_day = day_index(start), day_index(end)
    if not 0 <= start_day <= end_day:
        raise ValueError(f"start {start} must lie between {WINDOW_FIRST} and the end date {end}")
    return start_day, end_day


def iter_chunks(params: Params | None = None, n_runs: int = 1000, seed: int = 0, start: dt.date = WINDOW_FIRST,
                end: dt.date = DEFAULT_END, world: World | None = None, chunk_size: int = DEFAULT_CHUNK,
                interventions=(), initial: InitialConditions | None = None, daily: bool = True, on_day=None,
                district_days=None):
    """The chunks of run_ensemble one at a time, for callers that stream them: yields (first, chunk_seed, parts),
    `first` the index of the chunk's first run in the ensemble and `parts` what run_chunk returns."""
    params = params or Params()
    world = world or default_world()
    start_day, end_day = _window(start, end)
    seeds = chunk_seeds(seed, n_runs, chunk_size)
    for c, cs in enumerate(seeds):
        first = c * chunk_size
        yield first, int(cs), run_chunk(world, params, min(chunk_size, n_runs - first), cs, start_day, end_day,
                                        on_day, interventions, initial, daily, district_days)


def run_ensemble(params: Params | None = None, n_runs: int = 1000, seed: int = 0,
                 start: dt.date = WINDOW_FIRST, end: dt.date = DEFAULT_END, world: World | None = None,
                 chunk_size: int = DEFAULT_CHUNK, progress: bool = False, interventions=(),
                 initial: InitialConditions | None = None, daily: bool = True,
                 district_days=None) -> EnsembleResult:
    """Run n_runs replicates of one parameter point, chunk by chunk, and gather the outcome.

    daily=False keeps about 110 + 4 x (LWJ dates in the window) bytes a run instead of 6 more a run and day: no
    held_count, the district share on the LWJ dates only (see EnsembleResult). The runs are the same.
    """
    params = params or Params()
    world = world or default_world()
    start_day, end_day = _window(start, end)
    n_days = end_day - start_day + 1
    seeds = chunk_seeds(seed, n_runs, chunk_size)
    sizes = [min(chunk_size, n_runs - c * chunk_size) for c in range(len(seeds))]
    bar = None
    if progress:
        bar = progress_bar(len(seeds) * n_days, f"{n_runs:,} runs", "chunk-day", leave=False)
    kept = None if daily else kept_days(world, start_day, end_day, district_days)
    # Filled chunk by chunk: no list of parts to concatenate, so the peak is the result plus one chunk.
    n_p = world.n_provinces
    fall_day = np.empty((n_runs, n_p), dtype=np.int16)
    fall_how = np.empty((n_runs, n_p), dtype=np.int8)
    held = np.empty((n_runs, n_days), dtype=np.int16) if daily else None
    share = np.empty((n_runs, n_days if daily else len(kept)), dtype=np.float32)
    reports = []
    for first, _, parts in iter_chunks(params, n_runs, seed, start, end, world, chunk_size, interventions, initial,
                                       daily, bar.update if bar else None, district_days):
        fd, how, h, sh = parts
        rows = slice(first, first + fd.shape[0])
        fall_day[rows], fall_how[rows], share[rows] = fd, how, sh
        if daily:
            held[rows] = h
        reports.append(parts.seeding)
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
        fall_day=fall_day,
        fall_how=fall_how,
        held_count=held,
        district_share=share,
        district_days=kept,
        **seeding_fields(reports),
    )


def seeding_fields(reports) -> dict:
    """EnsembleResult's ess and seeding from the chunks' SeedingReports (None where no chunk was seeded)."""
    if all(r is None for r in reports):
        return {"ess": None, "seeding": None}
    return {"ess": np.array([r.ess for r in reports]), "seeding": summarise(reports)}
