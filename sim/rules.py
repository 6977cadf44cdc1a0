"""The mechanisms of the model, as functions over arrays with a leading replicate axis: the readable reference.

Every array in `State` has shape (N, ...) where N is the number of replicates advanced together. What runs is
the compiled copy of these rules in sim/kernels.py (the ensemble hands it chunks of replicates, the Mesa model a
chunk of one); tests/test_kernels.py holds the two to the same bits, from the same state with the same uniforms,
for every switch and intervention, so this file is the specification the kernels are checked against and the
place to read, change and test a rule first. A rule reads the state, the fixed world, the parameters and the
day's drivers, takes the uniforms it is given, and updates the state in place. No Mesa, no I/O, no plotting.

The order of one day (`advance_day`) is:
    0. apply_interventions   the scenario's one-off events of the day (reinforcements, morale shocks)
    1. allocate_effort       where Taliban forces press (the targeting rule)
    2. allocate_air_support  mechanism 4: national air capacity to the most threatened garrisons
       deploy_commandos      mechanism 12: the national reserve to the most threatened capital
    3. expand_rural_control  mechanism 1: districts fall, faster next to Taliban-held ground
    4. cut_roads             mechanism 2: links are cut as the country around them is lost
    5. update_supply         mechanisms 3, 10 and 4b: garrisons with no open path to Kabul are isolated and erode;
                             their stocks run down, slower where airlifted, and refill once reconnected
    6. resolve_sieges        mechanisms 5, 6 and 8: assaults, surrenders and negotiated hand-overs
    7. apply_falls           mechanisms 6, 6b and 7: morale cascade (national, neighbours, corps) and prison breaks after today's falls
    8. recruit               Taliban strength grows

The model never reads observed fall dates: only sim/seeding.py does, to start a run that begins after some
capitals had fallen. `fall_chances` is the one computation of a capital's chance to fall on a day: resolve_sieges
draws against it, and the spin-up of a seeded start scores the observed falls with it (`Drivers.seed_observe`).

State is float32 (half the memory traffic of float64, and more than enough for shares and troop counts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np

from . import f32math
from .interventions import Schedule
from .params import Params
from .streams import chunk_key, replicate_keys, uniforms
from .world import World

F = np.float32  # dtype of every real-valued (N, ...) array

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
    ends_held: np.ndarray  # (N, E) both capitals of the link are government-held (kept up to date by the falls)
    taliban: np.ndarray  # (N,) Taliban fighters nationally
    kabul_fell_day: np.ndarray  # (N,) day Kabul fell, NOT_FALLEN while it holds
    supply_dirty: np.ndarray  # (N,) a change since the last supply search may have altered who is supplied
    rural_factor: np.ndarray  # (N,) this replicate's multiplier on the district hazard, drawn once at 1 May
    stocks: np.ndarray  # days of supplies and pay each garrison holds (mechanism 10, supply_stocks)
    commandos: np.ndarray  # (N,) strength of the national commando reserve (mechanism 12, commando_reserve)
    commando_at: np.ndarray  # (N,) capital the reserve defends today, -1 when none is besieged
    stream: np.ndarray  # (N,) uint64 key of each replicate's random stream (sim/streams.py), tied to its slot

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
    target_weight: np.ndarray  # (P,) districts x exp(attractiveness): the static part of the targeting weight
    effort_scale: np.ndarray  # (P,) turns fighters into fighters per district relative to 1 May's even spread
    air_capacity: np.ndarray  # (days,) strikes available nationally per day
    morale_drop: np.ndarray  # (days,) morale lost to the withdrawal (and the dated shocks, mechanism 11) by each day
    airlift: np.ndarray  # (days,) garrisons the AAF's transports can fully supply per day (mechanism 4b; 0 if off)
    progress: np.ndarray  # (days,) the withdrawal's progress (0-1) on each day, as re-timed by the scenario
    is_campaign_open: np.ndarray  # (days,) the withdrawal is far enough along for capitals to be taken
    road_cut_hazard: np.ndarray  # (E,) per-day cut rate at full control of both ends
    schedule: Schedule  # the scenario's dated interventions, as day-indexed arrays
    # Spin-up of a seeded start (sim/seeding.py): before seed_until, capitals fall on these days and only then,
    # and seed_observe(day, chances, forced, is_held) is shown each day's fall chances (fall_chances) before the
    # forced falls, to weigh the replicates by how likely they made them.
    seed_fall_days: np.ndarray | None = None
    seed_until: int = 0
    seed_observe: Callable | None = None


def withdrawal_timeline(world: World, schedule: Schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(progress, contractor share, US air phase) by calendar day: the world's timeline, re-timed on the scenario's
    withdrawal clock where a withdrawal_pace event sets one (each day reads the timeline at its clock's day)."""
    if schedule.timeline_clock is None:
        return world.withdrawal_progress, world.contractor_share, world.us_air_phase
    clock = schedule.timeline_clock
    days = np.arange(world.withdrawal_progress.size)
    progress = np.interp(clock, days, world.withdrawal_progress)
    contractors = np.interp(clock, days, world.contractor_share)
    us_phase = world.us_air_phase[np.floor(clock).astype(int)]  # a step: the phase of the day the clock has reached
    return progress, contractors, us_phase


def make_drivers(world: World, p: Params, schedule: Schedule | None = None) -> Drivers:
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
    per_district0 = p.taliban_strength / world.n_districts.sum()

    # Air capacity follows the withdrawal: AAF readiness falls with the contractors, US support steps down at the
    # Bagram handover and ends with the mission.
    # Interventions ("contractors", "us_air_support") replace the timeline from their day on.
    schedule = schedule or Schedule()
    progress, contractors, us_phase = withdrawal_timeline(world, schedule)
    if schedule.contractor_share is not None:
        contractors = np.where(np.isnan(schedule.contractor_share), contractors, schedule.contractor_share)
    readiness = 1.0 - p.aaf_contractor_dependence * (1.0 - np.clip(contractors, 0.0, 1.0))
    us_share = np.select([us_phase == 2, us_phase == 1], [1.0, p.us_air_after_bagram], 0.0)
    if schedule.us_share is not None:
        us_share = np.where(np.isnan(schedule.us_share), us_share, schedule.us_share)
    air_capacity = p.aaf_strikes_per_day * readiness + p.us_strikes_per_day * us_share
    if not p.air_support:
        air_capacity = np.zeros_like(air_capacity)
    # Mechanism 4b: the transports need the same contractors as the strike aircraft.
    airlift = p.airlift_per_day * readiness if p.air_logistics else np.zeros_like(air_capacity)

    morale_drop = p.withdrawal_morale_drop * progress
    if p.dated_shocks and world.shake_up_day is not None:  # mechanism 11: the 19 June shake-up, once known
        morale_drop = morale_drop + p.shake_up_shock * (np.arange(progress.size) >= world.shake_up_day)

    road_cut_hazard = p.road_cut_rate * world.km / 100.0 * np.where(world.is_poor, p.poor_road_cut_multiplier, 1.0)
    return Drivers(
        garrison0=garrison0.astype(F),
        morale0=morale0.astype(F),
        control0=control0.astype(F),
        attractiveness=attractiveness,
        target_weight=(world.n_districts * np.exp(attractiveness)).astype(F),
        effort_scale=(1.0 / (world.n_districts * per_district0)).astype(F),
        air_capacity=air_capacity,
        morale_drop=morale_drop,
        airlift=airlift,
        progress=progress,
        is_campaign_open=progress >= p.campaign_gate_progress,
        road_cut_hazard=road_cut_hazard.astype(F),
        schedule=schedule,
    )


def initial_state(world: World, p: Params, drivers: Drivers, n: int, start_day: int = 0,
                  rng: np.random.Generator | None = None) -> State:
    """The state of n replicates on the morning of start_day before anything observed is seeded: every capital
    held, the 1 May district pattern, morale less the withdrawal's toll so far. sim/seeding.py adds what had
    been observed by a later start date; this is the only way observed fall dates enter a run.

    Each replicate draws its multiplier on the district hazard, exp(rural_rate_spread x z), one standard normal z
    from `rng` (n draws whatever the spread, so the draws after them do not depend on it), then one 64-bit draw
    keys the replicates' daily streams (sim/streams.py); without an rng (hand-built cases) every multiplier is 1
    and the key is 0.
    """
    n_p, n_e = world.n_provinces, world.n_roads
    tile = lambda row: np.broadcast_to(np.asarray(row, dtype=F), (n, n_p)).copy()  # noqa: E731
    # Morale on the morning of start_day carries the withdrawal's toll up to the day before.
    morale_start = drivers.morale0 - F(drivers.morale_drop[max(start_day - 1, 0)])
    factor = np.ones(n, dtype=F)
    key = np.uint64(0)
    if rng is not None:
        factor = np.exp(F(p.rural_rate_spread) * rng.standard_normal(n, dtype=F))
        key = chunk_key(rng)
    return State(
        control=tile(drivers.control0),
        is_held=np.ones((n, n_p), dtype=bool),
        fall_day=np.full((n, n_p), NOT_FALLEN, dtype=np.int16),
        fall_how=np.full((n, n_p), HELD, dtype=np.int8),
        garrison=tile(drivers.garrison0),
        morale=tile(np.maximum(morale_start, 0.0)),
        effort=np.zeros((n, n_p), dtype=F),
        air_cover=np.zeros((n, n_p), dtype=F),
        is_besieged=np.zeros((n, n_p), dtype=bool),
        is_supplied=np.ones((n, n_p), dtype=bool),
        is_road_open=np.ones((n, n_e), dtype=bool),
        ends_held=np.ones((n, n_e), dtype=bool),
        taliban=np.full(n, p.taliban_strength, dtype=F),
        kabul_fell_day=np.full(n, NOT_FALLEN, dtype=np.int16),
        supply_dirty=np.ones(n, dtype=bool),
        rural_factor=factor,
        stocks=np.full((n, n_p), p.stock_days, dtype=F),
        commandos=np.full(n, p.commando_strength, dtype=F),
        commando_at=np.full(n, -1, dtype=np.int16),
        stream=replicate_keys(key, n),
    )


# --------------------------------------------------------------------------------------------------- the rules
# Sums run in a fixed order (ordered_sum, neighbour_mean) and exp, expm1 and power are sim/f32math.py's, so
# that the compiled kernels (sim/kernels.py), which add in the same order and call the same functions, give the
# same bits: numpy's matrix products and pairwise sums add in an order of their own.


def ordered_sum(x: np.ndarray) -> np.ndarray:
    """(N,) the sum of each row of x, its columns added left to right."""
    total = np.zeros(x.shape[0], dtype=x.dtype)
    for k in range(x.shape[1]):
        total += x[:, k]
    return total


def neighbour_mean(x: np.ndarray, world: World) -> np.ndarray:
    """(N, P) the mean of x (N, P, non-negative) over each province's neighbours, added in world.neighbour_table's
    order."""
    total = np.zeros_like(x)
    for k in range(world.neighbour_table.shape[1]):
        total += x[:, world.neighbour_table[:, k]] * (k < world.neighbour_count)
    return total / world.degree


def allocate_effort(s: State, world: World, p: Params, d: Drivers) -> None:
    """Targeting: Taliban fighters spread over the provinces whose capital the government still holds.

    Each province's share is proportional to its districts (the ground to take) times exp of a
    log-attractiveness: the static preferences (the non-Pashtun north, border crossings, avoiding the Pakistan
    east, the 2001 hold-outs) plus momentum, the ground already held.
    """
    w = f32math.exp_f32(np.multiply(s.control, F(p.target_momentum_weight)))
    w *= d.target_weight
    w *= s.is_held
    total = ordered_sum(w)
    total[total == 0] = 1.0  # nothing left to take
    np.multiply(w, (s.taliban / total)[:, None], out=s.effort)


def threat(s: State, p: Params) -> np.ndarray:
    """How threatened each garrison is: attackers massing against it per defender (0 where not besieged)."""
    t = np.multiply(s.effort, F(p.siege_force_share))
    t *= s.is_besieged  # besieged implies held
    t /= np.maximum(s.garrison, F(1.0))
    return t


def allocate_air_support(s: State, world: World, p: Params, d: Drivers, day: int) -> None:
    """Mechanism 4: the day's national strike capacity covers the most threatened garrisons first: the
    floor(capacity / strikes_per_capital) most threatened fully, the next one in part."""
    if not p.air_support:
        s.air_cover.fill(0.0)
        return
    # Where capacity covers every siege (the common case), every besieged garrison is covered ...
    np.copyto(s.air_cover, s.is_besieged)
    n_covered = d.air_capacity[day] / p.strikes_per_capital  # capitals that can be fully covered today
    whole, part = int(n_covered), F(n_covered - int(n_covered))
    # ... elsewhere the most threatened come first.
    rows = np.flatnonzero(s.is_besieged.sum(axis=1) > whole)
    if rows.size == 0:
        return
    t = threat(s, p)[rows]  # sieges as they stood at dawn: the air force plans on what it knew then
    # The whole-th and (whole + 1)-th largest threats, by a partial sort (ranks without a full argsort).
    kth = [whole - 1, whole] if whole >= 1 else [0]
    top = -np.partition(-t, kth, axis=1)
    cover = np.zeros_like(t)
    if whole >= 1:
        cover[t >= top[:, whole - 1:whole]] = 1.0
        edge = (t == top[:, whole:whole + 1]) & (cover == 0)
    else:
        edge = t == top[:, :1]
    cover[edge] = part
    cover[t <= 0] = 0.0
    s.air_cover[rows] = cover


def deploy_commandos(s: State, p: Params) -> None:
    """Mechanism 12: the commando reserve goes to the capital under the greatest threat at dawn (none when no
    capital is besieged); fall_chances adds it to that capital's defence, and it is worn down while it fights."""
    if not p.commando_reserve:
        return
    t = threat(s, p)
    at = t.argmax(axis=1).astype(np.int16)
    at[t.max(axis=1) <= 0] = -1
    s.commando_at = at


def expand_rural_control(s: State, world: World, p: Params, d: Drivers, day: int, u: np.ndarray) -> None:
    """Mechanism 1: the share of districts under Taliban control grows, faster where fighters press, next to
    Taliban-held ground, and where the defenders' morale is low.

    hazard = rural_rate x factor x (fighters per district, relative to 1 May) x (1 + boost x neighbours' mean
             control) x (1 - morale)^exponent; gain = (cap - control) x (1 - exp(-hazard)) x 2u, never above
             cap - control. The factor is the replicate's own (State.rural_factor), so runs differ in pace from 1 May.
    """
    if not p.rural_expansion:
        return
    hazard = np.multiply(s.effort, d.effort_scale)
    neighbours = neighbour_mean(s.control, world)
    neighbours *= F(p.rural_neighbour_boost)
    neighbours += F(1.0)
    hazard *= neighbours
    weakness = np.subtract(F(1.0), s.morale)
    weakness = f32math.pow_f32(weakness, F(p.rural_morale_exponent))
    hazard *= weakness
    hazard *= (s.rural_factor * F(-p.rural_rate))[:, None]
    if d.schedule.ceasefire is not None:
        hazard *= ~d.schedule.ceasefire[day]  # no district falls where a ceasefire holds
    hazard = f32math.expm1_f32(hazard)  # now -(1 - exp(-h))
    # While the capital holds, its own district and approaches stay contested: control saturates at the cap.
    # A fallen province's control is 1, above the cap, so its room is 0.
    room = np.subtract(F(p.held_capital_control_cap), s.control)
    np.maximum(room, F(0.0), out=room)
    gain = np.multiply(u, F(-2.0))  # 2u, with the sign that undoes expm1's
    gain *= hazard
    gain *= room
    np.minimum(gain, room, out=gain)
    s.control += gain


def _close_roads_at_fallen_capitals(world: World, s: State, rows: np.ndarray | slice = slice(None)) -> None:
    """A link with a fallen capital at either end is closed to the government (for the given replicates)."""
    held = s.is_held[rows]
    s.ends_held[rows] = held[:, world.edge_a] & held[:, world.edge_b]
    s.is_road_open[rows] &= s.ends_held[rows]


def cut_roads(s: State, world: World, p: Params, d: Drivers, day: int, u: np.ndarray) -> None:
    """Mechanism 2: a link is cut with a daily chance that grows with the Taliban share of the country at both
    ends and with its length (poor roads more); a cut link between two held capitals may be reopened.
    A "road" intervention holds a link (no cut; reopened while both ends hold) or cuts it."""
    hold = d.schedule.road_hold[day] if d.schedule.road_hold is not None else None
    forced = d.schedule.road_cut[day] if d.schedule.road_cut is not None else None
    if not p.road_interdiction and hold is None and forced is None:
        return
    if not p.road_interdiction:
        u = np.ones_like(u)  # no chance cuts or reopenings: only the interventions act
    ends = s.control[:, world.edge_ends]  # one gather for both ends: (N, 2E)
    ca, cb = ends[:, :world.n_roads], ends[:, world.n_roads:]
    exposure = ca * cb
    exposure *= -d.road_cut_hazard
    exposure = f32math.expm1_f32(exposure)  # -(chance of a cut)
    cut = s.is_road_open & (u < -exposure)
    # Reopening: the government's share of the country at both ends.
    np.subtract(F(1.0), ca, out=ca)
    np.subtract(F(1.0), cb, out=cb)
    ca *= cb
    ca *= F(p.road_reopen_rate)
    reopened = (u < ca) & s.ends_held & ~s.is_road_open
    if hold is not None:
        cut &= ~hold
        reopened |= hold & s.ends_held & ~s.is_road_open
    if forced is not None:
        cut |= forced & s.is_road_open
        reopened &= ~forced
    changed = cut | reopened
    rows = np.flatnonzero(changed.any(axis=1))
    if rows.size == 0:
        return
    s.is_road_open[rows] ^= changed[rows]
    # Only some changes can alter who is supplied: a cut between two supplied capitals (it may disconnect them)
    # and a reopening with exactly one supplied end (it joins the other side). Cuts and reopenings elsewhere
    # cannot, so those replicates keep their supply without a new search.
    supplied = s.is_supplied[rows]
    sa, sb = supplied[:, world.edge_a], supplied[:, world.edge_b]
    matters = (cut[rows] & sa & sb) | (reopened[rows] & (sa ^ sb))
    s.supply_dirty[rows] |= matters.any(axis=1)


def connected_to_kabul(world: World, is_held: np.ndarray, is_road_open: np.ndarray, kabul: int) -> np.ndarray:
    """(N, P) bool: the capital has a path of open links through government-held capitals to Kabul.

    A breadth-first search on bitsets, vectorised over replicates: each replicate's set of reached capitals is
    one 64-bit integer (34 capitals fit), each capital's usable neighbours another; a round ORs in the
    neighbours of everything reached so far, until nothing changes.
    """
    n, n_p = is_held.shape
    usable = is_road_open & is_held[:, world.edge_a] & is_held[:, world.edge_b]
    # Neighbour bitsets by one product: sums of distinct powers of two below 2^53 are exact in float64.
    neighbours = (usable.astype(np.float64) @ world.neighbour_bits).astype(np.uint64)
    reach = np.zeros(n, dtype=np.uint64)
    reach[is_held[:, kabul]] = np.uint64(1) << np.uint64(kabul)
    while True:
        inside = np.unpackbits(reach.view(np.uint8).reshape(n, 8), axis=1, count=n_p, bitorder="little")
        grown = np.bitwise_or.reduce(neighbours * inside, axis=1)
        grown |= reach
        if np.array_equal(grown, reach):
            return inside.astype(bool)
        reach = grown


def update_supply(s: State, world: World, p: Params, d: Drivers, day: int) -> None:
    """Mechanism 3: recompute who is cut off from Kabul (only in replicates where a change may have altered
    it); isolated garrisons lose strength and morale every day, and (mechanism 10) their stocks."""
    if s.supply_dirty.any():
        # Once Kabul has fallen nothing is supplied: no search needed.
        no_centre = s.supply_dirty & (s.kabul_fell_day != NOT_FALLEN)
        if no_centre.any():
            s.is_supplied[no_centre] = False
            s.supply_dirty[no_centre] = False
        rows = np.flatnonzero(s.supply_dirty)
        s.is_supplied[rows] = connected_to_kabul(world, s.is_held[rows], s.is_road_open[rows], world.kabul)
        s.supply_dirty[rows] = False
    if p.supply_stocks:
        run_down_stocks(s, p, d, day)
    if not p.supply_isolation:
        return
    isolated = s.is_held & ~s.is_supplied
    if isolated.any():
        s.garrison *= 1.0 - F(p.isolation_attrition_rate) * isolated
        s.morale -= F(p.isolation_morale_rate) * isolated


def airlift_shares(s: State, p: Params, d: Drivers, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Mechanism 4b: the day's transport sorties, (N,) shares of a full day's need: first spread evenly over the
    cut-off garrisons (resupply, with supply_stocks), then what is left over the besieged ones (casualty
    evacuation). Both are 0 without air_logistics."""
    zero = np.zeros(s.n, dtype=F)
    if not p.air_logistics:
        return zero, zero
    lift = F(d.airlift[day])
    resupply = zero
    spare = np.full(s.n, lift, dtype=F)
    if p.supply_stocks:
        n_cut_off = (s.is_held & ~s.is_supplied).sum(axis=1).astype(F)
        resupply = np.minimum(F(1.0), lift / np.maximum(n_cut_off, F(1.0)))
        spare = np.maximum(lift - n_cut_off, F(0.0))
    n_besieged = s.is_besieged.sum(axis=1).astype(F)
    casevac = np.minimum(F(1.0), spare / np.maximum(n_besieged, F(1.0)))
    return resupply, casevac


def run_down_stocks(s: State, p: Params, d: Drivers, day: int) -> None:
    """Mechanism 10: a cut-off garrison spends its stocks of supplies and pay, the police share faster, less
    what the airlift brings (4b); a supplied one refills by road."""
    cut_off = s.is_held & ~s.is_supplied
    if cut_off.any():
        resupply, _ = airlift_shares(s, p, d, day)
        drain = F(1.0 + p.police_share * (p.police_drain_multiplier - 1.0)) * (F(1.0) - resupply)
        s.stocks -= drain[:, None] * cut_off
        np.maximum(s.stocks, F(0.0), out=s.stocks)
    if p.restock_rate > 0:
        refill = s.is_supplied & (s.stocks < F(p.stock_days))
        if refill.any():
            s.stocks[refill] = np.minimum(s.stocks[refill] + F(p.restock_rate), F(p.stock_days))


def lose_customs(s: State, world: World, p: Params, day: int) -> None:
    """Mechanism 11: the forces' pay depends on customs revenue; morale falls each day in proportion to the share
    of the crossing provinces whose crossings are lost: reported taken (if known to the run), or the province
    held by the Taliban beyond crossing_loss_control, or its capital fallen."""
    if not p.dated_shocks or not world.has_crossing.any():
        return
    crossing = world.has_crossing
    reported = crossing & (world.crossing_taken_day <= day)  # NaN (not known) compares False
    lost = (s.control[:, crossing] > F(p.crossing_loss_control)) | ~s.is_held[:, crossing]
    lost |= reported[crossing]
    share = lost.sum(axis=1).astype(F) / F(crossing.sum())
    s.morale -= (F(p.customs_morale_rate) * share)[:, None]


def fall_chances(s: State, world: World, p: Params, d: Drivers, day: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(p_assault, p_give_up, p_deal), each (N, P): every capital's chance today of falling to assault, of giving
    up and of being handed over in a deal (0 where it is no longer held), from the state once the day's sieges are
    set; None before the campaign gate, when no capital can fall. The one place these chances are computed: resolve_sieges draws against them and the
    spin-up of a seeded start scores the observed falls with them.

    An assault succeeds with a chance rising with the force ratio (attackers against strength x morale x air
    cover); a pressed garrison whose morale is below the threshold gives up; after Kabul falls, the rest give up
    quickly, except the hold-outs of 2001, which only fall to assault; with negotiated_handover, elders broker a
    deal at a rate growing with the surroundings held, the withdrawal's progress and the neighbours fallen.
    """
    if not d.is_campaign_open[day]:
        return None  # capitals are not taken before the gate, and Kabul cannot have fallen yet

    p_assault = np.zeros_like(s.control)
    if p.siege_assault:
        # Force ratio: fighters massed against the capital per effective defender (strength x morale x air).
        defence = np.maximum(s.garrison, F(1.0))
        if p.commando_reserve:  # mechanism 12: the reserve stands in today's most threatened capital
            rows = np.flatnonzero(s.commando_at >= 0)
            defence[rows, s.commando_at[rows]] += s.commandos[rows] * F(p.commando_quality)
        defence *= F(0.5) + s.morale
        defence *= F(1.0) + F(p.air_defence_multiplier) * s.air_cover
        ratio2 = np.multiply(s.effort, F(p.siege_force_share))
        ratio2 /= defence
        ratio2 *= ratio2
        p_assault = ratio2 / (ratio2 + F(p.assault_ratio_half ** 2))
        p_assault *= F(p.assault_rate)
        p_assault *= s.is_besieged

    holdout = world.is_holdout[None, :]
    centre_fallen = (s.kabul_fell_day != NOT_FALLEN)[:, None] if p.centre_collapse else None
    if centre_fallen is not None and centre_fallen.any():
        # Hold-outs fight on: every fighter is free to go there, but their valleys are hard to take.
        p_assault = np.where(centre_fallen & holdout, p_assault * F(p.holdout_assault_factor), p_assault)

    if d.schedule.ceasefire is not None:
        p_assault = p_assault * ~d.schedule.ceasefire[day]

    p_give_up = np.zeros_like(s.control)
    may_give_up = ~holdout if not p.holdout_surrender else np.ones_like(holdout)  # 6c off: hold-outs never do
    if p.holdout_surrender and centre_fallen is not None:  # 6c on: only until Kabul falls (mechanism 8)
        may_give_up = ~(holdout & centre_fallen)
    if p.morale_cascade:
        # Giving up needs someone to give up to: a besieged, cut-off or encircled garrison.
        fallen_next_door = neighbour_mean((~s.is_held).astype(F), world)
        pressed = s.is_besieged | (fallen_next_door >= p.encircled_share)
        if p.supply_isolation:
            pressed |= ~s.is_supplied
        gives_up = pressed & (s.morale < p.surrender_threshold) & s.is_held & may_give_up
        p_give_up = F(p.surrender_rate) * gives_up.astype(F)
    if p.supply_stocks:  # mechanism 10: a cut-off garrison out of supplies and pay surrenders, whatever its morale
        starved = (s.stocks <= F(0.0)) & s.is_held & ~s.is_supplied & may_give_up
        np.maximum(p_give_up, F(p.starved_surrender_rate) * starved, out=p_give_up)
    if centre_fallen is not None and centre_fallen.any():
        after_kabul = centre_fallen & ~holdout & s.is_held
        np.maximum(p_give_up, F(p.post_kabul_surrender_rate) * after_kabul, out=p_give_up)

    p_deal = np.zeros_like(s.control)
    if p.negotiated_handover:
        # Mechanism 9: elders broker a hand-over; more likely the more of the surroundings the Taliban hold, the
        # further the withdrawal, the more neighbours already fallen; less where a power broker stands.
        held_around = np.minimum(s.control / F(p.held_capital_control_cap), F(1.0))
        p_deal = f32math.pow_f32(held_around, F(p.deal_control_exponent))
        p_deal *= F(p.deal_rate * d.progress[day])
        fallen_next_door = neighbour_mean((~s.is_held).astype(F), world)
        p_deal *= F(1.0) + F(p.deal_contagion) * fallen_next_door
        p_deal *= (1.0 - p.deal_broker_reduction * world.has_power_broker).astype(F)
        p_deal *= s.is_held & ~holdout
    if d.schedule.ceasefire is not None:
        p_give_up = p_give_up * ~d.schedule.ceasefire[day]
        p_deal = p_deal * ~d.schedule.ceasefire[day]
    return p_assault, p_give_up, p_deal


def resolve_sieges(s: State, world: World, p: Params, d: Drivers, day: int, u: np.ndarray | None) -> np.ndarray | None:
    """Mechanisms 5, 6 and 8: decide which capitals fall today and how. Returns the (N, P) mask of new falls,
    or None before the campaign gate, when no capital can fall (then `u` may be None).

    One uniform per capital decides between the competing risks of fall_chances: the capital falls if
    u < p_assault + p_deal + p_give_up, by assault if u < p_assault, in a deal if u < p_assault + p_deal, else it
    gives up (a surrender; without negotiated_handover, negotiated if besieged).
    """
    np.greater_equal(s.control, F(p.siege_threshold), out=s.is_besieged)
    s.is_besieged &= s.is_held
    if p.morale_cascade:
        toll = F(p.siege_morale_rate) * s.is_besieged
        if p.air_logistics:  # mechanism 4b: evacuating the wounded eases a siege's toll
            _, casevac = airlift_shares(s, p, d, day)
            toll *= (F(1.0) - F(p.casevac_relief) * casevac)[:, None]
        s.morale -= toll
    if p.commando_reserve:  # mechanism 12: the reserve is worn down while it fights
        s.commandos *= F(1.0) - F(p.commando_wear_rate) * (s.commando_at >= 0)
    if day < d.seed_until:  # spin-up of a seeded start: the record decides who falls, and when
        falls = (d.seed_fall_days == day)[None, :] & s.is_held
        if d.seed_observe is not None:  # shown what the model would have made of the day, before the falls
            d.seed_observe(day, fall_chances(s, world, p, d, day), falls, s.is_held)
        if falls.any():
            s.fall_how[falls] = SEEDED
            s.fall_day[falls] = day
        return falls
    chances = fall_chances(s, world, p, d, day)
    if chances is None:
        return None
    p_assault, p_give_up, p_deal = chances
    by_deal = p_assault + p_deal
    falls = (u < by_deal + p_give_up) & s.is_held
    if falls.any():
        uf = u[falls]
        if p.negotiated_handover:  # three processes: an assault, a deal, a surrender
            how = np.where(uf < p_assault[falls], FIGHTING, np.where(uf < by_deal[falls], NEGOTIATED, SURRENDER))
        else:  # a give-up while besieged counts as negotiated
            how = np.where(uf < p_assault[falls], FIGHTING, np.where(s.is_besieged[falls], NEGOTIATED, SURRENDER))
        s.fall_how[falls] = how
        s.fall_day[falls] = day
    return falls


def apply_falls(s: State, world: World, p: Params, d: Drivers, day: int, falls: np.ndarray | None) -> None:
    """After today's falls: the province is Taliban-held, its roads closed to the government, morale drops
    nationally and more next door (mechanism 6), and its prison is opened (mechanism 7)."""
    if falls is None or not falls.any():
        return
    # A fall can only change others' supply if the fallen capital was on the supplied network.
    s.supply_dirty |= (falls & s.is_supplied).any(axis=1)
    s.is_held &= ~falls
    s.control[falls] = 1.0
    s.garrison[falls] = 0.0
    kabul_fell = falls[:, world.kabul]
    s.kabul_fell_day[kabul_fell] = day
    _close_roads_at_fallen_capitals(world, s, np.flatnonzero(falls.any(axis=1)))
    n_new = falls.sum(axis=1).astype(F)
    if p.morale_cascade:
        s.morale -= F(p.cascade_national) * n_new[:, None]
        s.morale -= F(p.cascade_neighbour) * (falls.astype(F) @ world.adjacency)
    if p.corps_cascade:  # mechanism 6b: the corps area shares a fall's blow, its headquarters' fall most
        fell = falls.astype(F)
        s.morale -= F(p.cascade_corps) * (fell @ world.corps_peers)
        s.morale -= F(p.cascade_corps_hq) * (fell @ world.corps_hq_peers)
    if p.prison_breaks:
        s.taliban += F(p.prisoners_per_capital * p.prisoner_join_share) * n_new


def apply_interventions(s: State, d: Drivers, day: int) -> None:
    """The day's one-off interventions: troops sent to held capitals, morale shocks."""
    troops = d.schedule.reinforce.get(day)
    if troops is not None:
        s.garrison += troops * s.is_held
    shock = d.schedule.morale_shock.get(day)
    if shock is not None:
        s.morale -= shock
        np.clip(s.morale, F(0.0), F(1.0), out=s.morale)


def recruit(s: State, p: Params) -> None:
    s.taliban *= F(1.0 + p.taliban_recruitment_rate)


def advance_day(s: State, world: World, p: Params, d: Drivers, day: int, u=None):
    """One day of the model for every replicate in `s`. Returns the (N, P) mask of capitals that fell today,
    or None on days before the campaign gate (no capital can fall then).

    `u` is the day's uniforms, (N, 2P + E) float32: per province one for rural gains, per road one for cuts and
    reopenings, per capital one for its fall. None takes them from the replicates' own streams, as the
    compiled rules do (sim/streams.py); a numpy Generator draws them from it (hand-built cases).
    """
    n, n_p, n_e = s.n, world.n_provinces, world.n_roads
    n_slots = 2 * n_p + n_e
    if u is None:
        u = uniforms(s.stream, day, n_slots)
    elif isinstance(u, np.random.Generator):
        u = u.random((n, n_slots), dtype=F)
    u_rural, u_road, u_fall = u[:, :n_p], u[:, n_p:n_p + n_e], u[:, n_p + n_e:]

    # The withdrawal erodes morale day by day (the increment since yesterday).
    if day > 0:
        s.morale -= F(d.morale_drop[day] - d.morale_drop[day - 1])
    lose_customs(s, world, p, day)
    apply_interventions(s, d, day)
    allocate_effort(s, world, p, d)
    allocate_air_support(s, world, p, d, day)
    deploy_commandos(s, p)
    expand_rural_control(s, world, p, d, day, u_rural)
    cut_roads(s, world, p, d, day, u_road)
    update_supply(s, world, p, d, day)
    falls = resolve_sieges(s, world, p, d, day, u_fall)
    apply_falls(s, world, p, d, day, falls)
    recruit(s, p)
    # Morale only ever falls; it stops at 0.
    np.maximum(s.morale, F(0.0), out=s.morale)
    return falls
