"""The mechanisms of the model, once, as functions over arrays with a leading replicate axis.

Every array in `State` has shape (N, ...) where N is the number of replicates advanced together: the Mesa model
(sim/model.py) uses N = 1, the ensemble path (sim/ensemble.py) uses N in the thousands. There is no other copy of
these rules. A rule reads the state, the fixed world, the parameters and the day's drivers, draws what it needs
from the `rng` it is given, and updates the state in place. No Mesa, no I/O, no plotting.

The order of one day (`advance_day`) is:
    1. allocate_effort       where Taliban forces press (the targeting rule)
    2. allocate_air_support  mechanism 4: national air capacity to the most threatened garrisons
    3. expand_rural_control  mechanism 1: districts fall, faster next to Taliban-held ground
    4. cut_roads             mechanism 2: links are cut as the country around them is lost
    5. update_supply         mechanism 3: garrisons with no open path to Kabul are isolated and erode
    6. resolve_sieges        mechanisms 5, 6 and 8: assaults, surrenders and negotiated hand-overs
    7. apply_falls           mechanisms 6 and 7: morale cascade and prison breaks after today's falls
    8. recruit               Taliban strength grows

The model never reads observed fall dates. `initial_state` takes them only to seed capitals that had already
fallen before a run's start date.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .params import Params
from .world import World

# How a capital fell; codes stored in State.fall_how.
HELD, FIGHTING, NEGOTIATED, SURRENDER, SEEDED = 0, 1, 2, 3, 4
FALL_HOW_NAMES = {HELD: "held", FIGHTING: "fighting", NEGOTIATED: "negotiated", SURRENDER: "surrender",
                  SEEDED: "observed before start"}
NOT_FALLEN = -1


@dataclass
class State:
    """Everything that changes during a run. Shapes: (N, P) per province, (N, E) per road, (N,) national."""

    control: np.ndarray  # share of each province's districts under Taliban control, 0-1
    is_held: np.ndarray  # the capital is government-held
    fall_day: np.ndarray  # day index the capital fell (NOT_FALLEN while held)
    fall_how: np.ndarray  # HELD / FIGHTING / NEGOTIATED / SURRENDER / SEEDED
    garrison: np.ndarray  # ANDSF persons defending the province
    morale: np.ndarray  # garrison morale, 0-1
    effort: np.ndarray  # Taliban fighters pressing each province today
    air_cover: np.ndarray  # share of a full day's air cover each garrison gets today, 0-1
    is_besieged: np.ndarray
    is_supplied: np.ndarray  # open path to Kabul through government-held capitals
    is_road_open: np.ndarray  # (N, E)
    taliban: np.ndarray  # (N,) Taliban fighters nationally
    kabul_fell_day: np.ndarray  # (N,) day Kabul fell, NOT_FALLEN while it holds
    supply_dirty: np.ndarray  # (N,) roads or capitals changed since supply was last computed

    @property
    def n(self) -> int:
        return self.control.shape[0]

    def copy(self) -> "State":
        return State(**{f.name: getattr(self, f.name).copy() for f in fields(self)})


@dataclass(frozen=True, eq=False)
class Drivers:
    """What the parameters make of the fixed world: computed once per run, not every day."""

    garrison0: np.ndarray  # (P,) initial garrison
    morale0: np.ndarray  # (P,)
    control0: np.ndarray  # (P,)
    attractiveness: np.ndarray  # (P,) static log-attractiveness of each province as a target
    air_capacity: np.ndarray  # (days,) strikes available nationally per day
    morale_drop: np.ndarray  # (days,) morale lost to the withdrawal by each day
    is_campaign_open: np.ndarray  # (days,) the withdrawal is far enough along for capitals to be taken
    road_cut_hazard: np.ndarray  # (E,) per-day cut rate at full control of both ends


def make_drivers(world: World, p: Params) -> Drivers:
    # Garrisons: Kabul gets a fixed share, the rest is spread by population^exponent, more where a corps HQ sits.
    weight = world.population**p.garrison_population_exponent * (1.0 + p.corps_hq_bonus * world.has_corps_hq)
    weight[world.kabul] = 0.0
    garrison0 = (1.0 - p.kabul_garrison_share) * p.andsf_strength * weight / weight.sum()
    garrison0[world.kabul] = p.kabul_garrison_share * p.andsf_strength

    morale0 = np.clip(p.morale_initial + p.morale_holdout_bonus * world.holdout_level
                      + p.morale_power_broker_bonus * world.has_power_broker, 0.0, 1.0)

    # Initial district control: the national LWJ figure everywhere, more around the capitals the DIA reported
    # surrounded in February 2021, none in the areas held against the Taliban throughout 1996-2001.
    control0 = np.where(world.surrounded_feb_2021, p.surrounded_initial_control, p.initial_control_share)
    control0 = np.where(world.is_holdout, 0.0, control0)

    attractiveness = (p.target_north_weight * world.is_north_non_pashtun
                      + p.target_crossing_weight * world.has_crossing
                      + p.target_east_weight * world.is_pakistan_east
                      + p.target_holdout_weight * world.is_holdout)

    # Air capacity follows the withdrawal: AAF readiness falls with the contractors, US support steps down at the
    # Bagram handover and ends with the mission.
    readiness = 1.0 - p.aaf_contractor_dependence * (1.0 - np.clip(world.contractor_share, 0.0, 1.0))
    us_share = np.select([world.us_air_phase == 2, world.us_air_phase == 1], [1.0, p.us_air_after_bagram], 0.0)
    air_capacity = p.aaf_strikes_per_day * readiness + p.us_strikes_per_day * us_share
    if not p.air_support:
        air_capacity = np.zeros_like(air_capacity)

    road_cut_hazard = p.road_cut_rate * world.km / 100.0 * np.where(world.is_poor, p.poor_road_cut_multiplier, 1.0)
    return Drivers(
        garrison0=garrison0,
        morale0=morale0,
        control0=control0,
        attractiveness=attractiveness,
        air_capacity=air_capacity,
        morale_drop=p.withdrawal_morale_drop * world.withdrawal_progress,
        is_campaign_open=world.withdrawal_progress >= p.campaign_gate_progress,
        road_cut_hazard=road_cut_hazard,
    )


def initial_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int = 0,
                  seed_fall_days: np.ndarray | None = None) -> State:
    """The state on the morning of `start_day` for n replicates.

    seed_fall_days: (P,) observed fall day of each capital (NOT_FALLEN for none). Only capitals that fell before
    start_day are used: they start Taliban-held. This is the only place observed fall dates enter a run.
    """
    n_p, n_e = world.n_provinces, world.n_roads
    full = lambda v, shape=(n, n_p), dtype=float: np.full(shape, v, dtype=dtype)  # noqa: E731
    s = State(
        control=np.broadcast_to(drivers.control0, (n, n_p)).copy(),
        is_held=full(True, dtype=bool),
        fall_day=full(NOT_FALLEN, dtype=np.int16),
        fall_how=full(HELD, dtype=np.int8),
        garrison=np.broadcast_to(drivers.garrison0, (n, n_p)).copy(),
        # Morale on the morning of start_day carries the withdrawal's toll up to the day before.
        morale=np.broadcast_to(drivers.morale0 - drivers.morale_drop[max(start_day - 1, 0)], (n, n_p)).copy(),
        effort=full(0.0),
        air_cover=full(0.0),
        is_besieged=full(False, dtype=bool),
        is_supplied=full(True, dtype=bool),
        is_road_open=full(True, (n, n_e), bool),
        taliban=full(p.taliban_strength, (n,)),
        kabul_fell_day=full(NOT_FALLEN, (n,), np.int16),
        supply_dirty=full(True, (n,), bool),
    )
    if seed_fall_days is not None:
        fallen = (seed_fall_days != NOT_FALLEN) & (seed_fall_days < start_day)
        s.is_held[:, fallen] = False
        s.fall_day[:, fallen] = seed_fall_days[fallen]
        s.fall_how[:, fallen] = SEEDED
        s.control[:, fallen] = 1.0
        s.garrison[:, fallen] = 0.0
        if fallen[world.kabul]:
            s.kabul_fell_day[:] = seed_fall_days[world.kabul]
        _close_roads_at_fallen_capitals(world, s)
    return s


# --------------------------------------------------------------------------------------------------- the rules


def allocate_effort(s: State, world: World, p: Params, d: Drivers) -> None:
    """Targeting: Taliban fighters spread over the provinces whose capital the government still holds.

    Each province's share is a softmax of a log-attractiveness: the static preferences (the non-Pashtun north,
    border crossings, avoiding the Pakistan east and the 2001 hold-outs) plus momentum, the ground already held.
    """
    logit = d.attractiveness + p.target_momentum_weight * s.control
    # Effort scales with the ground to take (districts), tilted by attractiveness.
    weight = np.where(s.is_held, world.n_districts * np.exp(logit), 0.0)
    total = weight.sum(axis=1, keepdims=True)
    np.divide(weight, np.where(total > 0, total, 1.0), out=weight)
    s.effort = weight * s.taliban[:, None]


def threat(s: State, p: Params) -> np.ndarray:
    """How threatened each held garrison is: attackers massing against it per defender (0 where not besieged)."""
    besiegers = np.where(s.is_besieged, p.siege_force_share * s.effort, 0.0)
    return np.where(s.is_held, besiegers / np.maximum(s.garrison, 1.0), 0.0)


def allocate_air_support(s: State, world: World, p: Params, d: Drivers, day: int) -> None:
    """Mechanism 4: the day's national strike capacity covers the most threatened garrisons first."""
    if not p.air_support:
        s.air_cover[:] = 0.0
        return
    n_covered = d.air_capacity[day] / p.strikes_per_capital  # capitals that can be fully covered today
    t = threat(s, p)  # sieges as they stood at dawn: the air force plans on what it knew then
    rank = np.argsort(np.argsort(-t, axis=1, kind="stable"), axis=1, kind="stable")  # 0 = most threatened
    s.air_cover = np.where(t > 0, np.clip(n_covered - rank, 0.0, 1.0), 0.0)


def expand_rural_control(s: State, world: World, p: Params, d: Drivers, u: np.ndarray) -> None:
    """Mechanism 1: the share of districts under Taliban control grows, faster where fighters press, next to
    Taliban-held ground, and where the defenders' morale is low."""
    if not p.rural_expansion:
        return
    # Fighters per district, relative to the initial national average (1 = 1 May's even spread).
    per_district0 = p.taliban_strength / world.n_districts.sum()
    relative_effort = s.effort / world.n_districts / per_district0
    neighbour_control = (s.control @ world.adjacency) / world.degree
    weakness = np.clip(1.0 - s.morale, 0.0, 1.0) ** p.rural_morale_exponent
    hazard = p.rural_rate * relative_effort * (1.0 + p.rural_neighbour_boost * neighbour_control) * weakness
    # 2u has mean 1: the expected gain is (1 - control)(1 - exp(-hazard)); the spread stands in for districts.
    cap = np.where(s.is_held, p.held_capital_control_cap, 1.0)
    gain = np.maximum(cap - s.control, 0.0) * (1.0 - np.exp(-hazard)) * (2.0 * u)
    s.control = np.minimum(s.control + gain, cap)


def _close_roads_at_fallen_capitals(world: World, s: State) -> None:
    ends_held = s.is_held[:, world.edge_a] & s.is_held[:, world.edge_b]
    closing = s.is_road_open & ~ends_held
    s.supply_dirty |= closing.any(axis=1)
    s.is_road_open &= ends_held


def cut_roads(s: State, world: World, p: Params, d: Drivers, u: np.ndarray) -> None:
    """Mechanism 2: a link is cut with a daily chance that grows with the Taliban share of the country at both
    ends and with its length (poor roads more); a cut link between two held capitals may be reopened."""
    if not p.road_interdiction:
        return
    exposure = s.control[:, world.edge_a] * s.control[:, world.edge_b]
    p_cut = 1.0 - np.exp(-d.road_cut_hazard * exposure)
    ground = (1.0 - s.control[:, world.edge_a]) * (1.0 - s.control[:, world.edge_b])
    p_reopen = p.road_reopen_rate * ground
    ends_held = s.is_held[:, world.edge_a] & s.is_held[:, world.edge_b]
    cut = s.is_road_open & (u < p_cut)
    reopened = ~s.is_road_open & ends_held & (u < p_reopen)
    changed = cut | reopened
    s.is_road_open ^= changed
    s.supply_dirty |= changed.any(axis=1)


def connected_to_kabul(world: World, is_held: np.ndarray, is_road_open: np.ndarray, kabul: int) -> np.ndarray:
    """(N, P) bool: the capital has a path of open links through government-held capitals to Kabul."""
    usable = (is_road_open & is_held[:, world.edge_a] & is_held[:, world.edge_b]).astype(float)
    reach = np.zeros(is_held.shape, dtype=bool)
    reach[:, kabul] = is_held[:, kabul]
    while True:
        via_a = (reach[:, world.edge_a] * usable) @ world.incidence_b  # a reached -> b reachable
        via_b = (reach[:, world.edge_b] * usable) @ world.incidence_a
        new = reach | (via_a > 0) | (via_b > 0)
        if (new == reach).all():
            return reach
        reach = new


def update_supply(s: State, world: World, p: Params) -> None:
    """Mechanism 3: recompute who is cut off from Kabul (only in replicates where a road or capital changed);
    isolated garrisons lose strength and morale every day."""
    rows = np.flatnonzero(s.supply_dirty)
    if rows.size:
        s.is_supplied[rows] = connected_to_kabul(world, s.is_held[rows], s.is_road_open[rows], world.kabul)
        s.supply_dirty[rows] = False
    if not p.supply_isolation:
        return
    isolated = s.is_held & ~s.is_supplied
    s.garrison = np.where(isolated, s.garrison * (1.0 - p.isolation_attrition_rate), s.garrison)
    s.morale = np.where(isolated, s.morale - p.isolation_morale_rate, s.morale)


def resolve_sieges(s: State, world: World, p: Params, d: Drivers, day: int, u: np.ndarray) -> np.ndarray:
    """Mechanisms 5, 6 and 8: decide which capitals fall today and how. Returns the (N, P) mask of new falls.

    One uniform per capital decides between competing risks: an assault succeeds with a chance rising with the
    force ratio (attackers against strength x morale x air cover); a garrison whose morale is below the threshold
    gives up (negotiated if besieged, a surrender otherwise); after Kabul falls, the rest give up quickly, except
    the hold-outs of 2001, which only fall to assault.
    """
    s.is_besieged = s.is_held & (s.control >= p.siege_threshold)
    if p.morale_cascade:
        s.morale = np.where(s.is_besieged, s.morale - p.siege_morale_rate, s.morale)

    campaign_open = d.is_campaign_open[day]
    p_assault = np.zeros_like(s.control)
    if p.siege_assault and campaign_open:
        attackers = p.siege_force_share * s.effort
        defenders = np.maximum(s.garrison, 1.0) * (0.5 + np.clip(s.morale, 0.0, 1.0)) \
            * (1.0 + p.air_defence_multiplier * s.air_cover)
        ratio2 = (attackers / defenders) ** 2
        p_assault = np.where(s.is_besieged, p.assault_rate * ratio2 / (ratio2 + p.assault_ratio_half**2), 0.0)

    centre_fallen = (s.kabul_fell_day != NOT_FALLEN)[:, None] & p.centre_collapse
    holdout = world.is_holdout[None, :]
    if centre_fallen.any():
        # Hold-outs fight on: every fighter is free to go there, but their valleys are hard to take.
        p_assault = np.where(centre_fallen & holdout, p_assault * p.holdout_assault_factor, p_assault)

    # Giving up needs someone to give up to: a besieged, cut-off or encircled garrison, once capitals are taken.
    fallen_next_door = ((~s.is_held).astype(float) @ world.adjacency) / world.degree
    cut_off = ~s.is_supplied if p.supply_isolation else False
    pressed = s.is_besieged | cut_off | (fallen_next_door >= p.encircled_share)
    gives_up = (s.morale < p.surrender_threshold) & pressed & campaign_open & p.morale_cascade
    p_give_up = np.where(gives_up & ~holdout, p.surrender_rate, 0.0)
    p_give_up = np.where(centre_fallen & ~holdout, np.maximum(p_give_up, p.post_kabul_surrender_rate), p_give_up)
    p_give_up = np.where(s.is_held, p_give_up, 0.0)

    falls = s.is_held & (u < p_assault + p_give_up)
    how = np.where(u < p_assault, FIGHTING, np.where(s.is_besieged, NEGOTIATED, SURRENDER))
    s.fall_how = np.where(falls, how, s.fall_how).astype(np.int8)
    s.fall_day = np.where(falls, day, s.fall_day).astype(np.int16)
    return falls


def apply_falls(s: State, world: World, p: Params, d: Drivers, day: int, falls: np.ndarray) -> None:
    """After today's falls: the province is Taliban-held, its roads closed to the government, morale drops
    nationally and more next door (mechanism 6), and its prison is opened (mechanism 7)."""
    if not falls.any():
        return
    s.is_held &= ~falls
    s.control = np.where(falls, 1.0, s.control)
    s.garrison = np.where(falls, 0.0, s.garrison)
    s.kabul_fell_day = np.where(falls[:, world.kabul], day, s.kabul_fell_day).astype(np.int16)
    s.supply_dirty |= falls.any(axis=1)
    _close_roads_at_fallen_capitals(world, s)
    n_new = falls.sum(axis=1)
    if p.morale_cascade:
        next_door = falls.astype(float) @ world.adjacency
        s.morale = s.morale - p.cascade_national * n_new[:, None] - p.cascade_neighbour * next_door
    if p.prison_breaks:
        s.taliban = s.taliban + p.prisoners_per_capital * p.prisoner_join_share * n_new


def recruit(s: State, p: Params) -> None:
    s.taliban = s.taliban * (1.0 + p.taliban_recruitment_rate)


def advance_day(s: State, world: World, p: Params, d: Drivers, day: int, rng: np.random.Generator) -> np.ndarray:
    """One day of the model for every replicate in `s`. Returns the (N, P) mask of capitals that fell today.

    The three uniform draws are made in a fixed order and shape, so a given rng state gives one outcome.
    """
    n = s.n
    u_rural = rng.random((n, world.n_provinces))
    u_road = rng.random((n, world.n_roads))
    u_fall = rng.random((n, world.n_provinces))

    # The withdrawal erodes morale day by day (the increment since yesterday).
    if day > 0:
        s.morale = s.morale - (d.morale_drop[day] - d.morale_drop[day - 1])
    allocate_effort(s, world, p, d)
    allocate_air_support(s, world, p, d, day)
    expand_rural_control(s, world, p, d, u_rural)
    cut_roads(s, world, p, d, u_road)
    update_supply(s, world, p)
    falls = resolve_sieges(s, world, p, d, day, u_fall)
    apply_falls(s, world, p, d, day, falls)
    recruit(s, p)
    np.clip(s.morale, 0.0, 1.0, out=s.morale)
    return falls
