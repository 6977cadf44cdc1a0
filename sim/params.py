"""Params: every knob of the model in one frozen dataclass, with default, unit, bounds and source.

This is the only place defaults live. Scenario files, sweeps, calibration and the app read names, bounds and
defaults from here (``Params.spec()``), so a knob has one name end to end: the field, its scenario key and its
results column are the same string. All parameters are global: none is fitted per province.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


class ParamsError(ValueError):
    """An unknown parameter, a wrong type or a value out of bounds."""


def knob(default, unit: str, lo=None, hi=None, source: str = "", group: str = ""):
    """A numeric parameter with its unit, bounds (inclusive) and the evidence or reason for its default."""
    return field(default=default, metadata=dict(unit=unit, lo=lo, hi=hi, source=source, group=group))


def switch(source: str):
    """A mechanism switch: True runs the mechanism, False turns it off."""
    return field(default=True, metadata=dict(unit="on/off", lo=None, hi=None, source=source, group="switches"))


@dataclass(frozen=True)
class Params:
    # ---- mechanism switches (each rule can be turned off) --------------------------------------------------------
    rural_expansion: bool = switch("mechanism 1: districts fall to the Taliban over time")
    road_interdiction: bool = switch("mechanism 2: roads are cut as the country around them is lost")
    supply_isolation: bool = switch("mechanism 3: garrisons cut off from Kabul lose strength and morale")
    air_support: bool = switch("mechanism 4: national air capacity, following the withdrawal timeline")
    siege_assault: bool = switch("mechanism 5: Taliban mass against capitals and assault them")
    morale_cascade: bool = switch("mechanism 6: each fall lowers morale nationally and in neighbouring provinces")
    prison_breaks: bool = switch("mechanism 7: a captured capital frees prisoners who join the attackers")
    centre_collapse: bool = switch("mechanism 8: when Kabul falls the remaining capitals give up, save hold-outs")

    # ---- forces --------------------------------------------------------------------------------------------------
    andsf_strength: float = knob(
        175_000, "persons", 100_000, 300_000,
        "timeline.md s4: actual ANDSF fighting strength 150,000-200,000 (secondary estimate); 300,699 on paper (SIGAR)",
        "forces")
    kabul_garrison_share: float = knob(
        0.20, "share of andsf_strength", 0.05, 0.5,
        "assumption: the 111th Capital Division, the 201st Corps and the capital's police; no per-province figure found",
        "forces")
    corps_hq_bonus: float = knob(
        1.0, "relative weight", 0.0, 3.0,
        "assumption: a province with an ANA corps HQ (provinces.csv ana_corps_hq) gets (1 + bonus) times the garrison "
        "weight its population gives", "forces")
    garrison_population_exponent: float = knob(
        0.5, "dimensionless", 0.0, 1.0,
        "assumption: garrison weight ~ population^exponent (0 = equal garrisons, 1 = proportional to population)",
        "forces")
    taliban_strength: float = knob(
        75_000, "fighters", 50_000, 120_000,
        "timeline.md s4: US estimate 75,000; UN Monitoring Team 58,000-100,000 (June 2021)", "forces")
    taliban_recruitment_rate: float = knob(
        0.002, "1/day", 0.0, 0.01,
        "assumption: UN S/2021/486 reports steady recruitment; 0.2 %/day is +29 % over May-September", "forces")

    # ---- where the Taliban attack (targeting rule: log-attractiveness weights) -----------------------------------
    target_north_weight: float = knob(
        1.0, "log-weight", -2.0, 3.0,
        "STRATEGY.md s2: a push in the non-Pashtun north to pre-empt a new Northern Alliance (Reuters 22 Jun, "
        "AAN 2 Jul and mid-July 2021)", "targeting")
    target_crossing_weight: float = knob(
        0.7, "log-weight", -2.0, 3.0,
        "STRATEGY.md s3: border crossings and customs revenue (WSJ ~5 Jul, BBC 9 Jul, AAN mid-July 2021)", "targeting")
    target_east_weight: float = knob(
        -0.5, "log-weight", -3.0, 2.0,
        "STRATEGY.md s2: AAN mid-July 2021, 'an avoidance so far ... of eastern areas which border Pakistan' "
        "(regions Eastern and South Eastern)", "targeting")
    target_momentum_weight: float = knob(
        1.0, "log-weight per unit control", 0.0, 4.0,
        "STRATEGY.md s1: rural districts first, then surround the capitals (LWJ May 2021; UN envoy 22 Jun 2021): "
        "effort follows the ground already held", "targeting")
    target_holdout_weight: float = knob(
        0.0, "log-weight", -4.0, 2.0,
        "PROVINCES.md s7 and STRATEGY.md s2: the 1996-2001 hold-outs (Panjshir, Badakhshan) were not avoided: "
        "'by focusing on Badakhshan ... the Taliban are trying to eliminate the core of any opposition' (4 Jul "
        "2021, UNCONFIRMED author); 0 = no preference either way, their resilience is in morale_holdout_bonus",
        "targeting")

    # ---- mechanism 1: rural expansion -----------------------------------------------------------------------------
    initial_control_share: float = knob(
        0.18, "share of districts", 0.0, 0.5,
        "LWJ: 73 districts Taliban-controlled before 1 May 2021, 73/399 = 0.18 (district_control.csv)", "rural")
    surrounded_initial_control: float = knob(
        0.5, "share of districts", 0.0, 0.9,
        "DIA via Lead IG (FDD 19 May 2021): Pul-i-Khumri, Kunduz, Kandahar, Lashkar Gah and Tarin Kot 'surrounded' "
        "in Feb 2021; the share itself is an assumption", "rural")
    rural_rate: float = knob(
        0.15, "1/day", 0.0, 0.5,
        "scale of the district hazard; the LWJ series (73 -> 106 -> 204 -> 224 districts) is its target; default from the aggregate-timing search (tools/tune_timing.py)", "rural")
    rural_neighbour_boost: float = knob(
        1.0, "dimensionless", 0.0, 5.0,
        "STRATEGY.md s1: districts fall faster next to Taliban-held ground; the size is an assumption", "rural")
    rural_morale_exponent: float = knob(
        3.2, "dimensionless", 0.0, 5.0,
        "STRATEGY.md s4: districts fell through negotiated surrenders of low-morale posts (NYT 27 May 2021); "
        "district hazard ~ (1 - morale)^exponent, an assumption; default from the aggregate-timing search (tools/tune_timing.py)", "rural")

    # ---- mechanism 2: road interdiction ---------------------------------------------------------------------------
    road_cut_rate: float = knob(
        0.011, "1/day per 100 km", 0.0, 0.2,
        "assumption: daily chance a link is cut when the country at both ends is Taliban-held, per 100 km of road; default from the aggregate-timing search (tools/tune_timing.py)",
        "roads")
    poor_road_cut_multiplier: float = knob(
        2.0, "dimensionless", 1.0, 5.0,
        "assumption: poor or seasonal roads (roads.csv quality = poor) are easier to close", "roads")
    road_reopen_rate: float = knob(
        0.02, "1/day", 0.0, 0.2,
        "assumption: the government reopens a cut link between two held capitals, scaled by its own ground", "roads")

    # ---- mechanism 3: supply and isolation ------------------------------------------------------------------------
    isolation_attrition_rate: float = knob(
        0.01, "1/day", 0.0, 0.1,
        "assumption: an isolated garrison loses 1 %/day of its strength (no resupply, no reinforcement)", "supply")
    isolation_morale_rate: float = knob(
        0.002, "morale/day", 0.0, 0.1,
        "assumption; SIGAR names isolation and failed resupply among the causes of the collapse; default from the aggregate-timing search (tools/tune_timing.py)", "supply")

    # ---- mechanism 4: air support ---------------------------------------------------------------------------------
    aaf_strikes_per_day: float = knob(
        16.0, "strikes/day", 0.0, 60.0,
        "timeline.md s5: Afghan government claim of 491 AAF attacks in the month to 29 Jun 2021 (~16/day)", "air")
    us_strikes_per_day: float = knob(
        8.0, "strikes/day", 0.0, 40.0,
        "assumption: far below the 2019 rate of ~20/day (7,423 strikes, SIGAR), cut sharply after the Doha deal",
        "air")
    us_air_after_bagram: float = knob(
        0.5, "share", 0.0, 1.0,
        "assumption: over-the-horizon US air support after the Bagram handover (2 Jul) until the mission ends (31 Aug)",
        "air")
    aaf_contractor_dependence: float = knob(
        0.65, "dimensionless", 0.0, 1.0,
        "SIGAR: AC-208 readiness 93 % -> 63 % as contractors fell 17,000 -> 7,800; "
        "readiness = 1 - dependence x (1 - contractors/April contractors) gives 0.65", "air")
    strikes_per_capital: float = knob(
        4.0, "strikes/day", 1.0, 20.0,
        "assumption: strikes a day needed to cover one threatened capital fully", "air")
    air_defence_multiplier: float = knob(
        1.0, "dimensionless", 0.0, 5.0,
        "assumption: a fully covered garrison fights as (1 + multiplier) times its strength", "air")

    # ---- mechanism 5: siege and assault ---------------------------------------------------------------------------
    siege_threshold: float = knob(
        0.6, "share of districts", 0.2, 1.0,
        "STRATEGY.md s1: capitals are besieged once the surrounding districts are taken; the share is an assumption",
        "siege")
    held_capital_control_cap: float = knob(
        0.8, "share of districts", 0.5, 1.0,
        "assumption: while its capital holds, the capital's own district and its approaches stay contested, so "
        "Taliban control of a province saturates below 1 (LWJ 27 Jul: 224 of 421 held, 110 contested)", "rural")
    siege_force_share: float = knob(
        0.5, "share", 0.05, 1.0,
        "assumption: share of the Taliban effort in a province that masses against its capital during a siege",
        "siege")
    campaign_gate_progress: float = knob(
        0.95, "share of withdrawal", 0.0, 1.0,
        "STRATEGY.md s1 and s4: UN envoy 22 Jun 2021, the Taliban positioned to take the capitals 'once foreign "
        "forces are fully withdrawn'; Mujahid 5 Jul: districts and highways first. No capital is assaulted or "
        "handed over before the withdrawal reaches this share (0.95: reported more than 95 % on 29 Jul); hand-tuned",
        "siege")
    assault_rate: float = knob(
        0.15, "1/day", 0.0, 1.0,
        "hand-tuned: the highest daily chance that an assault succeeds; half of it at a force ratio of "
        "assault_ratio_half", "siege")
    assault_ratio_half: float = knob(
        1.5, "attackers per effective defender", 0.2, 10.0,
        "assumption: the classic 3:1 attacker advantage halved for demoralised, often hollow garrisons", "siege")

    # ---- mechanism 6: morale cascade ------------------------------------------------------------------------------
    morale_initial: float = knob(0.7, "morale (0-1)", 0.2, 1.0, "assumption", "morale")
    morale_holdout_bonus: float = knob(
        0.3, "morale (0-1)", 0.0, 0.6,
        "PROVINCES.md s7: areas held against the Taliban in 2001 (yes: full bonus, partly: half)", "morale")
    morale_power_broker_bonus: float = knob(
        0.05, "morale (0-1)", 0.0, 0.3,
        "PROVINCES.md: power brokers' militias (Atta Noor, Ismail Khan, Dostum); reported to carry little", "morale")
    withdrawal_morale_drop: float = knob(
        0.26, "morale (0-1)", 0.0, 0.6,
        "SIGAR (May 2022): the withdrawal decision was 'the single most important factor' in the collapse; "
        "morale falls by this much as the withdrawal completes; default from the aggregate-timing search (tools/tune_timing.py)", "morale")
    siege_morale_rate: float = knob(0.005, "morale/day", 0.0, 0.1, "assumption: a besieged garrison's morale erodes; default from the aggregate-timing search (tools/tune_timing.py)",
                                    "morale")
    cascade_national: float = knob(
        0.019, "morale per fall", 0.0, 0.1,
        "STRATEGY.md s5: the corps collapses demoralised forces nationally (AP 14 Aug, AAN 14 Aug); default from the aggregate-timing search (tools/tune_timing.py)", "morale")
    cascade_neighbour: float = knob(
        0.09, "morale per fall", 0.0, 0.3,
        "assumption: a fall next door (road neighbour) hits harder than a fall far away; default from the aggregate-timing search (tools/tune_timing.py)", "morale")
    surrender_threshold: float = knob(
        0.16, "morale (0-1)", 0.0, 0.8,
        "capitals.csv: 13 of 34 capitals surrendered and 6 were negotiated: below this morale a besieged or isolated "
        "garrison gives up; default from the aggregate-timing search (tools/tune_timing.py)",
        "morale")
    encircled_share: float = knob(
        0.5, "share of road neighbours", 0.0, 1.0,
        "assumption: a garrison with this share of its neighbouring capitals fallen counts as pressed (encircled) "
        "even if not besieged: how Kabul, with all its approaches lost, gave up on 15 Aug", "morale")
    surrender_rate: float = knob(
        0.27, "1/day", 0.0, 1.0, "daily chance a pressed garrison below the threshold gives up; default from the aggregate-timing search (tools/tune_timing.py)", "morale")

    # ---- mechanism 7: prison breaks -------------------------------------------------------------------------------
    prisoners_per_capital: float = knob(
        170.0, "persons", 0.0, 2000.0,
        "timeline.md s6: ~1,000 prisoners freed from the first six capitals taken (TOLOnews 11 Aug)", "prisons")
    prisoner_join_share: float = knob(0.5, "share", 0.0, 1.0, "assumption: half the freed prisoners take up arms",
                                      "prisons")

    # ---- mechanism 8: collapse of the centre ----------------------------------------------------------------------
    post_kabul_surrender_rate: float = knob(
        0.6, "1/day", 0.0, 1.0,
        "capitals.csv: Parun and others handed over 'when news came that the republic had collapsed in Kabul'",
        "centre")
    holdout_assault_factor: float = knob(
        0.3, "dimensionless", 0.0, 1.0,
        "assumption: hold-outs (held in 2001) fight on after Kabul; their assault chance is scaled by this "
        "(Panjshir fell on 6 Sep, three weeks after Kabul)", "centre")

    # ------------------------------------------------------------------------------------------------------------
    def __post_init__(self):
        self.validate()

    @classmethod
    def spec(cls) -> dict[str, dict[str, Any]]:
        """Name -> {default, type, unit, lo, hi, source, group}: the one description every other layer reads."""
        out = {}
        for f in fields(cls):
            out[f.name] = dict(default=f.default, type=type(f.default).__name__, **f.metadata)
        return out

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def validate(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(v, bool):
                    raise ParamsError(f"parameter '{f.name}' must be true or false, got {v!r}")
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ParamsError(f"parameter '{f.name}' must be a number, got {v!r}")
            lo, hi = f.metadata["lo"], f.metadata["hi"]
            if not (lo <= v <= hi) or v != v:
                raise ParamsError(
                    f"parameter '{f.name}' = {v} is out of bounds: allowed {lo} to {hi} {f.metadata['unit']}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "parameters") -> "Params":
        unknown = sorted(set(values) - set(cls.names()))
        if unknown:
            raise ParamsError(f"{where}: unknown parameter(s) {unknown}; allowed: {', '.join(cls.names())}")
        return cls(**values)

    def replace(self, **changes) -> "Params":
        return self.from_dict({**self.to_dict(), **changes})

    def changed(self) -> dict[str, Any]:
        """The parameters that differ from their defaults."""
        base = Params()
        return {k: v for k, v in self.to_dict().items() if getattr(base, k) != v}
