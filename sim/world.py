"""The fixed world a run takes place in: province and road arrays, and the dated withdrawal timeline.

`World` turns the observed record into arrays indexed like the provinces (P) and road links (E). Its arrays hold
facts known before the offensive and the dated withdrawal timeline, never fall dates: those stay in the record,
for seeding a later start and for scoring (sim/metrics.py).

`world.known_on(D)` is the world as known on the morning of D, built from `record.known_on(D)`: its record holds
only what had been reported before D, and its timeline follows the reports before D and, beyond them, the plan
announced by D (data/README.md, "Information cutoff"). A model run from D should see only that world; scoring
keeps the full one.

Day indices count from 2021-05-01 (day 0), whatever day a run starts on, so fall days from runs with different
start dates are directly comparable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import numpy as np

from .data import WINDOW_FIRST, WINDOW_LAST, Record, load_record

DAY0 = WINDOW_FIRST
N_CALENDAR_DAYS = (WINDOW_LAST - WINDOW_FIRST).days + 1


def day_index(on: dt.date) -> int:
    return (on - DAY0).days


def day_date(day: int) -> dt.date:
    return DAY0 + dt.timedelta(days=int(day))


def _points(events) -> tuple[list[int], list[float]]:
    """Day indices and values of dated events, in date order."""
    ordered = sorted(events, key=lambda e: e.on)
    return [day_index(e.on) for e in ordered], [float(e.value) for e in ordered]


def planned_end(record: Record) -> dt.date:
    """The end of the withdrawal as last announced in the record (the latest announcement with a planned_end)."""
    plans = [e for e in record.events if e.planned_end is not None]
    if not plans:
        raise ValueError(f"the record as known on {record.cutoff} holds no announced withdrawal plan")
    return max(plans, key=lambda e: (e.reported_on, e.on)).planned_end


def _timeline(record: Record, days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(withdrawal progress, contractor share of the April census, US air phase) for each calendar day.

    The full record interpolates between its dated milestones. A record known on D (record.cutoff) has only the
    rows reported before D; beyond the last of them it follows the plan announced by D: progress rises linearly
    to 1 on the planned end, contractors fall linearly from the last census known to none on it (they leave with
    the troops), and an unreported Bagram handover or mission end is the planned end.
    """
    if record.cutoff is None:
        progress = _interpolate(record.events_of("withdrawal_progress"), days)
        contractors = record.events_of("contractors")
        april = max(contractors, key=lambda e: -day_index(e.on)).value  # the earliest census is the reference level
        contractor_share = _interpolate(contractors, days) / april
        bagram = day_index(record.events_of("bagram_handover")[0].on)
        mission_end = day_index(record.events_of("mission_end")[0].on)
    else:
        end = day_index(planned_end(record))
        xs, ys = _points(record.events_of("withdrawal_progress"))
        if not xs:
            raise ValueError(f"the record as known on {record.cutoff} holds no withdrawal progress")
        if ys[-1] < 1.0 and end > xs[-1]:
            xs, ys = xs + [end], ys + [1.0]
        progress = np.interp(days, xs, ys)
        cx, cy = _points(record.events_of("contractors"))
        if not cx:
            raise ValueError(f"the record as known on {record.cutoff} holds no contractor census")
        april = cy[0]  # the earliest census is the reference level
        if cy[-1] > 0.0 and end > cx[-1]:
            cx, cy = cx + [end], cy + [0.0]
        contractor_share = np.interp(days, cx, cy) / april
        known_end, known_bagram = record.events_of("mission_end"), record.events_of("bagram_handover")
        mission_end = day_index(known_end[0].on) if known_end else end
        bagram = day_index(known_bagram[0].on) if known_bagram else mission_end  # in-country bases to the end
        if not known_end:
            mission_end = max(mission_end, bagram)
    us_air_phase = np.where(days < bagram, 2, np.where(days <= mission_end, 1, 0))
    return progress, contractor_share, us_air_phase


def _interpolate(events, days: np.ndarray, before=None) -> np.ndarray:
    """Piecewise-linear series through dated values, flat beyond the first and last points."""
    xs = np.array([day_index(e.on) for e in events], dtype=float)
    ys = np.array([e.value for e in events], dtype=float)
    order = np.argsort(xs, kind="stable")
    return np.interp(days, xs[order], ys[order], left=ys[order][0] if before is None else before, right=ys[order][-1])


@dataclass(frozen=True, eq=False)
class World:
    record: Record
    names: tuple[str, ...]
    kabul: int
    # provinces (P,)
    population: np.ndarray
    n_districts: np.ndarray
    is_north_non_pashtun: np.ndarray
    has_crossing: np.ndarray
    is_pakistan_east: np.ndarray
    is_holdout: np.ndarray  # held against the Taliban in 2001 ('yes')
    holdout_level: np.ndarray  # 1 yes, 0.5 partly, 0 no
    has_corps_hq: np.ndarray
    corps_peers: np.ndarray  # (P, P) float32: 1 where two provinces share an ANA corps area (0 on the diagonal)
    corps_hq_peers: np.ndarray  # (P, P) float32: 1 in row h, column j where h holds the HQ of j's corps (h != j)
    has_power_broker: np.ndarray
    surrounded_feb_2021: np.ndarray
    adjacency: np.ndarray  # (P, P) 0/1, float32
    neighbour_mean: np.ndarray  # (P, P) float32: x @ neighbour_mean is the mean of x over each province's neighbours
    # The same neighbours as a table, for sums in a fixed order (rules.neighbour_mean and sim/kernels.py add in
    # this order, so that both give the same bits): row i lists i's neighbours ascending, padded with 0.
    neighbour_table: np.ndarray  # (P, max degree) int64
    neighbour_count: np.ndarray  # (P,) int64
    neighbour_edge: np.ndarray  # (P, max degree) int64: the road link to each neighbour in neighbour_table
    degree: np.ndarray  # (P,) float32, the same counts
    # roads (E,)
    link_ids: tuple[str, ...]
    edge_a: np.ndarray
    edge_b: np.ndarray
    km: np.ndarray
    is_poor: np.ndarray
    edge_ends: np.ndarray  # (2E,) edge_a then edge_b, to gather both ends at once
    neighbour_bits: np.ndarray  # (E, P) float64: 2^b in column a and 2^a in column b (see rules.connected_to_kabul)
    # the dated withdrawal timeline, one value per calendar day from 2021-05-01 (length N_CALENDAR_DAYS)
    withdrawal_progress: np.ndarray
    contractor_share: np.ndarray  # contractors as a share of the April count
    us_air_phase: np.ndarray  # 2: US air from bases in country, 1: over-the-horizon after Bagram, 0: after the mission
    # dated shocks (mechanism 11), as known to this world: NaN / None where not reported by its cutoff
    crossing_taken_day: np.ndarray  # (P,) day index a border crossing of the province was reported taken, else NaN
    shake_up_day: int | None  # day index the security chiefs were replaced (19 Jun 2021), if known

    @property
    def n_provinces(self) -> int:
        return len(self.names)

    @property
    def n_roads(self) -> int:
        return len(self.link_ids)

    def graph(self) -> nx.Graph:
        return self.record.graph()

    def road_km_from_kabul(self) -> np.ndarray:
        dist = nx.single_source_dijkstra_path_length(self.graph(), "Kabul", weight="km")
        return np.array([dist[n] for n in self.names], dtype=float)

    @property
    def cutoff(self) -> dt.date | None:
        """None for the world of the full record; else the day whose morning this world is as known on."""
        return self.record.cutoff

    def known_on(self, on: dt.date) -> World:
        """This world as known on the morning of `on` (built from record.known_on; cached per world and day)."""
        return _known_world(self, on)

    def hops_from_kabul(self) -> np.ndarray:
        dist = nx.single_source_shortest_path_length(self.graph(), "Kabul")
        return np.array([dist[n] for n in self.names], dtype=float)

    def great_circle_km_from_kabul(self, radius_km: float = 6371.0088) -> np.ndarray:
        """Haversine distance between each capital and Kabul's, from the record's lat/lon (IUGG mean Earth radius)."""
        lat = np.radians([p.lat for p in self.record.provinces])
        lon = np.radians([p.lon for p in self.record.provinces])
        a = (np.sin((lat - lat[self.kabul]) / 2) ** 2
             + np.cos(lat) * np.cos(lat[self.kabul]) * np.sin((lon - lon[self.kabul]) / 2) ** 2)
        return 2 * radius_km * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def build_world(record: Record) -> World:
    names = record.names
    idx = record.index
    cov = record.covariates
    n_p = len(names)
    flag = lambda f: np.array([bool(f(c)) for c in cov])  # noqa: E731

    edge_a = np.array([idx[r.a] for r in record.roads])
    edge_b = np.array([idx[r.b] for r in record.roads])
    adjacency = np.zeros((n_p, n_p))
    adjacency[edge_a, edge_b] = adjacency[edge_b, edge_a] = 1.0

    days = np.arange(N_CALENDAR_DAYS, dtype=float)
    progress, contractor_share, us_air_phase = _timeline(record, days)
    corps = [c.ana_corps for c in cov]
    corps_peers = np.array([[float(a is not None and a == b and i != j) for j, b in enumerate(corps)]
                            for i, a in enumerate(corps)])

    return World(
        record=record,
        names=names,
        kabul=record.kabul,
        population=np.array([c.population for c in cov], dtype=float),
        n_districts=np.array([c.n_districts for c in cov], dtype=float),
        is_north_non_pashtun=flag(lambda c: c.is_north and not c.is_pashtun_majority),
        has_crossing=flag(lambda c: c.has_border_crossing),
        is_pakistan_east=flag(lambda c: c.is_pakistan_east),
        is_holdout=flag(lambda c: c.held_2001 == "yes"),
        holdout_level=np.array([{"yes": 1.0, "partly": 0.5, "no": 0.0}[c.held_2001] for c in cov]),
        has_corps_hq=flag(lambda c: c.has_corps_hq),
        corps_peers=corps_peers.astype(np.float32),
        corps_hq_peers=(flag(lambda c: c.has_corps_hq)[:, None] * corps_peers).astype(np.float32),
        has_power_broker=flag(lambda c: c.has_power_broker),
        surrounded_feb_2021=flag(lambda c: c.surrounded_feb_2021),
        adjacency=adjacency.astype(np.float32),
        neighbour_mean=(adjacency / adjacency.sum(axis=0)).astype(np.float32),
        **_neighbour_table(adjacency, edge_a, edge_b),
        link_ids=tuple(r.link_id for r in record.roads),
        edge_a=edge_a,
        edge_b=edge_b,
        km=np.array([r.km for r in record.roads], dtype=float),
        is_poor=np.array([r.is_poor for r in record.roads]),
        edge_ends=np.concatenate([edge_a, edge_b]),
        neighbour_bits=_neighbour_bits(edge_a, edge_b, n_p),
        withdrawal_progress=progress,
        contractor_share=contractor_share,
        us_air_phase=us_air_phase,
        crossing_taken_day=np.array([np.nan if c.first_crossing_taken_on is None else day_index(c.first_crossing_taken_on)
                                     for c in cov]),
        shake_up_day=min((day_index(e.on) for e in record.events_of("security_chiefs_replaced")), default=None),
    )


def _neighbour_table(adjacency: np.ndarray, edge_a: np.ndarray, edge_b: np.ndarray) -> dict:
    rows = [np.flatnonzero(row) for row in adjacency]
    count = np.array([len(r) for r in rows], dtype=np.int64)
    table = np.zeros((len(rows), max(1, int(count.max(initial=0)))), dtype=np.int64)
    edge = np.zeros_like(table)
    link = {(int(a), int(b)): e for e, (a, b) in enumerate(zip(edge_a, edge_b))}
    link |= {(b, a): e for (a, b), e in link.items()}
    for i, r in enumerate(rows):
        table[i, :len(r)] = r
        edge[i, :len(r)] = [link[i, int(j)] for j in r]
    return {"neighbour_table": table, "neighbour_count": count, "neighbour_edge": edge,
            "degree": count.astype(np.float32)}


def _neighbour_bits(edge_a: np.ndarray, edge_b: np.ndarray, n_p: int) -> np.ndarray:
    if n_p > 52:
        raise ValueError("the bitset supply search handles at most 52 provinces")
    bits = np.zeros((len(edge_a), n_p))
    bits[np.arange(len(edge_a)), edge_a] = 2.0 ** edge_b
    bits[np.arange(len(edge_a)), edge_b] = 2.0 ** edge_a
    return bits


@lru_cache(maxsize=64)
def _known_world(world: World, on: dt.date) -> World:
    return build_world(world.record.known_on(on))


@lru_cache(maxsize=4)
def default_world() -> World:
    """The world built from the shipped data files (cached: building it parses every file)."""
    return build_world(load_record())


@lru_cache(maxsize=4)
def world_for(data_dir: str | None = None) -> World:
    """The world from the data files in `data_dir` (None: the shipped ones), cached per process: what a worker
    process calls, so that every worker simulates on the same data as the command that sent it the task."""
    return default_world() if data_dir is None else build_world(load_record(data_dir))
