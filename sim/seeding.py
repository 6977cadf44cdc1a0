"""The state on the morning of a run's start date, seeded by assimilating what had been observed before it.

A run that starts on 1 May uses the initial conditions of the ODD (section 5) and nothing observed; its replicates
already differ there, each with its own multiplier on the district hazard (rules.initial_state,
rural_rate_spread). A run that starts on a later day D is seeded as a particle filter would (sequential importance
resampling), on each chunk of replicates (one generator) on its own:

1. spin-up: the replicates run the model's own rules from 1 May to the evening before D, except that the capitals
   fall exactly as the record says: each capital that fell before D falls on its observed day, and no other
   capital falls. Everything else follows from the mechanisms (district control, road cuts, isolation, sieges,
   morale, the captured capitals' prisons);
2. weight: each replicate is weighed by how likely the model made what was observed, the product of
   - on each forced fall's day, the chance the model gave that capital to fall then (rules.fall_chances, assault
     plus giving up, as resolve_sieges draws against): a chance below seed_fall_floor (none before the campaign
     gate, or a capital not pressed) is scored at the floor, as an event from outside the model, and counted;
   - every other day and held capital, the chance it did not fall (1 - chance, floored alike);
   - each Long War Journal figure the world knows with its `as_of` day in the spin-up: Gaussian on the national
     share at the end of that day, with one s.d. of lwj_share_error times the figure;
3. resample: systematic resampling by the weights (one uniform from the run's generator), every State field of a
   replicate taken with the same index. Kish's effective sample size of the weights, (sum w)^2 / sum w^2, is
   reported before resampling (SeedingReport). Where it falls below MIN_ESS_SHARE of the replicates the weights
   have collapsed: the likelihood is tempered (raised to the largest power beta <= 1 that keeps that many
   effective replicates, as if the observation errors were wider by 1 / sqrt(beta)) and the report says so,
   with beta and the untempered ESS;
4. on the morning of D, the scenario's [initial] table is applied: capitals listed as fallen have fallen (the day
   before D, forced in the spin-up like the observed ones), capitals listed as besieged start at least at the siege
   threshold, and prisoners_freed join at prisoner_join_share.

District control is the model's own: it is no longer rescaled to the last LWJ figure, which distorted early
starts. Everything is drawn from the run's own generator, so a seeded run is as reproducible as any, and a chunk
of one (the Mesa model) resamples to itself after the same draws. Observed fall dates enter a run only here; the
record seen is that of the world given (World.known_on(D) for a forecast).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace

import numpy as np

from .params import Params
from .kernels import advance_day, apply_falls
from .rules import NOT_FALLEN, SEEDED, Drivers, State, initial_state
from .world import World, day_index

DEFAULT_DISTRICT_TOTAL = 407  # LWJ's denominator in 2021 where a figure gives none (data/README.md)
MIN_ESS_SHARE = 0.05  # fewer effective replicates than this share of a chunk: the weights have collapsed


@dataclass(frozen=True)
class InitialConditions:
    """What a scenario adds to the observed record at its start ([initial] in a scenario file)."""

    fallen: tuple[str, ...] = ()
    besieged: tuple[str, ...] = ()
    prisoners_freed: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not (self.fallen or self.besieged or self.prisoners_freed)


@dataclass(frozen=True)
class SeedingReport:
    """How one chunk's seeded start was weighed and resampled."""

    n: int  # replicates in the chunk
    ess: float  # Kish effective sample size of the untempered weights, before resampling
    beta: float  # power the likelihood was raised to (1: untempered; below 1 where the weights collapsed)
    ess_tempered: float  # effective sample size of the weights resampled with
    n_forced: int  # falls forced in the spin-up
    floored: float  # forced falls the model gave less than seed_fall_floor, per replicate on average, before ...
    floored_kept: float  # ... and after resampling
    lwj_days: tuple[int, ...]  # day indices of the LWJ figures weighed

    @property
    def ess_share(self) -> float:
        return self.ess / self.n

    @property
    def collapsed(self) -> bool:
        return self.ess < MIN_ESS_SHARE * self.n


def summarise(reports) -> dict | None:
    """One summary of the chunks' SeedingReports (None for a start with no spin-up): the ESS as a share of the
    replicates (smallest and pooled), the chunks that collapsed, the smallest tempering power, the forced falls
    the model could not make, and each chunk's report."""
    reports = [r for r in reports if r is not None]
    if not reports:
        return None
    n = sum(r.n for r in reports)
    return {
        "ess_share_min": min(r.ess_share for r in reports),
        "ess_share": sum(r.ess for r in reports) / n,
        "collapsed_chunks": sum(r.collapsed for r in reports),
        "beta_min": min(r.beta for r in reports),
        "n_forced": reports[0].n_forced,
        "floored": sum(r.floored * r.n for r in reports) / n,
        "floored_kept": sum(r.floored_kept * r.n for r in reports) / n,
        "lwj_days": list(reports[0].lwj_days),
        "chunks": [{f.name: getattr(r, f.name) for f in fields(r)} | {"collapsed": r.collapsed} for r in reports],
    }


def observed_fall_days(world: World) -> np.ndarray:
    """(P,) observed day index of each capital's fall, NOT_FALLEN where none is recorded. For seeding only."""
    return np.array([day_index(p.fell_on) if p.fell_on else NOT_FALLEN for p in world.record.provinces],
                    dtype=np.int16)


def seeded_fall_days(world: World, start_day: int, initial: InitialConditions) -> np.ndarray:
    """(P,) the day each capital that starts Taliban-held fell (observed, or the day before the start for a
    scenario's [initial] fallen with no earlier observed fall); NOT_FALLEN for the others."""
    observed = observed_fall_days(world)
    out = np.where((observed != NOT_FALLEN) & (observed < start_day), observed, NOT_FALLEN).astype(np.int16)
    for name in initial.fallen:
        i = world.record.index[name]
        if out[i] == NOT_FALLEN:
            out[i] = max(start_day - 1, 0)
    return out


def district_share(o) -> float:
    """The national Taliban district share of one LWJ figure."""
    return o.taliban / (o.total or DEFAULT_DISTRICT_TOTAL)


def known_district_share(world: World, on: dt.date) -> float | None:
    """The last national Taliban district share the Long War Journal reported before `on`."""
    known = [o for o in world.record.district_series if o.as_of < on]
    if not known:
        return None
    return district_share(max(known, key=lambda o: o.as_of))


def lwj_figures(world: World, start_day: int) -> dict[int, float]:
    """Day index -> share of the LWJ figures of `world` whose as_of day lies in the spin-up (0 .. start_day - 1):
    the ones a replicate's own share can be held against. Figures before 1 May describe the common initial state."""
    return {day_index(o.as_of): district_share(o) for o in world.record.district_series
            if 0 <= day_index(o.as_of) < start_day}


class Likelihood:
    """Log-likelihood of what was observed, per replicate, accumulated over the spin-up (float64: a sum of
    thousands of terms)."""

    def __init__(self, n: int, p: Params):
        self.log = np.zeros(n)
        self.floored = np.zeros(n)
        self.n_forced = 0
        self.floor = p.seed_fall_floor
        self.error = p.lwj_share_error

    def falls(self, day: int, chances, forced: np.ndarray, is_held: np.ndarray) -> None:
        """rules.Drivers.seed_observe: the day's forced falls at the chance the model gave them, no other fall at
        one minus it."""
        self.n_forced += int(forced[0].sum())
        if chances is None:  # before the campaign gate nothing can fall: a forced fall is the model's floor
            self.floored += forced.sum(axis=1)
            self.log += np.log(self.floor) * forced.sum(axis=1)
            return
        p_fall = np.minimum(sum(c.astype(np.float64) for c in chances), 1.0)  # assault, give-up, deal
        self.floored += (forced & (p_fall < self.floor)).sum(axis=1)
        like = np.where(forced, p_fall, 1.0 - p_fall)
        like[~is_held] = 1.0
        np.maximum(like, self.floor, out=like)
        self.log += np.log(like).sum(axis=1)

    def share(self, simulated: np.ndarray, observed: float) -> None:
        """An LWJ figure against each replicate's national share at the end of its day."""
        z = (simulated.astype(np.float64) - observed) / (self.error * observed)
        self.log -= 0.5 * z * z


def kish_ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights w: (sum w)^2 / sum w^2."""
    return float(w.sum() ** 2 / (w * w).sum())


def temper(log_w: np.ndarray, min_ess: float) -> tuple[float, np.ndarray]:
    """(beta, weights exp(beta x log_w)): beta = 1 if those weights keep at least min_ess effective replicates,
    else the largest beta that does (bisection; the ESS falls as beta grows)."""
    log_w = log_w - log_w.max()
    if kish_ess(np.exp(log_w)) >= min_ess:
        return 1.0, np.exp(log_w)
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if kish_ess(np.exp(mid * log_w)) >= min_ess:
            lo = mid
        else:
            hi = mid
    return lo, np.exp(lo * log_w)


def systematic_resample(w: np.ndarray, u: float) -> np.ndarray:
    """Indices of n draws by weight w with one uniform u: the k-th at (u + k) / n of the cumulative weight. Each
    replicate is kept floor(n w) or ceil(n w) times (w normalised), in order; equal weights keep every one once."""
    n = w.size
    if np.all(w == w[0]):
        return np.arange(n)
    cum = np.cumsum(w / w.sum())
    cum[-1] = 1.0
    return np.minimum(np.searchsorted(cum, (u + np.arange(n)) / n, side="right"), n - 1)


def take(s: State, idx: np.ndarray) -> State:
    """The replicates idx of s: every field with the same index, so a replicate's state stays whole, except the
    random stream, which stays with its slot: two copies of one replicate must not draw the same future."""
    return State(**{f.name: getattr(s, f.name) if f.name == "stream" else getattr(s, f.name)[idx]
                    for f in fields(s)})


def seed_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int,
               initial: InitialConditions | None = None,
               rng: np.random.Generator | None = None) -> tuple[State, SeedingReport | None]:
    """The state of n replicates on the morning of start_day and how its spin-up was weighed (None without one);
    see the module docstring for the rules."""
    if rng is None:
        raise ValueError("a run's start draws from the run's random generator")
    initial = initial or InitialConditions()
    s = initial_state(world, p, drivers, n, 0, rng)
    if start_day == 0 and initial.is_empty:
        return s, None

    fall_days = seeded_fall_days(world, start_day, initial)
    report = None
    if start_day > 0:
        like = Likelihood(n, p)
        figures = lwj_figures(world, start_day)
        weights = (world.n_districts / world.n_districts.sum()).astype(np.float32)
        spin_up = replace(drivers, seed_fall_days=fall_days, seed_until=start_day, seed_observe=like.falls)
        for day in range(start_day):
            advance_day(s, world, p, spin_up, day)
            if day in figures:
                like.share(s.control @ weights, figures[day])
        beta, w = temper(like.log, MIN_ESS_SHARE * n)
        idx = systematic_resample(w, rng.random())  # drawn whatever the weights: the same draws in every chunk
        s = take(s, idx)
        report = SeedingReport(n=n, ess=kish_ess(np.exp(like.log - like.log.max())), beta=beta,
                               ess_tempered=kish_ess(w), n_forced=like.n_forced, floored=float(like.floored.mean()),
                               floored_kept=float(like.floored[idx].mean()), lwj_days=tuple(sorted(figures)))
    else:  # [initial] fallen on a 1 May start: they fall "the day before", with no spin-up to run
        falls = np.broadcast_to(fall_days != NOT_FALLEN, s.control.shape).copy()
        s.fall_how[falls] = SEEDED
        apply_falls(s, world, p, drivers, 0, falls)
    fallen = fall_days != NOT_FALLEN
    # Record the observed day where the record has one by the start (e.g. Ghazni, taken on the morning of 12
    # August, which the spin-up had to put on the 11th).
    observed = observed_fall_days(world)
    recorded = np.where((observed != NOT_FALLEN) & (observed <= start_day), observed, fall_days)
    s.fall_day[:, fallen] = recorded[fallen]

    for name in initial.besieged:
        i = world.record.index[name]
        s.control[:, i] = np.where(s.is_held[:, i], np.maximum(s.control[:, i], p.siege_threshold),
                                   s.control[:, i])
    if initial.prisoners_freed and p.prison_breaks:
        s.taliban += np.float32(initial.prisoners_freed * p.prisoner_join_share)
    return s, report


def start_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int,
                initial: InitialConditions | None = None, rng: np.random.Generator | None = None) -> State:
    """The state of n replicates on the morning of start_day (seed_state without its report)."""
    return seed_state(world, p, drivers, n, start_day, initial, rng)[0]
