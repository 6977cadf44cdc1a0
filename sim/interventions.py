"""Dated interventions ("events" in scenario files) and their compilation into day-indexed arrays.

An intervention is a what-if applied on a date: US air support at some share, contractors at some share,
troops sent to a capital, a road held or cut, a morale shock, a ceasefire in a province, a slower or faster
withdrawal. `KINDS` documents every
kind with its arguments; `compile_schedule` turns a list of interventions into the arrays the rules read, so
the rules see plain arrays and nothing of the scenario files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from .world import N_CALENDAR_DAYS, World, day_index

ALL = "all"


@dataclass(frozen=True)
class Arg:
    type: str  # "share", "number", "province", "province_or_all", "link", "choice", "date"
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    required: bool = True


@dataclass(frozen=True)
class Kind:
    doc: str
    args: dict[str, Arg] = field(default_factory=dict)


KINDS: dict[str, Kind] = {
    "us_air_support": Kind(
        "From `on`, US air support runs at `share` of its level before the Bagram handover (0 ends it). It replaces "
        "the withdrawal timeline's schedule (full until 2 Jul, `us_air_after_bagram` until 31 Aug, then none) from "
        "that day; a later event of the same kind replaces it again.",
        {"share": Arg("share", "share of the pre-Bagram level, 0-1", 0.0, 1.0)}),
    "contractors": Kind(
        "From `on`, the contractors supporting the Afghan Air Force stay at `share` of their April number "
        "(replacing the census interpolation); AAF readiness follows through aaf_contractor_dependence.",
        {"share": Arg("share", "share of the April 2021 contractor force, 0-1", 0.0, 1.0)}),
    "reinforce": Kind(
        "On `on`, `troops` are added to the garrison of `province`'s capital (if it still holds). At most 50,000 "
        "go to one province over all events.",
        {"province": Arg("province", "a province name"),
         "troops": Arg("number", "persons, 1-50,000", 1.0, 50_000.0)}),
    "road": Kind(
        "From `on` (until `until`, inclusive, if given) the link `link` is held (it cannot be cut, and a cut is "
        "reopened while both ends hold) or cut (closed to the government).",
        {"link": Arg("link", "a link_id of data/roads.csv"),
         "action": Arg("choice", "hold or cut", choices=("hold", "cut")),
         "until": Arg("date", "last day of the action (optional)", required=False)}),
    "morale_shock": Kind(
        "On `on`, the garrison morale of `province` (or of every province: all) changes by minus `amount` "
        "(a negative amount raises it).",
        {"province": Arg("province_or_all", "a province name or all"),
         "amount": Arg("number", "morale points, -1 to 1", -1.0, 1.0)}),
    "withdrawal_pace": Kind(
        "From `on`, the withdrawal still to come runs at `pace` times the timeline's speed: its progress (and with "
        "it the morale toll and the campaign gate), the contractors' departure, the Bagram handover and the end of "
        "the mission are all re-timed on one clock (0.5: the rest takes twice as long; 0: the withdrawal halts; "
        "2: twice as fast). A later event of the same kind changes the pace again from its day. `us_air_support` "
        "and `contractors` events still override their schedules.",
        {"pace": Arg("number", "speed of the rest of the withdrawal relative to the timeline, 0-4", 0.0, 4.0)}),
    "ceasefire": Kind(
        "From `on` until `until` (inclusive) no district falls in `province` (or anywhere: all), and its capital "
        "is neither assaulted nor handed over.",
        {"province": Arg("province_or_all", "a province name or all"),
         "until": Arg("date", "last day of the ceasefire")}),
}


@dataclass(frozen=True)
class Intervention:
    kind: str
    on: dt.date
    args: tuple[tuple[str, object], ...] = ()

    def get(self, name, default=None):
        return dict(self.args).get(name, default)


@dataclass(frozen=True, eq=False)
class Schedule:
    """The interventions as day-indexed arrays (days count from 2021-05-01); None where no event of a kind."""

    us_share: np.ndarray | None = None  # (days,) override of the US air share, NaN where the timeline applies
    contractor_share: np.ndarray | None = None  # (days,) override, NaN where the census interpolation applies
    road_hold: np.ndarray | None = None  # (days, E) bool
    road_cut: np.ndarray | None = None  # (days, E) bool
    ceasefire: np.ndarray | None = None  # (days, P) bool
    reinforce: dict[int, np.ndarray] = field(default_factory=dict)  # day -> (P,) troops
    morale_shock: dict[int, np.ndarray] = field(default_factory=dict)  # day -> (P,) morale points lost
    # (days,) the withdrawal timeline's day that each calendar day stands at (withdrawal_pace); None: the same day
    timeline_clock: np.ndarray | None = None

    @property
    def is_empty(self) -> bool:
        return (self.us_share is None and self.contractor_share is None and self.road_hold is None
                and self.road_cut is None and self.ceasefire is None and not self.reinforce
                and not self.morale_shock and self.timeline_clock is None)


def _provinces(world: World, name: str) -> np.ndarray:
    mask = np.zeros(world.n_provinces, dtype=bool)
    if name == ALL:
        mask[:] = True
    else:
        mask[world.record.index[name]] = True
    return mask


def _step_override(events, days: int) -> np.ndarray | None:
    """A value that holds from each event's day until the next event's: NaN before the first."""
    if not events:
        return None
    out = np.full(days, np.nan)
    for e in sorted(events, key=lambda e: e.on):
        out[day_index(e.on):] = e.get("share")
    return out


def _timeline_clock(events, days: int) -> np.ndarray | None:
    """Calendar day -> the timeline's day under withdrawal_pace events: the identity until the first event, then
    advancing by each event's pace per day from its day on (piecewise linear, capped at the timeline's last day)."""
    if not events:
        return None
    rate = np.ones(days)
    for e in sorted(events, key=lambda e: e.on):
        rate[day_index(e.on):] = float(e.get("pace"))
    clock = np.concatenate([[0.0], np.cumsum(rate[:-1])])  # day t stands at the sum of the rates of days 0..t-1
    return np.minimum(clock, days - 1)


def compile_schedule(world: World, interventions) -> Schedule:
    interventions = tuple(interventions)
    if not interventions:
        return Schedule()
    days = N_CALENDAR_DAYS
    by_kind = {k: [e for e in interventions if e.kind == k] for k in KINDS}
    link_index = {link: i for i, link in enumerate(world.link_ids)}

    road_hold = road_cut = None
    for e in by_kind["road"]:
        first = day_index(e.on)
        last = day_index(e.get("until")) if e.get("until") else days - 1
        target = np.zeros((days, world.n_roads), dtype=bool)
        target[first:last + 1, link_index[e.get("link")]] = True
        if e.get("action") == "hold":
            road_hold = target if road_hold is None else road_hold | target
        else:
            road_cut = target if road_cut is None else road_cut | target

    ceasefire = None
    for e in by_kind["ceasefire"]:
        target = np.zeros((days, world.n_provinces), dtype=bool)
        target[day_index(e.on):day_index(e.get("until")) + 1] = _provinces(world, e.get("province"))
        ceasefire = target if ceasefire is None else ceasefire | target

    reinforce: dict[int, np.ndarray] = {}
    for e in by_kind["reinforce"]:
        d = day_index(e.on)
        reinforce.setdefault(d, np.zeros(world.n_provinces))
        reinforce[d] += _provinces(world, e.get("province")) * float(e.get("troops"))

    morale_shock: dict[int, np.ndarray] = {}
    for e in by_kind["morale_shock"]:
        d = day_index(e.on)
        morale_shock.setdefault(d, np.zeros(world.n_provinces))
        morale_shock[d] += _provinces(world, e.get("province")) * float(e.get("amount"))

    return Schedule(
        us_share=_step_override(by_kind["us_air_support"], days),
        contractor_share=_step_override(by_kind["contractors"], days),
        road_hold=road_hold,
        road_cut=road_cut,
        ceasefire=ceasefire,
        reinforce={d: v.astype(np.float32) for d, v in reinforce.items()},
        morale_shock={d: v.astype(np.float32) for d, v in morale_shock.items()},
        timeline_clock=_timeline_clock(by_kind["withdrawal_pace"], days),
    )
