"""The day's rules compiled with numba: what both engines run.

sim/rules.py states the rules readably, as numpy over arrays with a replicate axis; this module is the same rules
compiled, and it is what runs: the ensemble hands it a chunk of replicates (`run_days`: every day of every
replicate in one call), the Mesa model and a seeded start's spin-up one day at a time (`advance_day`; the Mesa
model with a chunk of one). tests/test_kernels.py holds the two to the same bits: from the same state, with the
same uniforms, every field of the state after every day of whole runs, with every switch and intervention.

Layout: a block of up to LANES replicates is copied into lane arrays, (P, B), (E, B) or (B,), the replicates side
by side, so that each rule is a loop over provinces around a loop over replicates that compiles to SIMD code; the
block runs all its days there (its state stays in cache) and is copied back. What only some replicates do (the
air force choosing among more sieges than it can cover, the supply search, the consequences of a fall) runs
replicate by replicate. The float32 exp, expm1 and power are sim/f32math.py's, in lane loops of their own.

Random numbers: each replicate draws from its own counter-based stream (sim/streams.py), S = 2P + E uniforms a
day (P for district gains, E for road cuts and reopenings, P for capitals' falls), keyed by State.stream, so a
run depends only on its seed, never on the block width, how many replicates are computed together, in what
order or in which process.

Compiled with cache=True: the first call after an install compiles (about 17 s for the ensemble's entry point and
3 s more for the Mesa model's on an idle machine, twice that on a busy one; `python run.py bench` measures it)
and stores the machine code in numba's cache; sim/jitcache.py ties that cache to every source the rules inline,
so an edit is recompiled, never served stale.
No fastmath: results must not depend on how the compiler groups the arithmetic.
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from dataclasses import fields

import numpy as np
from numba import njit

from .f32math import exp_rows, expm1_rows, pow_rows
from .jitcache import announce_compiling, stamp_caches
from .params import Params
from .streams import GOLDEN, mix, unit
from .rules import FIGHTING, NEGOTIATED, NOT_FALLEN, SEEDED, SURRENDER, Drivers, State
from .world import World

F = np.float32
# _nrt=False: no reference counting. With it, every read of an array from the state or the inputs counted a
# reference up and down with atomic instructions, which the compiler could not prune in a function this size
# (measured with perf: 13 us a replicate-day, nine tenths of it in NRT_incref/NRT_decref; without: well under
# 1 us). The price: nothing here may allocate; the callers pass scratch arrays in.
_JIT = dict(cache=True, nogil=True, error_model="numpy", boundscheck=False, _nrt=False)
# The helpers are ordinary calls, not inlined at numba's level (inline="always"): LLVM inlines what pays, and the
# run time is the same (measured: 10,480 runs/s inlined, 10,760 not, N = 10,000, one core) while the compile is
# shorter (the Mesa model's entry point 6.1 -> 3.2 s).

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


# ------------------------------------------------------------------------------------------- replicate lanes

LANES = 64  # replicates in a block (measured: 16 -> 164 us a run, 32 -> 136, 64 -> 138, 128 -> 131; 1 -> 752)

Lanes = namedtuple("Lanes", [f.name for f in fields(State)])
Work = namedtuple("Work", ["u", "w", "t", "h", "pa", "pg", "pd", "falls", "queue",
                           "va", "vb", "vc", "na", "nc", "flag", "flag2"])


def lanes(s: State, world: World, width: int = LANES) -> tuple[Lanes, Work]:
    """Lane arrays for blocks of `width` replicates of states like `s` (each field (N, ...) becomes (..., width)),
    and the scratch the rules use."""
    n_p, n_e, n_s = world.n_provinces, world.n_roads, n_slots(world.n_provinces, world.n_roads)
    ln = Lanes(*(np.zeros(getattr(s, f.name).shape[1:] + (width,), getattr(s, f.name).dtype) for f in fields(State)))
    wk = Work(u=np.zeros((n_s, width), F), w=np.zeros((n_p, width), F), t=np.zeros((n_p, width), F),
              h=np.zeros((max(n_p, n_e), width), F), pa=np.zeros((n_p, width), F), pg=np.zeros((n_p, width), F),
              pd=np.zeros((n_p, width), F), falls=np.zeros((n_p, width), np.bool_),
              queue=np.zeros(n_p, np.int64), va=np.zeros(width, F), vb=np.zeros(width, F), vc=np.zeros(width, F),
              na=np.zeros(width, np.int32), nc=np.zeros(width, np.int32), flag=np.zeros(width, np.bool_), flag2=np.zeros(width, np.bool_))
    return ln, wk


@njit(**_JIT)
def _rows_in(src, dst, r0, nb):
    for b in range(nb):
        for i in range(src.shape[1]):
            dst[i, b] = src[r0 + b, i]


@njit(**_JIT)
def _rows_out(src, dst, r0, nb):
    for b in range(nb):
        for i in range(dst.shape[1]):
            dst[r0 + b, i] = src[i, b]


@njit(**_JIT)
def _vec_in(src, dst, r0, nb):
    for b in range(nb):
        dst[b] = src[r0 + b]


@njit(**_JIT)
def _vec_out(src, dst, r0, nb):
    for b in range(nb):
        dst[r0 + b] = src[b]


@njit(**_JIT)
def _load(st, ln, r0, nb):  # field by field: numba cannot loop over a tuple of arrays of different types
    _rows_in(st.control, ln.control, r0, nb)
    _rows_in(st.is_held, ln.is_held, r0, nb)
    _rows_in(st.fall_day, ln.fall_day, r0, nb)
    _rows_in(st.fall_how, ln.fall_how, r0, nb)
    _rows_in(st.garrison, ln.garrison, r0, nb)
    _rows_in(st.morale, ln.morale, r0, nb)
    _rows_in(st.effort, ln.effort, r0, nb)
    _rows_in(st.air_cover, ln.air_cover, r0, nb)
    _rows_in(st.is_besieged, ln.is_besieged, r0, nb)
    _rows_in(st.is_supplied, ln.is_supplied, r0, nb)
    _rows_in(st.is_road_open, ln.is_road_open, r0, nb)
    _rows_in(st.ends_held, ln.ends_held, r0, nb)
    _vec_in(st.taliban, ln.taliban, r0, nb)
    _vec_in(st.kabul_fell_day, ln.kabul_fell_day, r0, nb)
    _vec_in(st.supply_dirty, ln.supply_dirty, r0, nb)
    _vec_in(st.rural_factor, ln.rural_factor, r0, nb)
    _rows_in(st.stocks, ln.stocks, r0, nb)
    _vec_in(st.commandos, ln.commandos, r0, nb)
    _vec_in(st.commando_at, ln.commando_at, r0, nb)
    _vec_in(st.stream, ln.stream, r0, nb)


@njit(**_JIT)
def _store(ln, st, r0, nb):
    _rows_out(ln.control, st.control, r0, nb)
    _rows_out(ln.is_held, st.is_held, r0, nb)
    _rows_out(ln.fall_day, st.fall_day, r0, nb)
    _rows_out(ln.fall_how, st.fall_how, r0, nb)
    _rows_out(ln.garrison, st.garrison, r0, nb)
    _rows_out(ln.morale, st.morale, r0, nb)
    _rows_out(ln.effort, st.effort, r0, nb)
    _rows_out(ln.air_cover, st.air_cover, r0, nb)
    _rows_out(ln.is_besieged, st.is_besieged, r0, nb)
    _rows_out(ln.is_supplied, st.is_supplied, r0, nb)
    _rows_out(ln.is_road_open, st.is_road_open, r0, nb)
    _rows_out(ln.ends_held, st.ends_held, r0, nb)
    _vec_out(ln.taliban, st.taliban, r0, nb)
    _vec_out(ln.kabul_fell_day, st.kabul_fell_day, r0, nb)
    _vec_out(ln.supply_dirty, st.supply_dirty, r0, nb)
    _vec_out(ln.rural_factor, st.rural_factor, r0, nb)
    _rows_out(ln.stocks, st.stocks, r0, nb)
    _vec_out(ln.commandos, st.commandos, r0, nb)
    _vec_out(ln.commando_at, st.commando_at, r0, nb)
    # the stream keys never change


# ------------------------------------------------------------------------------------------------- the rules
# exp, expm1 and power run in lane loops of their own, sim/f32math.py's exp_rows, expm1_rows and pow_rows.


@njit(**_JIT)
def _rows_with_any(mask, n_p, nb, rows):
    """The rows i of mask (P, lanes) true in some lane, in order, into rows; returns how many."""
    n = 0
    for i in range(n_p):
        somewhere = False
        for b in range(nb):
            somewhere |= mask[i, b]
        if somewhere:
            rows[n] = i
            n += 1
    return n


@njit(**_JIT)
def _draw(ln, day, u, nb, first, last):
    """streams.draw for every lane, slots first..last-1: u[k, b] is uniform k of `day` of lane b's stream (a
    counter-based stream: skipping slots changes no other slot's value)."""
    base = np.uint64(day) * np.uint64(u.shape[0])
    for k in range(first, last):
        c = (base + np.uint64(k + 1)) * GOLDEN
        for b in range(nb):
            u[k, b] = unit(mix(ln.stream[b] + c))


@njit(**_JIT)
def _threats(ln, inp, nb, t):
    """rules.threat for every lane at once, into t (P, nb): one loop over the lanes, so it compiles to SIMD code
    (lane by lane, its division ran scalar: 17 % of a default run went to air support, perf)."""
    for i in range(inp.n_p):
        for b in range(nb):
            flag = F(1.0) if ln.is_besieged[i, b] else F(0.0)
            t[i, b] = ln.effort[i, b] * inp.siege_force_share * flag / max(ln.garrison[i, b], F(1.0))


@njit(**_JIT)
def _airlift_lanes(ln, inp, day, nb, resupply, casevac, n_cut, n_besieged):
    """rules.airlift_shares for every lane, into resupply[b] and casevac[b] (n_cut, n_besieged: int scratch)."""
    lift = inp.airlift[day]
    for b in range(nb):
        resupply[b] = F(0.0)
        casevac[b] = F(0.0)
    if not inp.air_logistics:
        return
    for b in range(nb):
        n_cut[b] = 0
        n_besieged[b] = 0
    for i in range(inp.n_p):  # counted across the lanes, & not `and`: both loops vectorise
        for b in range(nb):
            n_cut[b] += ln.is_held[i, b] & (not ln.is_supplied[i, b])
            n_besieged[b] += ln.is_besieged[i, b]
    for b in range(nb):
        spare = lift
        if inp.supply_stocks:
            n_cut_off = F(n_cut[b])
            resupply[b] = min(F(1.0), lift / max(n_cut_off, F(1.0)))
            spare = max(lift - n_cut_off, F(0.0))
        casevac[b] = min(F(1.0), spare / max(F(n_besieged[b]), F(1.0)))


@njit(**_JIT)
def _allocate_air(ln, inp, day, nb, wk):
    """rules.allocate_air_support: every besieged garrison covered where capacity allows, else the most
    threatened first."""
    cover = ln.air_cover
    n_p = inp.n_p
    if not inp.air_support:
        for i in range(n_p):
            for b in range(nb):
                cover[i, b] = F(0.0)
        return
    n_b = wk.na
    for b in range(nb):
        n_b[b] = 0
    for i in range(n_p):
        for b in range(nb):
            cover[i, b] = F(1.0) if ln.is_besieged[i, b] else F(0.0)
            n_b[b] += ln.is_besieged[i, b]
    whole = inp.air_whole[day]
    part = inp.air_part[day]
    t = wk.t
    short = False  # more besieged garrisons than whole cover in some lane: threats are needed
    for b in range(nb):
        short |= n_b[b] > whole
    if not short:
        return
    _threats(ln, inp, nb, t)
    # In the lanes short of cover, by rank, as the reference's partial sort decides: a garrison is covered in
    # full when fewer than `whole` threats exceed its own (its threat is at least the whole-th largest), in part
    # when exactly `whole` do (it is the (whole + 1)-th largest), never with no threat. Counted across the lanes
    # (SIMD) over the rows besieged in some lane: every other row's threat is 0 in every lane, which exceeds no
    # threat. (Lane by lane, a sort with data-dependent branches, this was a tenth of the time: perf, 3 December.)
    rows = wk.queue
    n_rows = _rows_with_any(ln.is_besieged, n_p, nb, rows)
    short_lane = wk.flag
    for b in range(nb):
        short_lane[b] = n_b[b] > whole
    w32 = np.int32(whole)
    above = wk.na
    for x in range(n_rows):
        i = rows[x]
        for b in range(nb):
            above[b] = 0
        for y in range(n_rows):
            j = rows[y]
            for b in range(nb):
                above[b] += t[j, b] > t[i, b]
        for b in range(nb):
            ti, was = t[i, b], cover[i, b]
            c = F(1.0) if above[b] < w32 else (part if above[b] == w32 else F(0.0))
            c = F(0.0) if ti <= F(0.0) else c
            cover[i, b] = c if short_lane[b] else was


@njit(**_JIT)
def _deploy_commandos(ln, inp, nb, wk):
    """rules.deploy_commandos: the reserve to the first of the most threatened capitals, none if no threat."""
    t, best, at = wk.t, wk.va, wk.na
    _threats(ln, inp, nb, t)
    for b in range(nb):
        best[b] = t[0, b]
        at[b] = 0
    for i in range(1, inp.n_p):
        for b in range(nb):
            if t[i, b] > best[b]:
                best[b] = t[i, b]
                at[b] = i
    for b in range(nb):
        ln.commando_at[b] = at[b] if best[b] > F(0.0) else -1


@njit(**_JIT)
def _connected_to_kabul(ln, inp, b, queue):
    """rules.connected_to_kabul for lane b: a breadth-first search from Kabul over usable links (open, both
    capitals held), with `queue` (P,) as scratch."""
    held, open_, supplied = ln.is_held, ln.is_road_open, ln.is_supplied
    for i in range(inp.n_p):
        supplied[i, b] = False
    if not held[inp.kabul, b]:
        return
    supplied[inp.kabul, b] = True
    queue[0] = inp.kabul
    head, tail = 0, 1
    while head < tail:
        i = queue[head]
        head += 1
        for k in range(inp.n_neighbours[i]):
            j = inp.neighbours[i, k]
            if not supplied[j, b] and held[j, b] and open_[inp.neighbour_edge[i, k], b]:
                supplied[j, b] = True
                queue[tail] = j
                tail += 1


@njit(**_JIT)
def _update_supply(ln, inp, day, nb, wk):
    """rules.update_supply: a new search where a change may have altered who is supplied; stocks (mechanism
    10) and isolation (mechanism 3)."""
    n_p = inp.n_p
    for b in range(nb):
        if ln.supply_dirty[b]:
            if ln.kabul_fell_day[b] != NOT_FALLEN:
                for i in range(n_p):
                    ln.is_supplied[i, b] = False
            else:
                _connected_to_kabul(ln, inp, b, wk.queue)
            ln.supply_dirty[b] = False
    if inp.supply_stocks:  # rules.run_down_stocks
        resupply = wk.va
        _airlift_lanes(ln, inp, day, nb, resupply, wk.vb, wk.na, wk.nc)
        for b in range(nb):
            wk.vc[b] = inp.drain * (F(1.0) - resupply[b])
        for i in range(n_p):
            for b in range(nb):  # branch-free (a select, & not `and`), so that it vectorises
                s = ln.stocks[i, b]
                cut_off = ln.is_held[i, b] & (not ln.is_supplied[i, b])
                ln.stocks[i, b] = max(s - wk.vc[b], F(0.0)) if cut_off else s
        if inp.restock_rate > 0:
            for i in range(n_p):
                for b in range(nb):
                    s = ln.stocks[i, b]
                    refill = ln.is_supplied[i, b] & (s < inp.stock_days)
                    ln.stocks[i, b] = min(s + inp.restock_rate, inp.stock_days) if refill else s
    if inp.supply_isolation:
        keep = F(1.0) - inp.isolation_attrition
        for i in range(n_p):
            for b in range(nb):  # x 1 and - 0 leave a value's bits as they are: no branch needed
                isolated = ln.is_held[i, b] & (not ln.is_supplied[i, b])
                ln.garrison[i, b] *= keep if isolated else F(1.0)
                ln.morale[i, b] -= inp.isolation_morale if isolated else F(0.0)


@njit(**_JIT)
def _fall_chances(ln, inp, day, nb, wk):
    """rules.fall_chances for every capital and lane, into wk.pa, wk.pg, wk.pd (0 where no longer held)."""
    n_p = inp.n_p
    pa, pg, pd = wk.pa, wk.pg, wk.pd
    centre_fallen = wk.flag
    for b in range(nb):
        centre_fallen[b] = inp.centre_collapse and ln.kabul_fell_day[b] != NOT_FALLEN
    held_around = wk.h  # the deals' share of the province held around the capital, raised to deal_exponent
    if inp.negotiated_handover:  # (a lane loop of its own: inside the loop below the power did not vectorise)
        for i in range(n_p):
            for b in range(nb):
                held_around[i, b] = min(ln.control[i, b] / inp.cap, F(1.0))
        pow_rows(held_around, inp.deal_exponent, n_p, nb)
    # The lane loops below are branch-free, with every load unconditional (a field a switched-off mechanism does
    # not use is still allocated) and the switches as booleans in the & and | or as selects: with a load under a
    # switch (`if inp.siege_assault: ... ln.garrison[i, b]`) LLVM did not vectorise them, and the assault's and
    # the give-up's divisions ran one lane at a time (perf, 3 December: a sixth of the ensemble's time). Each
    # value is the reference's: x * 1, x + 0 and a select leave the bits as they are.
    assault, commandos, giving_up = inp.siege_assault, inp.commando_reserve, inp.morale_cascade
    isolation, stocks, holdouts_may = inp.supply_isolation, inp.supply_stocks, inp.holdout_surrender
    for i in range(n_p):
        holdout = inp.is_holdout[i]
        keep = F(0.0) if inp.has_ceasefire and inp.ceasefire[day, i] else F(1.0)  # a ceasefire: no chance at all
        if assault:
            for b in range(nb):
                defence = max(ln.garrison[i, b], F(1.0))
                here = commandos & (ln.commando_at[b] == i)
                defence += ln.commandos[b] * inp.commando_quality if here else F(0.0)
                defence *= F(0.5) + ln.morale[i, b]
                defence *= F(1.0) + inp.air_defence * ln.air_cover[i, b]
                ratio2 = ln.effort[i, b] * inp.siege_force_share / defence
                ratio2 *= ratio2
                p_assault = ratio2 / (ratio2 + inp.half_ratio_sq) * inp.assault_rate
                p_assault *= F(1.0) if ln.is_besieged[i, b] else F(0.0)
                p_assault *= inp.holdout_factor if centre_fallen[b] & holdout else F(1.0)
                pa[i, b] = p_assault * keep
        else:
            for b in range(nb):
                pa[i, b] = F(0.0)
        n_fallen = wk.na  # fallen neighbours, counted neighbour by neighbour across the lanes
        for b in range(nb):
            n_fallen[b] = 0
        for k in range(inp.n_neighbours[i]):
            j = inp.neighbours[i, k]
            for b in range(nb):
                n_fallen[b] += not ln.is_held[j, b]
        for b in range(nb):  # giving up
            held = ln.is_held[i, b]
            supplied = ln.is_supplied[i, b]
            may_give_up = (not holdout) | (holdouts_may & (not centre_fallen[b]))
            fallen_next_door = F(n_fallen[b]) / inp.degree[i]
            pressed = ln.is_besieged[i, b] | (fallen_next_door >= inp.encircled_share) | (isolation & (not supplied))
            gives_up = giving_up & pressed & (ln.morale[i, b] < inp.surrender_threshold) & may_give_up & held
            p_give_up = inp.surrender_rate if gives_up else F(0.0)
            starved = stocks & held & (ln.stocks[i, b] <= F(0.0)) & (not supplied) & may_give_up
            p_give_up = max(p_give_up, inp.starved_rate) if starved else p_give_up
            after_kabul = centre_fallen[b] & held & (not holdout)
            p_give_up = max(p_give_up, inp.post_kabul_rate) if after_kabul else p_give_up
            pg[i, b] = p_give_up * keep
        if inp.negotiated_handover:  # deals
            for b in range(nb):
                p_deal = held_around[i, b] * inp.deal_scale[day]
                p_deal *= F(1.0) + inp.deal_contagion * (F(n_fallen[b]) / inp.degree[i])
                p_deal *= inp.broker_factor[i]
                p_deal = p_deal if ln.is_held[i, b] & (not holdout) else F(0.0)
                pd[i, b] = p_deal * keep
        else:
            for b in range(nb):
                pd[i, b] = F(0.0)


@njit(**_JIT)
def _apply_falls(ln, inp, day, nb, wk):
    """rules.apply_falls for every lane, wk.falls[:, b] lane b's mask of today's new falls. Across the lanes at
    once and branch-free (SIMD): a lane without a fall keeps every value through a select, so each lane gets
    exactly what the reference gives it."""
    n_p = inp.n_p
    falls, n_new, count = wk.falls, wk.na, wk.nc
    held, control, garrison, morale = ln.is_held, ln.control, ln.garrison, ln.morale
    for b in range(nb):
        n_new[b] = 0
    for i in range(n_p):
        for b in range(nb):
            f = falls[i, b]
            n_new[b] += f
            ln.supply_dirty[b] = ln.supply_dirty[b] | (f & ln.is_supplied[i, b])
            held[i, b] = held[i, b] & (not f)
            c, g = control[i, b], garrison[i, b]  # loaded first: a load in a select's arm blocks the vectoriser
            control[i, b] = F(1.0) if f else c
            garrison[i, b] = F(0.0) if f else g
    some = False
    for b in range(nb):
        some |= n_new[b] > 0
    if not some:
        return
    for b in range(nb):
        k = ln.kabul_fell_day[b]
        ln.kabul_fell_day[b] = day if falls[inp.kabul, b] else k
    for e in range(inp.n_e):
        a, c = inp.edge_a[e], inp.edge_b[e]
        for b in range(nb):
            both = held[a, b] & held[c, b]
            fell_today = n_new[b] > 0
            was = ln.ends_held[e, b]
            ln.ends_held[e, b] = both if fell_today else was
            ln.is_road_open[e, b] = ln.is_road_open[e, b] & (both | (not fell_today))
    if inp.morale_cascade:
        national = wk.va
        for b in range(nb):
            national[b] = inp.cascade_national * F(n_new[b])
        for j in range(n_p):
            for b in range(nb):
                m = morale[j, b]
                morale[j, b] = m - national[b] if n_new[b] > 0 else m
        for j in range(n_p):
            for b in range(nb):
                count[b] = 0
            for k in range(inp.n_neighbours[j]):
                nbr = inp.neighbours[j, k]
                for b in range(nb):
                    count[b] += falls[nbr, b]
            for b in range(nb):
                lost = inp.cascade_neighbour * F(count[b])
                m = morale[j, b]
                morale[j, b] = m - lost if n_new[b] > 0 else m
    if inp.corps_cascade:
        # Across the lanes: each garrison's count of today's falls among its corps peers, over the provinces that
        # fell in some lane. The peers are 0 or 1, so the counts are exact in any order (the reference's is a
        # matrix product), and a lane with no fall subtracts 0, which leaves its morale's bits as they are.
        fell_rows = wk.queue
        n_fell = _rows_with_any(falls, n_p, nb, fell_rows)
        peers, hq_peers = wk.va, wk.vb
        for j in range(n_p):
            for b in range(nb):
                peers[b] = F(0.0)
                hq_peers[b] = F(0.0)
            for x in range(n_fell):
                i = fell_rows[x]
                cp, hp = inp.corps_peers[i, j], inp.corps_hq_peers[i, j]
                if cp == F(0.0) and hp == F(0.0):
                    continue
                for b in range(nb):
                    f = falls[i, b]
                    peers[b] += cp if f else F(0.0)
                    hq_peers[b] += hp if f else F(0.0)
            for b in range(nb):
                morale[j, b] -= inp.cascade_corps * peers[b]
            for b in range(nb):
                morale[j, b] -= inp.cascade_corps_hq * hq_peers[b]
    if inp.prison_breaks:
        for b in range(nb):
            gain = inp.prison_gain * F(n_new[b])
            tb = ln.taliban[b]
            ln.taliban[b] = tb + gain if n_new[b] > 0 else tb


@njit(**_JIT)  # called once a day per block of lanes: not inlined, so that it is compiled once for every entry
def _day(ln, inp, day, nb, wk, chances, r0, want_chances):
    """rules.advance_day for the nb lanes of ln: the same steps in the same order with the same float32
    arithmetic, lane by lane. Leaves the day's falls in wk.falls and returns whether capitals could fall today
    (the reference returns None when not)."""
    n_p, n_e = inp.n_p, inp.n_e
    control, held, morale = ln.control, ln.is_held, ln.morale
    garrison, effort, besieged = ln.garrison, ln.effort, ln.is_besieged
    u, w, t, h, falls = wk.u, wk.w, wk.t, wk.h, wk.falls
    # Only the uniforms today's rules read: the district gains' if rural expansion is on, the roads' if
    # interdiction is, the capitals' on days they can fall by chance (after a seeded start's spin-up and once the
    # campaign is open). The draws were about a tenth of the time (perf, 3 December).
    if inp.rural_expansion:
        _draw(ln, day, u, nb, 0, n_p)
    if inp.road_interdiction:
        _draw(ln, day, u, nb, n_p, n_p + n_e)
    spin_up = day < inp.seed_until  # a seeded start's spin-up: the record decides who falls, and when
    by_chance = inp.campaign[day] and not spin_up  # capitals fall by chance today (the branch below)
    if by_chance:
        _draw(ln, day, u, nb, n_p + n_e, 2 * n_p + n_e)
    for i in range(n_p):
        for b in range(nb):
            falls[i, b] = False

    if day > 0:  # the withdrawal's toll since yesterday
        step = inp.morale_step[day]
        for i in range(n_p):
            for b in range(nb):
                morale[i, b] -= step
    if inp.customs:  # rules.lose_customs
        lost = wk.na
        for b in range(nb):
            lost[b] = 0
        for i in range(n_p):
            if inp.has_crossing[i]:
                reported = inp.crossing_day[i] <= day  # NaN (not reported) compares False
                for b in range(nb):
                    lost[b] += (control[i, b] > inp.crossing_loss_control) | (not held[i, b]) | reported
        for b in range(nb):
            wk.va[b] = inp.customs_rate * (F(lost[b]) / inp.n_crossings)
        for i in range(n_p):
            for b in range(nb):
                morale[i, b] -= wk.va[b]
    if inp.has_reinforce[day]:  # rules.apply_interventions
        for i in range(n_p):
            for b in range(nb):
                garrison[i, b] += inp.reinforce[day, i] * (F(1.0) if held[i, b] else F(0.0))
    if inp.has_shock[day]:
        for i in range(n_p):
            for b in range(nb):
                morale[i, b] = min(max(morale[i, b] - inp.shock[day, i], F(0.0)), F(1.0))

    # rules.allocate_effort
    total = wk.va
    for b in range(nb):
        total[b] = F(0.0)
    for i in range(n_p):
        for b in range(nb):
            w[i, b] = control[i, b] * inp.momentum
    exp_rows(w, n_p, nb)
    for i in range(n_p):
        for b in range(nb):
            v = w[i, b] * inp.target_weight[i] * (F(1.0) if held[i, b] else F(0.0))
            w[i, b] = v
            total[b] += v  # province by province, as the reference sums its columns
    for b in range(nb):
        total[b] = ln.taliban[b] / (F(1.0) if total[b] == F(0.0) else total[b])
    for i in range(n_p):
        for b in range(nb):
            effort[i, b] = w[i, b] * total[b]

    _allocate_air(ln, inp, day, nb, wk)
    if inp.commando_reserve:
        _deploy_commandos(ln, inp, nb, wk)

    if inp.rural_expansion:  # rules.expand_rural_control
        for i in range(n_p):  # neighbours' mean control, summed in the table's order
            for b in range(nb):
                t[i, b] = F(0.0)
            for k in range(inp.n_neighbours[i]):
                j = inp.neighbours[i, k]
                for b in range(nb):
                    t[i, b] += control[j, b]
            for b in range(nb):
                t[i, b] /= inp.degree[i]
        factor = wk.vb
        for b in range(nb):
            factor[b] = ln.rural_factor[b] * inp.neg_rural_rate
        for i in range(n_p):
            for b in range(nb):
                h[i, b] = F(1.0) - morale[i, b]
        pow_rows(h, inp.rural_exponent, n_p, nb)  # weakness
        for i in range(n_p):
            keep = F(0.0) if inp.has_ceasefire and inp.ceasefire[day, i] else F(1.0)
            for b in range(nb):
                hazard = effort[i, b] * inp.effort_scale[i]
                hazard *= t[i, b] * inp.rural_boost + F(1.0)
                hazard *= h[i, b]
                hazard *= factor[b]
                if inp.has_ceasefire:
                    hazard *= keep
                h[i, b] = hazard
        expm1_rows(h, n_p, nb)
        for i in range(n_p):
            for b in range(nb):
                room = max(inp.cap - control[i, b], F(0.0))
                gain = u[i, b] * F(-2.0) * h[i, b] * room
                control[i, b] += min(gain, room)

    if inp.road_interdiction or inp.has_hold or inp.has_cut:  # rules.cut_roads
        open_, ends_held, supplied = ln.is_road_open, ln.ends_held, ln.is_supplied
        matters = wk.flag2
        for b in range(nb):
            matters[b] = False
        for e in range(n_e):
            a, c = inp.edge_a[e], inp.edge_b[e]
            for b in range(nb):
                h[e, b] = control[a, b] * control[c, b] * inp.neg_cut_hazard[e]
        expm1_rows(h, n_e, nb)  # -(chance of a cut)
        for e in range(n_e):
            a, c = inp.edge_a[e], inp.edge_b[e]
            hold = inp.has_hold and inp.road_hold[day, e]
            force = inp.has_cut and inp.road_cut[day, e]
            for b in range(nb):
                ca, cb = control[a, b], control[c, b]
                chance = -h[e, b]
                ue = u[n_p + e, b] if inp.road_interdiction else F(1.0)
                was_open, both = open_[e, b], ends_held[e, b]
                cut = was_open & (ue < chance)
                reopened = (not was_open) & both & (ue < (F(1.0) - ca) * (F(1.0) - cb) * inp.reopen_rate)
                if hold:
                    cut = False
                    reopened = (not was_open) & both
                if force:
                    cut = was_open
                    reopened = False
                open_[e, b] = was_open != (cut | reopened)
                sa, sb = supplied[a, b], supplied[c, b]
                matters[b] = matters[b] | (cut & sa & sb) | (reopened & (sa != sb))
        for b in range(nb):
            if matters[b]:
                ln.supply_dirty[b] = True

    _update_supply(ln, inp, day, nb, wk)

    # rules.resolve_sieges
    for i in range(n_p):
        for b in range(nb):
            besieged[i, b] = (control[i, b] >= inp.siege_threshold) & held[i, b]
    if inp.morale_cascade:
        relief = wk.va
        _airlift_lanes(ln, inp, day, nb, wk.vc, relief, wk.na, wk.nc)  # casevac into relief
        for b in range(nb):
            relief[b] = F(1.0) - inp.casevac_relief * relief[b] if inp.air_logistics else F(1.0)
        for i in range(n_p):
            for b in range(nb):
                morale[i, b] -= inp.siege_morale_rate * relief[b] if besieged[i, b] else F(0.0)
    if inp.commando_reserve:
        for b in range(nb):
            ln.commandos[b] *= F(1.0) - inp.commando_wear * (F(1.0) if ln.commando_at[b] >= 0 else F(0.0))
    can_fall = inp.campaign[day]
    if spin_up:
        if want_chances and can_fall:
            _fall_chances(ln, inp, day, nb, wk)
            for i in range(n_p):
                for b in range(nb):
                    chances[0, r0 + b, i] = wk.pa[i, b]
                    chances[1, r0 + b, i] = wk.pg[i, b]
                    chances[2, r0 + b, i] = wk.pd[i, b]
        for i in range(n_p):
            for b in range(nb):
                if inp.seed_fall_days[i] == day and held[i, b]:
                    falls[i, b] = True
                    ln.fall_how[i, b] = SEEDED
                    ln.fall_day[i, b] = day
        can_fall = True
    elif by_chance:
        _fall_chances(ln, inp, day, nb, wk)
        deals = inp.negotiated_handover
        today = np.int16(day)
        for i in range(n_p):
            for b in range(nb):  # branch-free, so that it vectorises: selects, and & on booleans
                uf = u[n_p + n_e + i, b]
                p_assault, by_deal = wk.pa[i, b], wk.pa[i, b] + wk.pd[i, b]
                fell = held[i, b] & (uf < by_deal + wk.pg[i, b])
                # a give-up while besieged counts as negotiated when there are no deals
                was_how, was_day, bes = ln.fall_how[i, b], ln.fall_day[i, b], besieged[i, b]  # loads first
                negotiated = (uf < by_deal) if deals else bes
                how = FIGHTING if uf < p_assault else (NEGOTIATED if negotiated else SURRENDER)
                falls[i, b] = fell
                ln.fall_how[i, b] = np.int8(how) if fell else was_how
                ln.fall_day[i, b] = today if fell else was_day
    _apply_falls(ln, inp, day, nb, wk)

    for b in range(nb):
        ln.taliban[b] *= inp.recruit_factor  # rules.recruit
    for i in range(n_p):
        for b in range(nb):
            morale[i, b] = max(morale[i, b], F(0.0))
    return can_fall


# ------------------------------------------------------------------------------------------ entry points


@njit(**_JIT)
def _advance_block(st, inp, day, ln, wk, falls_out, chances, want_chances):
    """One day for every replicate of st, a block of lanes at a time; the falls into falls_out (N, P)."""
    n, width = st.control.shape[0], ln.taliban.shape[0]
    can_fall = False
    for r0 in range(0, n, width):
        nb = min(width, n - r0)
        _load(st, ln, r0, nb)
        can_fall = _day(ln, inp, day, nb, wk, chances, r0, want_chances)
        _store(ln, st, r0, nb)
        for b in range(nb):
            for i in range(inp.n_p):
                falls_out[r0 + b, i] = wk.falls[i, b]
    return can_fall


@njit(**_JIT)
def _run_block(st, inp, first_day, last_day, held_out, share_out, share_column, ln, wk, chances, want_chances):
    """Every day of every replicate of st, a block of lanes at a time (its state stays in the L1 cache), with the
    daily outputs."""
    n, width, n_p = st.control.shape[0], ln.taliban.shape[0], inp.n_p
    daily = held_out.shape[0] > 0
    for r0 in range(0, n, width):
        nb = min(width, n - r0)
        _load(st, ln, r0, nb)
        for day in range(first_day, last_day + 1):
            _day(ln, inp, day, nb, wk, chances, r0, want_chances)
            # The daily outputs, counted and summed across the lanes (SIMD) with the provinces in order, so each
            # lane's sum is the reference's; lane by lane (stride nb) this was a twentieth of the time (perf).
            k = day - first_day
            if daily:
                count = wk.na
                for b in range(nb):
                    count[b] = 0
                for i in range(n_p):
                    for b in range(nb):
                        count[b] += ln.is_held[i, b]
                for b in range(nb):
                    held_out[r0 + b, k] = count[b]
            col = share_column[k]
            if col >= 0:
                share = wk.va
                for b in range(nb):
                    share[b] = F(0.0)
                for i in range(n_p):  # in province order
                    for b in range(nb):
                        share[b] += ln.control[i, b] * inp.share_weight[i]
                for b in range(nb):
                    share_out[r0 + b, col] = share[b]
        _store(ln, st, r0, nb)


@njit(**_JIT)
def _apply_falls_block(st, inp, day, falls, ln, wk):
    n, width = st.control.shape[0], ln.taliban.shape[0]
    for r0 in range(0, n, width):
        nb = min(width, n - r0)
        _load(st, ln, r0, nb)
        for b in range(nb):
            for i in range(inp.n_p):
                wk.falls[i, b] = falls[r0 + b, i]
        _apply_falls(ln, inp, day, nb, wk)
        _store(ln, st, r0, nb)


_NO_CHANCES = np.zeros((3, 1, 1), dtype=np.float32)


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
    ln, wk = lanes(s, world, min(LANES, n))
    announce_compiling(_advance_block)
    can_fall = _advance_block(kstate(s), inputs, int(day), ln, wk, falls, chances, want)
    if spin_up:
        d.seed_observe(day, (chances[0], chances[1], chances[2]) if want else None, falls, held_before)
    return falls if can_fall else None


def apply_falls(s: State, world: World, p: Params, d: Drivers, day: int, falls: np.ndarray) -> None:
    """rules.apply_falls, compiled: the consequences of the (N, P) mask of falls."""
    ln, wk = lanes(s, world, min(LANES, s.n))
    _apply_falls_block(kstate(s), packed(world, p, d), int(day), np.ascontiguousarray(falls, dtype=np.bool_), ln, wk)


def run_days(s: State, world: World, p: Params, d: Drivers, first_day: int, last_day: int,
             held_out: np.ndarray | None, share_out: np.ndarray, share_days: np.ndarray | None = None,
             width: int = LANES) -> None:
    """Advance every replicate of `s` from first_day to last_day (inclusive) in one call, writing each day's
    government-held capitals into held_out[:, day - first_day] (if given) and the national district share into
    share_out[:, day - first_day] (share_days None), or into share_out[:, k] on share_days[k] only. `width`:
    replicates per block of lanes (any width gives the same runs)."""
    n_days = last_day - first_day + 1
    if share_days is None:
        column = np.arange(n_days, dtype=np.int64)
    else:
        column = np.full(n_days, -1, dtype=np.int64)
        for k, day in enumerate(share_days):
            column[int(day) - first_day] = k
    held = held_out if held_out is not None else np.zeros((0, 0), dtype=np.int16)
    ln, wk = lanes(s, world, max(1, min(width, s.n)))
    announce_compiling(_run_block)
    # want_chances is passed in (False), not written as a literal: a literal would type _day anew and compile it
    # a second time for this entry point
    _run_block(kstate(s), packed(world, p, d), int(first_day), int(last_day), held, share_out, column, ln, wk,
               _NO_CHANCES, False)


stamp_caches(globals())  # an edit of any file the compiled rules are built from recompiles them
