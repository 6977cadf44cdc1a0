"""The day's rules compiled with numba: what both engines run.

sim/rules.py states the rules readably, as numpy over arrays with a replicate axis; this module is the same rules
written replicate by replicate and compiled, and it is what runs: the ensemble hands it a chunk of replicates
(`run_block`, every day of every replicate in one call), the Mesa model a chunk of one, one day at a time
(`advance_day`). tests/test_kernels.py holds the two to the same bits: from the same state, with the same
uniforms, every field of the state after every day of whole runs, with every switch and intervention.

Why a replicate at a time: one replicate's state (about 2 KB) stays in the L1 cache for the whole run, where the
numpy rules streamed about 100 (N, 34) arrays through memory each day; the loops over provinces compile to SIMD
code (the float32 exp, expm1 and power of sim/f32math.py are written to allow it); and work that cannot change
anything (a closed road's cut, a fallen capital's chances) is not done.

Random numbers: each replicate draws from its own counter-based stream (sim/streams.py), S = 2P + E uniforms a
day (P for district gains, E for road cuts and reopenings, P for capitals' falls), keyed by State.stream, so a
run depends only on its seed, never on how many replicates are computed together, in what order, on how many
threads or in which process.

Compiled with cache=True: the first call after an install compiles (about 10 s) and stores the machine code
beside this file (__pycache__); numba checks the cache against the source file's modification time and size, and
the `stale_cache` test edits a copy to prove an edited rule is recompiled rather than served from the cache. No
fastmath: results must not depend on how the compiler groups the arithmetic.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from dataclasses import fields

import numpy as np
from numba import njit

from .f32math import exp32, expm1_32, pow32
from .jitcache import stamp_caches
from .params import Params
from .streams import draw
from .rules import FIGHTING, NEGOTIATED, NOT_FALLEN, SEEDED, SURRENDER, Drivers, State
from .world import World

F = np.float32
# _nrt=False: no reference counting. With it, every read of an array from the state or the inputs counted a
# reference up and down with atomic instructions, which the compiler could not prune in a function this size
# (measured with perf: 13 us a replicate-day, nine tenths of it in NRT_incref/NRT_decref; without: well under
# 1 us). The price: nothing here may allocate; the callers pass scratch arrays in.
_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False, _nrt=False)
# The helpers are inlined into the entry points at numba's level: a call that is not inlined passes the state and
# the inputs as several hundred scalar arguments.
_INLINE = dict(_JIT, inline="always")

KState = namedtuple("KState", [f.name for f in fields(State)])

# Everything the rules read besides the state, as plain arrays and float32 / int / bool scalars (see pack()).
Inputs = namedtuple("Inputs", [
    # sizes
    "n_p", "n_e", "kabul",
    # switches
    "rural_expansion", "road_interdiction", "supply_isolation", "air_support", "siege_assault", "morale_cascade",
    "corps_cascade", "negotiated_handover", "holdout_surrender", "supply_stocks", "air_logistics", "customs",
    "commando_reserve", "prison_breaks", "centre_collapse",
    # float32 parameters, and combinations of them made exactly as the reference rules make them
    "momentum", "siege_force_share", "rural_boost", "rural_exponent", "neg_rural_rate", "cap", "siege_threshold",
    "reopen_rate", "isolation_attrition", "isolation_morale", "stock_days", "restock_rate", "drain",
    "starved_rate", "casevac_relief", "siege_morale_rate", "commando_wear", "commando_quality", "air_defence",
    "half_ratio_sq", "assault_rate", "holdout_factor", "surrender_threshold", "encircled_share", "surrender_rate",
    "post_kabul_rate", "deal_exponent", "deal_contagion", "crossing_loss_control", "customs_rate",
    "cascade_national", "cascade_neighbour", "cascade_corps", "cascade_corps_hq", "prison_gain", "recruit_factor",
    # by day
    "morale_step", "campaign", "air_whole", "air_part", "airlift", "deal_scale",
    "has_reinforce", "reinforce", "has_shock", "shock", "has_ceasefire", "ceasefire",
    "has_hold", "road_hold", "has_cut", "road_cut",
    # by province
    "target_weight", "effort_scale", "is_holdout", "degree", "neighbours", "n_neighbours", "neighbour_edge",
    "has_crossing",
    "crossing_day", "n_crossings", "broker_factor", "corps_peers", "corps_hq_peers", "share_weight",
    # by road
    "edge_a", "edge_b", "neg_cut_hazard",
    # spin-up of a seeded start
    "seed_fall_days", "seed_until",
])


def n_slots(n_p: int, n_e: int) -> int:
    """Uniforms a replicate draws a day: P for district gains, E for roads, P for falls."""
    return 2 * n_p + n_e


def pack(world: World, p: Params, d: Drivers) -> Inputs:
    """The kernels' inputs for one parameter point (what make_drivers computed, plus the parameters)."""
    n_p, n_e, days = world.n_provinces, world.n_roads, d.air_capacity.size
    sched = d.schedule

    def by_day(table, shape, dtype):
        return (True, np.ascontiguousarray(table, dtype=dtype)) if table is not None else \
            (False, np.zeros((1, shape), dtype=dtype))

    reinforce = np.zeros((days, n_p), dtype=F)
    for day, troops in sched.reinforce.items():
        reinforce[day] = troops
    shock = np.zeros((days, n_p), dtype=F)
    for day, amount in sched.morale_shock.items():
        shock[day] = amount
    has_ceasefire, ceasefire = by_day(sched.ceasefire, n_p, np.bool_)
    has_hold, road_hold = by_day(sched.road_hold, n_e, np.bool_)
    has_cut, road_cut = by_day(sched.road_cut, n_e, np.bool_)
    n_covered = d.air_capacity / p.strikes_per_capital
    whole = n_covered.astype(np.int64)
    morale_step = np.zeros(days, dtype=F)
    morale_step[1:] = (d.morale_drop[1:] - d.morale_drop[:-1]).astype(F)
    crossing = np.asarray(world.has_crossing, dtype=np.bool_)
    seed_days = d.seed_fall_days if d.seed_fall_days is not None else np.full(n_p, NOT_FALLEN)
    return Inputs(
        n_p=n_p, n_e=n_e, kabul=int(world.kabul),
        rural_expansion=p.rural_expansion, road_interdiction=p.road_interdiction,
        supply_isolation=p.supply_isolation, air_support=p.air_support, siege_assault=p.siege_assault,
        morale_cascade=p.morale_cascade, corps_cascade=p.corps_cascade, negotiated_handover=p.negotiated_handover,
        holdout_surrender=p.holdout_surrender, supply_stocks=p.supply_stocks, air_logistics=p.air_logistics,
        customs=bool(p.dated_shocks and crossing.any()), commando_reserve=p.commando_reserve,
        prison_breaks=p.prison_breaks, centre_collapse=p.centre_collapse,
        momentum=F(p.target_momentum_weight), siege_force_share=F(p.siege_force_share),
        rural_boost=F(p.rural_neighbour_boost), rural_exponent=F(p.rural_morale_exponent),
        neg_rural_rate=F(-p.rural_rate), cap=F(p.held_capital_control_cap), siege_threshold=F(p.siege_threshold),
        reopen_rate=F(p.road_reopen_rate), isolation_attrition=F(p.isolation_attrition_rate),
        isolation_morale=F(p.isolation_morale_rate), stock_days=F(p.stock_days), restock_rate=F(p.restock_rate),
        drain=F(1.0 + p.police_share * (p.police_drain_multiplier - 1.0)),
        starved_rate=F(p.starved_surrender_rate), casevac_relief=F(p.casevac_relief),
        siege_morale_rate=F(p.siege_morale_rate), commando_wear=F(p.commando_wear_rate),
        commando_quality=F(p.commando_quality), air_defence=F(p.air_defence_multiplier),
        half_ratio_sq=F(p.assault_ratio_half ** 2), assault_rate=F(p.assault_rate),
        holdout_factor=F(p.holdout_assault_factor), surrender_threshold=F(p.surrender_threshold),
        encircled_share=F(p.encircled_share), surrender_rate=F(p.surrender_rate),
        post_kabul_rate=F(p.post_kabul_surrender_rate), deal_exponent=F(p.deal_control_exponent),
        deal_contagion=F(p.deal_contagion), crossing_loss_control=F(p.crossing_loss_control),
        customs_rate=F(p.customs_morale_rate), cascade_national=F(p.cascade_national),
        cascade_neighbour=F(p.cascade_neighbour), cascade_corps=F(p.cascade_corps),
        cascade_corps_hq=F(p.cascade_corps_hq), prison_gain=F(p.prisoners_per_capital * p.prisoner_join_share),
        recruit_factor=F(1.0 + p.taliban_recruitment_rate),
        morale_step=morale_step, campaign=np.asarray(d.is_campaign_open, dtype=np.bool_),
        air_whole=whole, air_part=(n_covered - whole).astype(F), airlift=np.asarray(d.airlift, dtype=F),
        deal_scale=(p.deal_rate * np.asarray(d.progress, dtype=float)).astype(F),
        has_reinforce=np.array([day in sched.reinforce for day in range(days)], dtype=np.bool_),
        reinforce=reinforce,
        has_shock=np.array([day in sched.morale_shock for day in range(days)], dtype=np.bool_), shock=shock,
        has_ceasefire=has_ceasefire, ceasefire=ceasefire, has_hold=has_hold, road_hold=road_hold,
        has_cut=has_cut, road_cut=road_cut,
        target_weight=d.target_weight, effort_scale=d.effort_scale,
        is_holdout=np.asarray(world.is_holdout, dtype=np.bool_), degree=world.degree,
        neighbours=world.neighbour_table, n_neighbours=world.neighbour_count, neighbour_edge=world.neighbour_edge,
        has_crossing=crossing,
        crossing_day=np.asarray(world.crossing_taken_day, dtype=float), n_crossings=F(crossing.sum()),
        broker_factor=(1.0 - p.deal_broker_reduction * world.has_power_broker).astype(F),
        corps_peers=world.corps_peers, corps_hq_peers=world.corps_hq_peers,
        share_weight=(world.n_districts / world.n_districts.sum()).astype(F),
        edge_a=np.asarray(world.edge_a, dtype=np.int64), edge_b=np.asarray(world.edge_b, dtype=np.int64),
        neg_cut_hazard=-d.road_cut_hazard,
        seed_fall_days=np.asarray(seed_days, dtype=np.int64), seed_until=int(d.seed_until),
    )


_PACKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def packed(world: World, p: Params, d: Drivers) -> Inputs:
    """pack(), kept with the Drivers it was made from (a Mesa model steps 129 times on one)."""
    hit = _PACKED.get(d)
    if hit is not None and hit[0] is world and hit[1] is p:
        return hit[2]
    inputs = pack(world, p, d)
    _PACKED[d] = (world, p, inputs)
    return inputs


def kstate(s: State) -> KState:
    return KState(*(getattr(s, f.name) for f in fields(State)))


# ----------------------------------------------------------------------------------------------- one day
# The transcendental functions run in loops of their own over scratch rows, not inlined: loops this simple
# compile to SIMD code (8 lanes of float64), where inside the day's big loops they would run one at a time.


@njit(**_JIT)
def _exp_rows(x, n):
    for i in range(n):
        x[i] = exp32(x[i])


@njit(**_JIT)
def _expm1_rows(x, n):
    for i in range(n):
        x[i] = expm1_32(x[i])


@njit(**_JIT)
def _pow_rows(x, y, n):
    for i in range(n):
        x[i] = pow32(x[i], y)



@njit(**_INLINE)
def _threat(st, inp, r, t):
    """rules.threat for replicate r, into t."""
    for i in range(inp.n_p):
        b = F(1.0) if st.is_besieged[r, i] else F(0.0)
        t[i] = st.effort[r, i] * inp.siege_force_share * b / max(st.garrison[r, i], F(1.0))


@njit(**_INLINE)
def _airlift(st, inp, r, day):
    """rules.airlift_shares for replicate r: (resupply, casevac)."""
    if not inp.air_logistics:
        return F(0.0), F(0.0)
    lift = inp.airlift[day]
    resupply = F(0.0)
    spare = lift
    if inp.supply_stocks:
        n_cut = 0
        for i in range(inp.n_p):
            n_cut += st.is_held[r, i] and not st.is_supplied[r, i]
        n_cut_off = F(n_cut)
        resupply = min(F(1.0), lift / max(n_cut_off, F(1.0)))
        spare = max(lift - n_cut_off, F(0.0))
    n_b = 0
    for i in range(inp.n_p):
        n_b += st.is_besieged[r, i]
    return resupply, min(F(1.0), spare / max(F(n_b), F(1.0)))


@njit(**_INLINE)
def _allocate_air(st, inp, r, day, t, top):
    cover = st.air_cover[r]
    if not inp.air_support:
        cover[:] = F(0.0)
        return
    n_b = 0
    for i in range(inp.n_p):
        cover[i] = F(1.0) if st.is_besieged[r, i] else F(0.0)
        n_b += st.is_besieged[r, i]
    whole = inp.air_whole[day]
    if n_b <= whole:
        return
    part = inp.air_part[day]
    _threat(st, inp, r, t)
    # The whole-th and (whole + 1)-th largest threats: the besieged garrisons' threats kept in descending order,
    # only the first whole + 1 (insertion). The others' threat is 0, no more than any besieged one's, and
    # whole < n_b, so both values are among the besieged.
    k = whole + 1
    n_top = 0
    for i in range(inp.n_p):
        if not st.is_besieged[r, i]:
            continue
        v = t[i]
        if n_top == k and top[k - 1] >= v:
            continue  # not above the k largest so far
        j = min(n_top, k - 1)  # its place from the end; a full list drops its last
        while j > 0 and top[j - 1] < v:
            top[j] = top[j - 1]
            j -= 1
        top[j] = v
        n_top = min(n_top + 1, k)
    for i in range(inp.n_p):
        c = F(0.0)
        if whole >= 1:
            if t[i] >= top[whole - 1]:
                c = F(1.0)
            elif t[i] == top[whole]:
                c = part
        elif t[i] == top[0]:
            c = part
        cover[i] = F(0.0) if t[i] <= F(0.0) else c


@njit(**_INLINE)
def _connected_to_kabul(st, inp, r, queue):
    """rules.connected_to_kabul for replicate r: a breadth-first search from Kabul over usable links (open, both
    capitals held), with `queue` (P,) as scratch."""
    held, open_, supplied = st.is_held[r], st.is_road_open[r], st.is_supplied[r]
    supplied[:] = False
    if not held[inp.kabul]:
        return
    supplied[inp.kabul] = True
    queue[0] = inp.kabul
    head, tail = 0, 1
    while head < tail:
        i = queue[head]
        head += 1
        for k in range(inp.n_neighbours[i]):
            j = inp.neighbours[i, k]
            if not supplied[j] and held[j] and open_[inp.neighbour_edge[i, k]]:
                supplied[j] = True
                queue[tail] = j
                tail += 1


@njit(**_INLINE)
def _update_supply(st, inp, r, day, queue):
    if st.supply_dirty[r]:
        if st.kabul_fell_day[r] != NOT_FALLEN:
            st.is_supplied[r, :] = False
        else:
            _connected_to_kabul(st, inp, r, queue)
        st.supply_dirty[r] = False
    n_p = inp.n_p
    if inp.supply_stocks:  # rules.run_down_stocks
        stocks = st.stocks[r]
        any_cut = False
        for i in range(n_p):
            any_cut |= st.is_held[r, i] and not st.is_supplied[r, i]
        if any_cut:
            resupply, _ = _airlift(st, inp, r, day)
            drain = inp.drain * (F(1.0) - resupply)
            for i in range(n_p):
                if st.is_held[r, i] and not st.is_supplied[r, i]:
                    stocks[i] = max(stocks[i] - drain, F(0.0))
        if inp.restock_rate > 0:
            for i in range(n_p):
                if st.is_supplied[r, i] and stocks[i] < inp.stock_days:
                    stocks[i] = min(stocks[i] + inp.restock_rate, inp.stock_days)
    if inp.supply_isolation:
        keep = F(1.0) - inp.isolation_attrition
        for i in range(n_p):
            if st.is_held[r, i] and not st.is_supplied[r, i]:
                st.garrison[r, i] *= keep
                st.morale[r, i] -= inp.isolation_morale


@njit(**_INLINE)
def _fallen_next_door(st, inp, r, i):
    """rules.fall_chances' fallen_next_door for capital i: the share of its neighbours fallen."""
    n = 0
    for k in range(inp.n_neighbours[i]):
        n += not st.is_held[r, inp.neighbours[i, k]]
    return F(n) / inp.degree[i]


@njit(**_INLINE)
def _fall_chances(st, inp, r, day, i, centre_fallen):
    """rules.fall_chances for capital i of replicate r: (p_assault, p_give_up, p_deal)."""
    held = st.is_held[r, i]
    if not held:
        return F(0.0), F(0.0), F(0.0)
    holdout = inp.is_holdout[i]
    besieged = st.is_besieged[r, i]
    ceasefire = inp.has_ceasefire and inp.ceasefire[day, i]
    p_assault = F(0.0)
    if inp.siege_assault:
        defence = max(st.garrison[r, i], F(1.0))
        if inp.commando_reserve and st.commando_at[r] == i:
            defence += st.commandos[r] * inp.commando_quality
        defence *= F(0.5) + st.morale[r, i]
        defence *= F(1.0) + inp.air_defence * st.air_cover[r, i]
        ratio2 = st.effort[r, i] * inp.siege_force_share / defence
        ratio2 *= ratio2
        p_assault = ratio2 / (ratio2 + inp.half_ratio_sq) * inp.assault_rate
        p_assault *= F(1.0) if besieged else F(0.0)
    if centre_fallen and holdout:
        p_assault *= inp.holdout_factor
    if ceasefire:
        p_assault *= F(0.0)
    may_give_up = not holdout
    if inp.holdout_surrender:
        may_give_up = not (holdout and centre_fallen)
    fallen_next_door = F(0.0)
    if inp.morale_cascade or inp.negotiated_handover:
        fallen_next_door = _fallen_next_door(st, inp, r, i)
    p_give_up = F(0.0)
    if inp.morale_cascade:
        pressed = besieged or fallen_next_door >= inp.encircled_share
        if inp.supply_isolation:
            pressed = pressed or not st.is_supplied[r, i]
        if pressed and st.morale[r, i] < inp.surrender_threshold and may_give_up:
            p_give_up = inp.surrender_rate
    if inp.supply_stocks and st.stocks[r, i] <= F(0.0) and not st.is_supplied[r, i] and may_give_up:
        p_give_up = max(p_give_up, inp.starved_rate)
    if centre_fallen and not holdout:
        p_give_up = max(p_give_up, inp.post_kabul_rate)
    p_deal = F(0.0)
    if inp.negotiated_handover and not holdout:
        held_around = min(st.control[r, i] / inp.cap, F(1.0))
        p_deal = pow32(held_around, inp.deal_exponent)
        p_deal *= inp.deal_scale[day]
        p_deal *= F(1.0) + inp.deal_contagion * fallen_next_door
        p_deal *= inp.broker_factor[i]
    if ceasefire:
        p_give_up *= F(0.0)
        p_deal *= F(0.0)
    return p_assault, p_give_up, p_deal


@njit(**_INLINE)
def _apply_falls(st, inp, r, day, falls):
    """rules.apply_falls for replicate r, falls a (P,) mask of today's new falls."""
    n_p = inp.n_p
    n_new = 0
    for i in range(n_p):
        if falls[i]:
            n_new += 1
            if st.is_supplied[r, i]:
                st.supply_dirty[r] = True
            st.is_held[r, i] = False
            st.control[r, i] = F(1.0)
            st.garrison[r, i] = F(0.0)
    if n_new == 0:
        return
    if falls[inp.kabul]:
        st.kabul_fell_day[r] = day
    for e in range(inp.n_e):
        both = st.is_held[r, inp.edge_a[e]] and st.is_held[r, inp.edge_b[e]]
        st.ends_held[r, e] = both
        st.is_road_open[r, e] = st.is_road_open[r, e] and both
    fell = F(n_new)
    morale = st.morale[r]
    if inp.morale_cascade:
        national = inp.cascade_national * fell
        for j in range(n_p):
            morale[j] -= national
        for j in range(n_p):
            n = 0
            for k in range(inp.n_neighbours[j]):
                n += falls[inp.neighbours[j, k]]
            morale[j] -= inp.cascade_neighbour * F(n)
    if inp.corps_cascade:
        for j in range(n_p):
            c = F(0.0)
            for i in range(n_p):
                if falls[i]:
                    c += inp.corps_peers[i, j]
            morale[j] -= inp.cascade_corps * c
        for j in range(n_p):
            c = F(0.0)
            for i in range(n_p):
                if falls[i]:
                    c += inp.corps_hq_peers[i, j]
            morale[j] -= inp.cascade_corps_hq * c
    if inp.prison_breaks:
        st.taliban[r] += inp.prison_gain * fell


@njit(**_INLINE)
def _day(st, inp, r, day, work, queue, falls, chances, want_chances):
    """rules.advance_day for replicate r: the same steps in the same order with the same float32 arithmetic.
    Writes the day's falls into `falls` and returns whether capitals could fall today (the reference returns
    None when not)."""
    n_p, n_e = inp.n_p, inp.n_e
    control, held, morale = st.control[r], st.is_held[r], st.morale[r]
    garrison, effort, besieged = st.garrison[r], st.effort[r], st.is_besieged[r]
    u, w, t, x = work[0], work[1], work[2], work[4]  # the day's uniforms; scratch rows of P, P and P + E
    draw(st.stream[r], day, u)
    falls[:] = False

    if day > 0:  # the withdrawal's toll since yesterday
        step = inp.morale_step[day]
        for i in range(n_p):
            morale[i] -= step
    if inp.customs:  # rules.lose_customs
        lost = 0
        for i in range(n_p):
            if inp.has_crossing[i]:
                lost += (control[i] > inp.crossing_loss_control or not held[i]
                         or inp.crossing_day[i] <= day)  # NaN (not reported) compares False
        toll = inp.customs_rate * (F(lost) / inp.n_crossings)
        for i in range(n_p):
            morale[i] -= toll
    if inp.has_reinforce[day]:  # rules.apply_interventions
        for i in range(n_p):
            garrison[i] += inp.reinforce[day, i] * (F(1.0) if held[i] else F(0.0))
    if inp.has_shock[day]:
        for i in range(n_p):
            morale[i] = min(max(morale[i] - inp.shock[day, i], F(0.0)), F(1.0))

    # rules.allocate_effort
    for i in range(n_p):
        w[i] = control[i] * inp.momentum
    _exp_rows(w, n_p)
    for i in range(n_p):
        w[i] = w[i] * inp.target_weight[i] * (F(1.0) if held[i] else F(0.0))
    total = F(0.0)
    for i in range(n_p):  # in order: the reference sums column by column
        total += w[i]
    if total == F(0.0):
        total = F(1.0)
    per_weight = st.taliban[r] / total
    for i in range(n_p):
        effort[i] = w[i] * per_weight

    _allocate_air(st, inp, r, day, t, work[3])
    if inp.commando_reserve:  # rules.deploy_commandos
        _threat(st, inp, r, t)
        at = 0
        for i in range(1, n_p):  # the first of the largest, as numpy's argmax
            if t[i] > t[at]:
                at = i
        st.commando_at[r] = at if t[at] > F(0.0) else -1

    if inp.rural_expansion:  # rules.expand_rural_control
        for i in range(n_p):  # neighbours' mean control, summed in the table's order
            s = F(0.0)
            for k in range(inp.n_neighbours[i]):
                s += control[inp.neighbours[i, k]]
            t[i] = s / inp.degree[i]
        factor = st.rural_factor[r] * inp.neg_rural_rate
        for i in range(n_p):
            x[i] = F(1.0) - morale[i]
        _pow_rows(x, inp.rural_exponent, n_p)  # weakness
        for i in range(n_p):
            hazard = effort[i] * inp.effort_scale[i]
            hazard *= t[i] * inp.rural_boost + F(1.0)
            hazard *= x[i]
            hazard *= factor
            if inp.has_ceasefire:
                hazard *= F(0.0) if inp.ceasefire[day, i] else F(1.0)
            x[i] = hazard
        _expm1_rows(x, n_p)
        for i in range(n_p):
            room = max(inp.cap - control[i], F(0.0))
            gain = u[i] * F(-2.0) * x[i] * room
            control[i] += min(gain, room)

    if inp.road_interdiction or inp.has_hold or inp.has_cut:  # rules.cut_roads
        open_, ends_held, supplied = st.is_road_open[r], st.ends_held[r], st.is_supplied[r]
        for e in range(n_e):  # every link's exposure, cut or not: cheaper in SIMD than picking the open ones
            x[e] = control[inp.edge_a[e]] * control[inp.edge_b[e]] * inp.neg_cut_hazard[e]
        _expm1_rows(x, n_e)  # -(chance of a cut)
        matters = False
        for e in range(n_e):
            if not open_[e] and not ends_held[e]:
                continue  # a link with a fallen end stays closed whatever is drawn
            a, b = inp.edge_a[e], inp.edge_b[e]
            ca, cb = control[a], control[b]
            ue = u[n_p + e] if inp.road_interdiction else F(1.0)
            cut = False
            if open_[e]:
                cut = ue < -x[e]
            reopened = (not open_[e]) and ue < (F(1.0) - ca) * (F(1.0) - cb) * inp.reopen_rate  # ends held here
            if inp.has_hold and inp.road_hold[day, e]:
                cut = False
                reopened = reopened or not open_[e]
            if inp.has_cut and inp.road_cut[day, e]:
                cut = cut or open_[e]
                reopened = False
            if cut or reopened:
                open_[e] = not open_[e]
                sa, sb = supplied[a], supplied[b]
                matters = matters or (cut and sa and sb) or (reopened and sa != sb)
        if matters:
            st.supply_dirty[r] = True

    _update_supply(st, inp, r, day, queue)

    # rules.resolve_sieges
    for i in range(n_p):
        besieged[i] = control[i] >= inp.siege_threshold and held[i]
    if inp.morale_cascade:
        relief = F(1.0)
        if inp.air_logistics:
            _, casevac = _airlift(st, inp, r, day)
            relief = F(1.0) - inp.casevac_relief * casevac
        for i in range(n_p):
            if besieged[i]:
                morale[i] -= inp.siege_morale_rate * relief
    if inp.commando_reserve:
        st.commandos[r] *= F(1.0) - inp.commando_wear * (F(1.0) if st.commando_at[r] >= 0 else F(0.0))
    centre_fallen = inp.centre_collapse and st.kabul_fell_day[r] != NOT_FALLEN
    can_fall = inp.campaign[day]
    if day < inp.seed_until:  # spin-up of a seeded start: the record decides who falls, and when
        if want_chances and can_fall:
            for i in range(n_p):
                chances[0, r, i], chances[1, r, i], chances[2, r, i] = _fall_chances(st, inp, r, day, i,
                                                                                      centre_fallen)
        for i in range(n_p):
            if inp.seed_fall_days[i] == day and held[i]:
                falls[i] = True
                st.fall_how[r, i] = SEEDED
                st.fall_day[r, i] = day
        can_fall = True
    elif can_fall:
        for i in range(n_p):
            if not held[i]:
                continue
            p_assault, p_give_up, p_deal = _fall_chances(st, inp, r, day, i, centre_fallen)
            uf = u[n_p + n_e + i]
            by_deal = p_assault + p_deal
            if uf < by_deal + p_give_up:
                falls[i] = True
                if uf < p_assault:
                    how = FIGHTING
                elif inp.negotiated_handover:
                    how = NEGOTIATED if uf < by_deal else SURRENDER
                else:  # a give-up while besieged counts as negotiated
                    how = NEGOTIATED if besieged[i] else SURRENDER
                st.fall_how[r, i] = how
                st.fall_day[r, i] = day
    _apply_falls(st, inp, r, day, falls)

    st.taliban[r] *= inp.recruit_factor  # rules.recruit
    for i in range(n_p):
        morale[i] = max(morale[i], F(0.0))
    return can_fall


# ------------------------------------------------------------------------------------------ entry points


@njit(**_JIT)
def _advance_block(st, inp, day, work, queue, falls, chances, want_chances):
    can_fall = False
    for r in range(st.control.shape[0]):
        can_fall = _day(st, inp, r, day, work, queue, falls[r], chances, want_chances)
    return can_fall


@njit(**_INLINE)
def _district_share(st, inp, r):
    """National share of districts under Taliban control, summed in province order."""
    s = F(0.0)
    for i in range(inp.n_p):
        s += st.control[r, i] * inp.share_weight[i]
    return s


@njit(**_JIT)
def _run_block(st, inp, first_day, last_day, held_out, share_out, share_column, work, queue, falls, chances):
    n_p = inp.n_p
    daily = held_out.shape[0] > 0
    for r in range(st.control.shape[0]):  # a whole run at a time: its state stays in the L1 cache
        for day in range(first_day, last_day + 1):
            _day(st, inp, r, day, work, queue, falls, chances, False)
            k = day - first_day
            if daily:
                n = 0
                for i in range(n_p):
                    n += st.is_held[r, i]
                held_out[r, k] = n
            if share_column[k] >= 0:
                share_out[r, share_column[k]] = _district_share(st, inp, r)


_NO_CHANCES = np.zeros((3, 1, 1), dtype=np.float32)


def _queue(world: World) -> np.ndarray:
    return np.empty(world.n_provinces, dtype=np.int64)


def scratch(world: World) -> np.ndarray:
    """(5, S) float32 scratch rows for the kernels: the day's S uniforms, and rows of at least P + E."""
    return np.empty((5, n_slots(world.n_provinces, world.n_roads)), dtype=np.float32)


def advance_day(s: State, world: World, p: Params, d: Drivers, day: int) -> np.ndarray | None:
    """One day of the model for every replicate in `s` (what rules.advance_day does, compiled). Returns the (N, P)
    mask of capitals that fell today, or None on days before the campaign gate (no capital can fall then).

    During the spin-up of a seeded start (day < d.seed_until) the forced falls happen, and d.seed_observe is
    shown the day's fall chances first, as in the reference."""
    inputs = packed(world, p, d)
    n = s.n
    spin_up = day < d.seed_until and d.seed_observe is not None
    want = spin_up and bool(d.is_campaign_open[day])
    held_before = s.is_held.copy() if spin_up else None
    chances = np.zeros((3, n, world.n_provinces), dtype=np.float32) if want else _NO_CHANCES
    falls = np.zeros((n, world.n_provinces), dtype=np.bool_)
    can_fall = _advance_block(kstate(s), inputs, int(day), scratch(world), _queue(world), falls, chances, want)
    if spin_up:
        d.seed_observe(day, (chances[0], chances[1], chances[2]) if want else None, falls, held_before)
    return falls if can_fall else None


def apply_falls(s: State, world: World, p: Params, d: Drivers, day: int, falls: np.ndarray) -> None:
    """rules.apply_falls, compiled: the consequences of the (N, P) mask of falls."""
    _apply_falls_block(kstate(s), packed(world, p, d), int(day), np.ascontiguousarray(falls, dtype=np.bool_))


@njit(**_JIT)
def _apply_falls_block(st, inp, day, falls):
    for r in range(falls.shape[0]):
        _apply_falls(st, inp, r, day, falls[r])


def run_days(s: State, world: World, p: Params, d: Drivers, first_day: int, last_day: int,
             held_out: np.ndarray | None, share_out: np.ndarray, share_days: np.ndarray | None = None) -> None:
    """Advance every replicate of `s` from first_day to last_day (inclusive) in one call, writing each day's
    government-held capitals into held_out[:, day - first_day] (if given) and the national district share into
    share_out[:, day - first_day] (share_days None), or into share_out[:, k] on share_days[k] only."""
    n_days = last_day - first_day + 1
    if share_days is None:
        column = np.arange(n_days, dtype=np.int64)
    else:
        column = np.full(n_days, -1, dtype=np.int64)
        for k, day in enumerate(share_days):
            column[int(day) - first_day] = k
    held = held_out if held_out is not None else np.zeros((0, 0), dtype=np.int16)
    _run_block(kstate(s), packed(world, p, d), int(first_day), int(last_day), held, share_out, column,
               scratch(world), _queue(world), np.zeros(world.n_provinces, dtype=np.bool_), _NO_CHANCES)


stamp_caches(globals())  # an edit of any file the compiled rules are built from recompiles them
