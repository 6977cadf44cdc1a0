"""The state on the morning of a run's start date, seeded from what was observed before it.

A run that starts on 1 May uses the initial conditions of the ODD (section 5) and nothing observed. A run that
starts on a later day D uses the observed record as of the morning of D, and only what had been observed by then:

1. capitals: those the record has falling before D (and any the scenario lists under [initial] fallen) start
   Taliban-held, with their observed fall day, their garrison gone, and every road to them closed;
2. prisoners: each of those capitals' prisons is open (prisoners_per_capital x prisoner_join_share fighters
   each, plus the scenario's [initial] prisoners_freed); Taliban strength has grown by recruitment since 1 May;
3. morale: the withdrawal's toll up to D, and the cascade of the seeded falls (cascade_national for each,
   cascade_neighbour for each fallen road neighbour);
4. district control: the 1 May pattern, raised where districts were reported captured by mid-June / mid-July
   if D is after those dates, seeded provinces at 1, then the held provinces scaled together (never above
   held_capital_control_cap) so the national district share equals the last Long War Journal figure dated
   before D. The last figure is carried forward rather than interpolated towards a later one, which would use
   information from after D. Provinces the scenario lists under [initial] besieged start at least at the siege
   threshold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .params import Params
from .rules import NOT_FALLEN, SEEDED, Drivers, State, _close_roads_at_fallen_capitals, initial_state
from .world import World, day_date, day_index

JUN15 = dt.date(2021, 6, 15)  # dates of the reported-capture columns of province_covariates.csv
JUL14 = dt.date(2021, 7, 14)
DEFAULT_DISTRICT_TOTAL = 407  # LWJ's denominator in 2021 where a figure gives none (data/README.md)


@dataclass(frozen=True)
class InitialConditions:
    """What a scenario adds to the observed record at its start ([initial] in a scenario file)."""

    fallen: tuple[str, ...] = ()
    besieged: tuple[str, ...] = ()
    prisoners_freed: float = 0.0


def observed_fall_days(world: World) -> np.ndarray:
    """(P,) observed day index of each capital's fall, NOT_FALLEN where none is recorded. For seeding only."""
    return np.array([day_index(p.fell_on) if p.fell_on else NOT_FALLEN for p in world.record.provinces],
                    dtype=np.int16)


def seeded_fall_days(world: World, start_day: int, initial: InitialConditions) -> np.ndarray:
    """(P,) fall day of every capital that starts Taliban-held, NOT_FALLEN for the others."""
    observed = observed_fall_days(world)
    out = np.where((observed != NOT_FALLEN) & (observed < start_day), observed, NOT_FALLEN).astype(np.int16)
    for name in initial.fallen:
        i = world.record.index[name]
        if out[i] == NOT_FALLEN:
            known = observed[i] != NOT_FALLEN and observed[i] <= start_day
            out[i] = observed[i] if known else max(start_day - 1, 0)
    return out


def known_district_share(world: World, on: dt.date) -> float | None:
    """The last national Taliban district share the Long War Journal reported before `on`."""
    known = [o for o in world.record.district_series if o.as_of < on]
    if not known:
        return None
    last = max(known, key=lambda o: o.as_of)
    return last.taliban / (last.total or DEFAULT_DISTRICT_TOTAL)


def _scale_to_share(control: np.ndarray, fallen: np.ndarray, weights: np.ndarray, target: float,
                    cap: float) -> np.ndarray:
    """Scale the held provinces' control by one factor (capped) so the weighted national share hits target."""
    def share(k):
        c = np.where(fallen, 1.0, np.minimum(control * k, cap))
        return float(c @ weights)

    lo, hi = 0.0, 1.0
    while share(hi) < target and hi < 1e6:
        hi *= 2.0
    if share(hi) < target:  # even at the cap everywhere the target is out of reach
        return np.where(fallen, 1.0, cap)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if share(mid) < target else (lo, mid)
    return np.where(fallen, 1.0, np.minimum(control * hi, cap))


def start_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int,
                initial: InitialConditions | None = None) -> State:
    """The state of n replicates on the morning of start_day (see the module docstring for the rules)."""
    initial = initial or InitialConditions()
    fall_days = seeded_fall_days(world, start_day, initial)
    if start_day == 0 and not (fall_days != NOT_FALLEN).any() and not initial.besieged \
            and not initial.prisoners_freed:
        return initial_state(world, p, drivers, n, 0)

    s = initial_state(world, p, drivers, n, start_day)
    fallen = fall_days != NOT_FALLEN
    s.is_held[:, fallen] = False
    s.fall_day[:, fallen] = fall_days[fallen]
    s.fall_how[:, fallen] = SEEDED
    s.garrison[:, fallen] = 0.0
    if fallen[world.kabul]:
        s.kabul_fell_day[:] = fall_days[world.kabul]
    _close_roads_at_fallen_capitals(world, s)

    n_fallen = int(fallen.sum())
    fighters = p.taliban_strength * (1.0 + p.taliban_recruitment_rate) ** start_day
    if p.prison_breaks:
        fighters += (p.prisoners_per_capital * n_fallen + initial.prisoners_freed) * p.prisoner_join_share
    s.taliban[:] = fighters

    if p.morale_cascade and n_fallen:
        next_door = fallen.astype(float) @ world.adjacency
        s.morale -= (p.cascade_national * n_fallen + p.cascade_neighbour * next_door).astype(np.float32)
        np.clip(s.morale, 0.0, 1.0, out=s.morale)

    start = day_date(start_day)
    control = drivers.control0.astype(float)
    cov = world.record.covariates
    if start > JUN15:
        control = np.maximum(control, [c.districts_taliban_jun15 / c.n_districts_csvmap for c in cov])
    if start > JUL14:
        control = np.maximum(control, [c.districts_taliban_jul15 / c.n_districts_csvmap for c in cov])
    target = known_district_share(world, start) if start_day > 0 else None
    weights = world.n_districts / world.n_districts.sum()
    if target is not None:
        control = _scale_to_share(control, fallen, weights, target, p.held_capital_control_cap)
    else:
        control = np.where(fallen, 1.0, np.minimum(control, p.held_capital_control_cap))
    for name in initial.besieged:
        i = world.record.index[name]
        if not fallen[i]:
            control[i] = max(control[i], p.siege_threshold)
    s.control[:] = control.astype(np.float32)
    return s
