"""Mesa agents: the object view of one run.

The agents hold no state of their own. Each reads its row and column of the model's `State` arrays (N = 1), so
the rules in sim/rules.py stay the only place where anything changes, and what an agent shows is always what the
rules computed. Agents exist to be inspected, visualised and collected.
"""

from __future__ import annotations

import datetime as dt

from mesa import Agent
from mesa.discrete_space import CellAgent

from .rules import FALL_HOW_NAMES, NOT_FALLEN, threat
from .world import day_date


class ProvinceAgent(CellAgent):
    """A province and its capital, standing in the capital's cell of the road network."""

    def __init__(self, model, index: int, cell):
        super().__init__(model)
        self.index = index
        self.cell = cell
        prov = model.world.record.provinces[index]
        self.name, self.capital, self.lat, self.lon = prov.name, prov.capital, prov.lat, prov.lon

    @property
    def control(self) -> float:
        """Share of the province's districts under Taliban control."""
        return float(self.model.state.control[0, self.index])

    @property
    def is_held(self) -> bool:
        return bool(self.model.state.is_held[0, self.index])

    @property
    def is_besieged(self) -> bool:
        return bool(self.model.state.is_besieged[0, self.index])

    @property
    def fall_day(self) -> int | None:
        d = int(self.model.state.fall_day[0, self.index])
        return None if d == NOT_FALLEN else d

    @property
    def fell_on(self) -> dt.date | None:
        return None if self.fall_day is None else day_date(self.fall_day)

    @property
    def fall_how(self) -> str:
        return FALL_HOW_NAMES[int(self.model.state.fall_how[0, self.index])]

    def __repr__(self) -> str:
        status = "held" if self.is_held else f"fell {self.fell_on} ({self.fall_how})"
        return f"<Province {self.name} ({self.capital}): control {self.control:.2f}, {status}>"


class GarrisonAgent(CellAgent):
    """The government forces defending a province's capital."""

    def __init__(self, model, province: ProvinceAgent):
        super().__init__(model)
        self.province = province
        self.index = province.index
        self.cell = province.cell

    @property
    def strength(self) -> float:
        return float(self.model.state.garrison[0, self.index])

    @property
    def morale(self) -> float:
        return float(self.model.state.morale[0, self.index])

    @property
    def air_cover(self) -> float:
        return float(self.model.state.air_cover[0, self.index])

    @property
    def stocks(self) -> float:
        """Days of supplies and pay in hand (mechanism 10; stays full unless supply_stocks is on)."""
        return float(self.model.state.stocks[0, self.index])

    @property
    def commandos(self) -> float:
        """Strength of the national commando reserve defending this capital today (mechanism 12), else 0."""
        s = self.model.state
        return float(s.commandos[0]) if int(s.commando_at[0]) == self.index else 0.0

    @property
    def is_isolated(self) -> bool:
        """No open road path to Kabul through government-held capitals."""
        return self.province.is_held and not bool(self.model.state.is_supplied[0, self.index])

    def __repr__(self) -> str:
        return f"<Garrison {self.province.capital}: {self.strength:,.0f} troops, morale {self.morale:.2f}>"


class RoadLinkAgent(Agent):
    """A road link between two capitals; open or cut for the government."""

    def __init__(self, model, index: int, ends: tuple[ProvinceAgent, ProvinceAgent]):
        super().__init__(model)
        self.index = index
        road = model.world.record.roads[index]
        self.link_id, self.road, self.km, self.quality = road.link_id, road.road, road.km, road.quality
        self.ends = ends

    @property
    def is_open(self) -> bool:
        return bool(self.model.state.is_road_open[0, self.index])

    def __repr__(self) -> str:
        return f"<Road {self.link_id} ({self.km:.0f} km): {'open' if self.is_open else 'cut'}>"


class AirSupportAgent(Agent):
    """National air capacity (Afghan Air Force and US), allocated each day to the most threatened garrisons."""

    @property
    def strikes_today(self) -> float:
        day = min(self.model.day, self.model.end_day)
        return float(self.model.drivers.air_capacity[day])

    @property
    def airlift_today(self) -> float:
        """Garrisons the transports can fully supply today (mechanism 4b; 0 unless air_logistics is on)."""
        day = min(self.model.day, self.model.end_day)
        return float(self.model.drivers.airlift[day])

    @property
    def covered(self) -> dict[str, float]:
        """Province -> share of a full day's cover it received in the last step."""
        cover = self.model.state.air_cover[0]
        return {self.model.world.names[i]: float(c) for i, c in enumerate(cover) if c > 0}


class TalibanForceAgent(Agent):
    """Taliban fighters nationally, and where they pressed in the last step (the targeting rule)."""

    @property
    def fighters(self) -> float:
        return float(self.model.state.taliban[0])

    @property
    def effort(self) -> dict[str, float]:
        return {name: float(e) for name, e in zip(self.model.world.names, self.model.state.effort[0])}

    @property
    def threat(self) -> dict[str, float]:
        """Besiegers per defender at each besieged capital."""
        t = threat(self.model.state, self.model.params)[0]
        return {self.model.world.names[i]: float(x) for i, x in enumerate(t) if x > 0}
