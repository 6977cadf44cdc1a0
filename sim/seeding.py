"""The state on the morning of a run's start date, seeded from what had been observed before it.

A run that starts on 1 May uses the initial conditions of the ODD (section 5) and nothing observed. A run that
starts on a later day D is seeded by a spin-up: the model runs its own rules from 1 May to the evening before D,
except that the capitals fall exactly as the record says — each capital that fell before D falls on its
observed day, and no other capital falls. Everything else follows from the mechanisms: district control and
road cuts grow, garrisons are isolated, besieged and eroded, morale drops with the withdrawal and with each
observed fall (nationally and next door), the captured capitals' prisons open and their roads close. Then, on
the morning of D:

1. district control is rescaled, for each replicate, so the national share equals the last Long War Journal
   figure published before D (held provinces scaled by one factor, never above held_capital_control_cap). The
   last figure is carried forward rather than interpolated towards a later one, which would use information
   from after D;
2. what the scenario's [initial] table adds is applied: capitals listed as fallen fall (before D), capitals
   listed as besieged start at least at the siege threshold, and prisoners_freed join at prisoner_join_share.

The spin-up draws its random numbers from the run's own generator, so a seeded run is as reproducible as any.
Observed fall dates enter a run only here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np

from .params import Params
from .rules import NOT_FALLEN, SEEDED, Drivers, State, advance_day, apply_falls, initial_state
from .world import World, day_date, day_index

DEFAULT_DISTRICT_TOTAL = 407  # LWJ's denominator in 2021 where a figure gives none (data/README.md)


@dataclass(frozen=True)
class InitialConditions:
    """What a scenario adds to the observed record at its start ([initial] in a scenario file)."""

    fallen: tuple[str, ...] = ()
    besieged: tuple[str, ...] = ()
    prisoners_freed: float = 0.0

    @property
    def is_empty(self) -> bool:
        return not (self.fallen or self.besieged or self.prisoners_freed)


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


def known_district_share(world: World, on: dt.date) -> float | None:
    """The last national Taliban district share the Long War Journal reported before `on`."""
    known = [o for o in world.record.district_series if o.as_of < on]
    if not known:
        return None
    last = max(known, key=lambda o: o.as_of)
    return last.taliban / (last.total or DEFAULT_DISTRICT_TOTAL)


def rescale_control(control: np.ndarray, is_held: np.ndarray, weights: np.ndarray, target: float,
                    cap: float) -> np.ndarray:
    """Scale each replicate's held provinces by one factor (capped) so its weighted national share is `target`.

    Vectorised bisection over replicates; where even the cap cannot reach the target, held provinces sit at it.
    """
    control = control.astype(float)

    def share(k):
        scaled = np.where(is_held, np.minimum(control * k[:, None], cap), control)
        return scaled @ weights

    n = control.shape[0]
    lo, hi = np.zeros(n), np.full(n, 64.0)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        below = share(mid) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.where(is_held, np.minimum(control * hi[:, None], cap), control)


def start_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int,
                initial: InitialConditions | None = None, rng: np.random.Generator | None = None) -> State:
    """The state of n replicates on the morning of start_day (see the module docstring for the rules)."""
    initial = initial or InitialConditions()
    if start_day == 0 and initial.is_empty:
        return initial_state(world, p, drivers, n, 0)
    if rng is None:
        raise ValueError("a seeded start needs the run's random generator for its spin-up")

    fall_days = seeded_fall_days(world, start_day, initial)
    s = initial_state(world, p, drivers, n, 0)
    if start_day > 0:
        spin_up = replace(drivers, seed_fall_days=fall_days, seed_until=start_day)
        for day in range(start_day):
            advance_day(s, world, p, spin_up, day, rng)
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

    target = known_district_share(world, day_date(start_day)) if start_day > 0 else None
    if target is not None:
        weights = world.n_districts / world.n_districts.sum()
        s.control[:] = rescale_control(s.control, s.is_held, weights, target, p.held_capital_control_cap)
    for name in initial.besieged:
        i = world.record.index[name]
        s.control[:, i] = np.where(s.is_held[:, i], np.maximum(s.control[:, i], p.siege_threshold),
                                   s.control[:, i])
    if initial.prisoners_freed and p.prison_breaks:
        s.taliban += np.float32(initial.prisoners_freed * p.prisoner_join_share)
    return s
