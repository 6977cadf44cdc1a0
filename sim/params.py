"""Params: every knob of the model in one frozen dataclass, with default, unit, bounds, provenance and source.

This is the only place defaults live. Scenario files, sweeps, calibration and the app read names, bounds and
defaults from here (``Params.spec()``), so a knob has one name end to end: the field, its scenario key and its
results column are the same string. All parameters are global: none is fitted per province.

Every default is a *prior*: set from sources published before the withdrawal began (1 May 2021), or from first
principles, and never tuned on, or justified by, what happened after. Each field says so in its metadata:
``provenance`` is "prior" (its source names the dated evidence, or says "first principles:" and the reason) or
"fitted" (its source names the data it was fitted on and the cut-off date). A later report may be kept in a source
for context only when its clause is marked "(after 1 May 2021: not used for the default)". Fitted sets come from
`python run.py calibrate --fit-until D`, never from here; ``TUNED_2021`` below keeps the old, fitted defaults as
a record.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

PROVENANCES = ("prior", "fitted")
# The phrase that keeps a later source in a default's text for context only (tests/test_params.py checks it).
LATER_SOURCE = "(after 1 May 2021: not used for the default)"


class ParamsError(ValueError):
    """An unknown parameter, a wrong type or a value out of bounds."""


def knob(default, unit: str, lo=None, hi=None, source: str = "", group: str = "", *, provenance: str):
    """A numeric parameter with its unit, bounds (inclusive), provenance ("prior" or "fitted") and the evidence or
    reason for its default."""
    return field(default=default, metadata=dict(unit=unit, lo=lo, hi=hi, provenance=provenance, source=source,
                                                group=group))


def switch(source: str, *, provenance: str = "prior", default: bool = True):
    """A mechanism switch: True runs the mechanism, False turns it off. A structural choice: its provenance is that
    of the mechanism (documented before 1 May 2021, or first principles). A mechanism that has not earned its place
    in `python run.py validate` ships off (default=False)."""
    return field(default=default, metadata=dict(unit="on/off", lo=None, hi=None, provenance=provenance, source=source,
                                             group="switches"))


@dataclass(frozen=True)
class Params:
    # ---- mechanism switches (each rule can be turned off) --------------------------------------------------------
    rural_expansion: bool = switch(
        "mechanism 1: districts fall to the Taliban over time. The Taliban would 'keep military pressure' on the "
        "security forces 'in rural areas' and 'expand their control and influence' (CNA's independent assessment "
        "for Congress, Jan 2014); LWJ has mapped their districts since Oct 2015")
    road_interdiction: bool = switch(
        "mechanism 2: roads are cut as the country around them is lost, as the Kandahar-Lashkar Gah road was in the "
        "offensive on Lashkar Gah (LWJ, 20 Oct 2020)")
    supply_isolation: bool = switch(
        "mechanism 3: garrisons cut off from Kabul lose strength and morale. First principles: an isolated garrison "
        "gets no resupply, reinforcement or relief; Lashkar Gah was cut off by road in Oct 2020 (LWJ, 20 Oct 2020)")
    air_support: bool = switch(
        "mechanism 4: national air capacity, following the withdrawal timeline. Coalition close air support was "
        "'essential to keeping Taliban forces at bay' (UN Monitoring Team, S/2020/415, May 2020); the Afghan Air "
        "Force depends on US contractors (SIGAR, Mar 2021)")
    siege_assault: bool = switch(
        "mechanism 5: Taliban mass against capitals and assault them: they would 'encircle key cities' (CNA, "
        "Jan 2014), and took Kunduz on 28 Sep 2015 (AP) and stormed Lashkar Gah in Oct 2020 (AP, 12 Oct 2020)")
    morale_cascade: bool = switch(
        "mechanism 6: each fall lowers morale nationally and in neighbouring provinces, and pressed, demoralised "
        "garrisons give up. Kunduz fell to 'hundreds of insurgents' within a day (AP, 28 Sep 2015); the size of "
        "each effect is in its own parameter. The 2021 reports of corps collapsing one after another are why "
        "the cascade is modelled (after 1 May 2021: not used for the default)")
    corps_cascade: bool = switch(
        "mechanism 6b: a fall inside an ANA corps area lowers the morale of every garrison in that corps area, and "
        "the fall of the corps' headquarters city lowers it more: the corps is the unit that relieves, supplies "
        "and commands its provinces (the seven corps and the 111th Capital Division, data/province_covariates.csv "
        "ana_corps, from sources dated 2009-2020). On: with the dated shocks on, it earned its place in python run.py "
        "validate (docs/ODD.md, mechanism 6b)")
    negotiated_handover: bool = switch(
        "mechanism 9: a capital can be handed over in a deal brokered through elders, whatever its garrison's "
        "morale: the Taliban 'negotiated with local commanders and elders rather than assaulting where they could' "
        "(A. Giustozzi, The Taliban at War, 2019). With it on, a give-up is a surrender (out of supplies or hope) "
        "and 'negotiated' means a deal. Off by default until python run.py validate shows it earns its place",
        default=False)
    holdout_surrender: bool = switch(
        "mechanism 6c: the hold-outs of 2001 (Panjshir, Badakhshan) can give up before Kabul falls, like any "
        "pressed garrison whose morale is below surrender_threshold; they keep their higher starting morale "
        "(morale_holdout_bonus). First principles: no garrison is immune to giving up, and the 2001 record "
        "(never taken while Kabul was Taliban-held) is about after the centre fell, which centre_collapse keeps; "
        "the question was raised by Faizabad's fall on 11 Aug 2021, so the mechanism ships off "
        "(after 1 May 2021: not used for the default)",
        default=False)
    supply_stocks: bool = switch(
        "mechanism 10: each garrison holds stocks of supplies and pay (in days) that run down while it is cut off "
        "from Kabul, faster for the police, and refill once it is reconnected; a pressed garrison out of stocks "
        "surrenders whatever its morale. First principles: a cut-off garrison surrenders when it runs out, not only "
        "when it loses heart (Lashkar Gah was cut off by road in Oct 2020, LWJ 20 Oct 2020); the reports of outposts "
        "out of ammunition and police unpaid for months (NYT, May 2021) are why the mechanism is on trial (after "
        "1 May 2021: not used for the default). Off until python run.py validate shows it earns its place",
        default=False)
    air_logistics: bool = switch(
        "mechanism 4b: the Afghan Air Force's transport sorties, as ready as its contractors allow, resupply cut-off "
        "garrisons (slowing the run-down of their stocks, supply_stocks) and evacuate the wounded of besieged ones "
        "(slowing their loss of morale). SIGAR (Mar 2021): contractors do 100 % of the C-130 and UH-60 maintenance; "
        "air power's channels beyond strikes (SIGAR 22-22-IP, May 2022) are why the mechanism exists (after "
        "1 May 2021: not used for the default). On: the what-ifs on contractors and the withdrawal need it to act "
        "through their documented channel, and it did not worsen python run.py validate (docs/ODD.md, mechanism 4b)")
    dated_shocks: bool = switch(
        "mechanism 11: morale falls with dated national shocks, each an input known from the day it was "
        "reported: the replacement of the defence and interior ministers and the army chief (data/events.csv "
        "security_chiefs_replaced), and the loss of the customs revenue that pays the forces as border crossings "
        "are taken (data/province_covariates.csv first_crossing_taken_on where reported before the start, else "
        "when the model's control of a crossing province passes crossing_loss_control). First principles: pay "
        "and command are what hold a garrison together; the post-mortems naming these shocks are why the "
        "mechanism exists (after 1 May 2021: not used for the default). On: it earned its place in python run.py "
        "validate (docs/ODD.md, mechanism 11)")
    commando_reserve: bool = switch(
        "mechanism 12: the commandos are a national reserve sent each day to the most threatened besieged capital, "
        "where they add to its defence, and are worn down while they fight. First principles: the ANA Special "
        "Operations Corps is the army's national reserve; its use as a fire brigade worn down by early August "
        "(AFP, 4 Aug 2021) is why the mechanism is on trial (after 1 May 2021: not used for the default). Off until "
        "python run.py validate shows it earns its place", default=False)
    prison_breaks: bool = switch(
        "mechanism 7: a captured capital frees prisoners who join the attackers (Kunduz, 28 Sep 2015: more than "
        "600 freed, AP)")
    centre_collapse: bool = switch(
        "mechanism 8: when Kabul falls the remaining capitals give up, save hold-outs: in Nov 2001 the cities the "
        "Taliban still held after losing Kabul gave up within weeks, and in 1996-2001 the hold-outs were never "
        "taken (US State Dept human-rights reports for 2000 and 2001)")

    # ---- forces --------------------------------------------------------------------------------------------------
    andsf_strength: float = knob(
        175_000, "persons", 100_000, 300_000,
        "IISS Military Balance 2021 (Feb 2021): army 171,500 and air force 7,300; the ~300,000 on the ANDSF rolls "
        "(SIGAR quarterly reports) count ghost soldiers (in 2016 an Afghan official told SIGAR the real number was "
        "'closer to 120,000' against 319,595 reported: Fast Company, 2016)", "forces", provenance="prior")
    kabul_garrison_share: float = knob(
        0.20, "share of andsf_strength", 0.05, 0.5,
        "first principles: Kabul holds the 111th Capital Division, a corps and the capital's police, and about a "
        "sixth of the people (data/province_covariates.csv): a fifth of the force; no per-province figure was found",
        "forces", provenance="prior")
    corps_hq_bonus: float = knob(
        1.0, "relative weight", 0.0, 3.0,
        "first principles: a province with an ANA corps HQ (data/province_covariates.csv has_corps_hq) holds the "
        "corps' own units besides its share: (1 + bonus) times the garrison weight its population gives",
        "forces", provenance="prior")
    garrison_population_exponent: float = knob(
        0.5, "dimensionless", 0.0, 1.0,
        "first principles: garrison weight ~ population^exponent, halfway between equal garrisons (0) and "
        "garrisons proportional to population (1)", "forces", provenance="prior")
    taliban_strength: float = knob(
        75_000, "fighters", 50_000, 120_000,
        "between US officials' 'at least 60,000' (NBC News, Feb 2018) and the UN Monitoring Team's ~100,000 "
        "fighters, facilitators and non-combatants (S/2019/481, Jun 2019)", "forces", provenance="prior")
    taliban_recruitment_rate: float = knob(
        0.00075, "1/day", 0.0, 0.01,
        "US officials via NBC News (Feb 2018): about 20,000 fighters in 2014, at least 60,000 in 2018, tripled in "
        "four years: ln 3 / 1,461 days = 0.075 %/day. The model counts no Taliban losses, so this is net growth",
        "forces", provenance="prior")

    # ---- where the Taliban attack (targeting rule: log-attractiveness weights) -----------------------------------
    target_north_weight: float = knob(
        0.0, "log-weight", -2.0, 3.0,
        "first principles: no source before the withdrawal sizes a preference for the non-Pashtun north (the "
        "largest block of insurgent-held districts lay in Helmand, Kandahar, Uruzgan and Zabul: SIGAR, Jan 2017; "
        "Kunduz was taken in Sep 2015); 0 = no preference; the northern push reported from "
        "June 2021 is why the term exists (after 1 May 2021: not used for the default)", "targeting",
        provenance="prior")
    target_crossing_weight: float = knob(
        0.0, "log-weight", -2.0, 3.0,
        "first principles: no source before the withdrawal shows the Taliban choosing provinces for their border "
        "crossings; 0 = no preference; the crossings taken from June 2021 and the reports on their customs revenue "
        "are why the term exists (after 1 May 2021: not used for the default)", "targeting", provenance="prior")
    target_east_weight: float = knob(
        0.0, "log-weight", -3.0, 2.0,
        "first principles: no source before the withdrawal shows the Taliban sparing the eastern provinces on the "
        "Pakistan border (regions Eastern and South Eastern); 0 = no preference; the term comes from an AAN "
        "analysis of mid-July 2021 (after 1 May 2021: not used for the default)", "targeting", provenance="prior")
    target_momentum_weight: float = knob(
        1.0, "log-weight per unit control", 0.0, 4.0,
        "the Taliban would 'expand their control and influence' in the countryside and 'encircle key cities' (CNA, "
        "Jan 2014), as they did around Kunduz (taken 28 Sep 2015) and Lashkar Gah (LWJ, 20 Oct 2020): effort "
        "follows the ground held. Its size is first principles: a unit log-weight (a province fully held draws e "
        "times the effort per district of one not held at all)", "targeting", provenance="prior")
    target_holdout_weight: float = knob(
        0.0, "log-weight", -4.0, 2.0,
        "first principles: no source before the withdrawal shows the Taliban seeking out or avoiding the areas held "
        "against them in 1996-2001 (Panjshir, Badakhshan); 0 = no preference; their resilience is in "
        "morale_holdout_bonus", "targeting", provenance="prior")

    # ---- mechanism 1: rural expansion -----------------------------------------------------------------------------
    initial_control_share: float = knob(
        0.19, "share of districts", 0.0, 0.5,
        "LWJ's district map in mid-April 2021: 77 districts Taliban-controlled of ~400, 0.19 (the map was public "
        "then; its earliest dated copy is later: data/district_control.csv)", "rural", provenance="prior")
    surrounded_initial_control: float = knob(
        0.5, "share of districts", 0.0, 0.9,
        "first principles: a capital reported 'surrounded' is read as besieged, its province holding the majority of "
        "districts siege_threshold asks for (0.5); which capitals: data/province_covariates.csv surrounded_feb_2021, "
        "the DIA's February 2021 state as the Lead IG published it in May 2021 (after 1 May 2021: not used for the "
        "default)", "rural", provenance="prior")
    rural_rate: float = knob(
        0.0105, "1/day", 0.0, 0.5,
        "two dated anchors, solved together with rural_morale_exponent (neighbours alike, the Taliban's strength "
        "held at its May level): before the withdrawal (morale_initial, 0.19 held) LWJ's count rose by ~10 "
        "districts a year (41 in Sep 2017, 77 in mid-April 2021: 0.025 of 399 a year); after it (morale lower by "
        "withdrawal_morale_drop) the Taliban 'could overrun most of Afghanistan within two to three years' (US "
        "intelligence via the NYT, 26 Mar 2021): half the districts in 2.5 years", "rural", provenance="prior")
    rural_neighbour_boost: float = knob(
        1.0, "dimensionless", 0.0, 5.0,
        "first principles: control spreads from the ground already held (CNA, Jan 2014); at full neighbour control "
        "the district hazard doubles (a unit effect)", "rural", provenance="prior")
    rural_morale_exponent: float = knob(
        3.9, "dimensionless", 0.0, 5.0,
        "district hazard ~ (1 - morale)^exponent; the exponent is the second unknown of rural_rate's two anchors: "
        "the withdrawal's morale drop must raise the pace from ~10 districts a year (LWJ, Sep 2017 to mid-April "
        "2021) to most of the country in 2-3 years (US intelligence via the NYT, 26 Mar 2021): "
        "(0.475/0.3)^3.9 = 6", "rural", provenance="prior")
    rural_rate_spread: float = knob(
        0.69, "s.d. of log", 0.0, 1.5,
        "first principles: rural_rate rests on one assessment of the pace once the withdrawal is done ('two to "
        "three years', US intelligence via the NYT, 26 Mar 2021) and on how far the withdrawal lowers morale "
        "(withdrawal_morale_drop, itself first principles): the six-fold rise from the pre-withdrawal pace is known "
        "to a factor of about two. Each run draws its own multiplier on the district hazard at the start, lognormal "
        "with median 1 and one s.d. a factor of 2 (ln 2), so runs differ in pace from the start and the LWJ "
        "figures can tell them apart", "rural", provenance="prior")

    # ---- mechanism 2: road interdiction ---------------------------------------------------------------------------
    road_cut_rate: float = knob(
        0.14, "1/day per 100 km", 0.0, 0.2,
        "first principles: with the country at both ends Taliban-held, a 100 km stretch of road is closed within "
        "about a week (1/7 per day); the ~130 km Kandahar-Lashkar Gah road was shut in the first days of the "
        "offensive on Lashkar Gah (LWJ, 20 Oct 2020)", "roads", provenance="prior")
    poor_road_cut_multiplier: float = knob(
        2.0, "dimensionless", 1.0, 5.0,
        "first principles: poor or seasonal roads (data/roads.csv quality = poor) are slower to clear and have no "
        "alternative: twice as easy to close", "roads", provenance="prior")
    road_reopen_rate: float = knob(
        0.02, "1/day", 0.0, 0.2,
        "first principles: reopening a cut road takes a planned clearing operation, about one in 50 days while "
        "the government holds the country at both ends (scaled by its share of it)", "roads", provenance="prior")

    # ---- mechanism 3: supply and isolation ------------------------------------------------------------------------
    isolation_attrition_rate: float = knob(
        0.01, "1/day", 0.0, 0.1,
        "first principles: an isolated garrison, with no resupply, reinforcement or casualty evacuation, loses "
        "1 %/day of its strength (a quarter in a month)", "supply", provenance="prior")
    isolation_morale_rate: float = knob(
        0.0012, "morale/day", 0.0, 0.1,
        "first principles: isolation wears morale down as a siege does; no source before the withdrawal tells "
        "the two apart, so siege_morale_rate's value", "supply", provenance="prior")

    # ---- mechanism 4: air support ---------------------------------------------------------------------------------
    aaf_strikes_per_day: float = knob(
        5.5, "strikes/day", 0.0, 60.0,
        "NATO Air Command-Afghanistan (Maj. Gen. J. Hecker, Feb 2018): the Afghan Air Force carried out more than "
        "2,000 airstrikes in 2017, 5.5 a day; a floor, as its strikes rose in 2020 (Costs of War, N. Crawford, "
        "7 Dec 2020, without a count)", "air", provenance="prior")
    us_strikes_per_day: float = knob(
        8.0, "strikes/day", 0.0, 40.0,
        "first principles: well below 2019's ~20/day (AFCENT: 7,423 weapons released in 2019): after the Doha "
        "agreement (29 Feb 2020) US strikes declined and were limited to the defence of Afghan forces (Costs of "
        "War, 7 Dec 2020), their monthly counts no longer published: two-fifths of 2019's rate", "air",
        provenance="prior")
    us_air_after_bagram: float = knob(
        0.5, "share", 0.0, 1.0,
        "first principles: after the Bagram handover (data/events.csv) US aircraft fly 'over the horizon' from Gulf "
        "bases and carriers, hours away: half the support, until the mission ends", "air", provenance="prior")
    aaf_contractor_dependence: float = knob(
        1.0, "dimensionless", 0.0, 1.0,
        "SIGAR (J. Sopko, Mar 2021): US contractors do 100 % of the maintenance of the AAF's C-130s and UH-60s, "
        "which could fly only a few months without them; readiness = 1 - dependence x (1 - contractors/April "
        "contractors), taken proportional to the contractors left (dependence 1)", "air", provenance="prior")
    strikes_per_capital: float = knob(
        4.0, "strikes/day", 1.0, 20.0,
        "first principles: covering one threatened capital for a day takes about four strikes (one every few "
        "daylight hours)", "air", provenance="prior")
    air_defence_multiplier: float = knob(
        1.0, "dimensionless", 0.0, 5.0,
        "first principles: full air cover doubles a garrison's effective strength ((1 + multiplier) times)", "air",
        provenance="prior")

    # ---- mechanism 5: siege and assault ---------------------------------------------------------------------------
    siege_threshold: float = knob(
        0.5, "share of districts", 0.2, 1.0,
        "first principles: a capital is besieged once the Taliban hold the majority of its province's districts "
        "(rural control first, then 'encircle key cities': CNA, Jan 2014)", "siege", provenance="prior")
    held_capital_control_cap: float = knob(
        0.8, "share of districts", 0.5, 1.0,
        "first principles: while its capital holds, the capital's own district and the approaches to it (about two "
        "of a province's ~12 districts) stay contested, so Taliban control of a province saturates at about 0.8",
        "rural", provenance="prior")
    siege_force_share: float = knob(
        0.5, "share", 0.05, 1.0,
        "first principles: half the Taliban effort in a besieged province masses against the capital, the other "
        "half holds the districts", "siege", provenance="prior")
    campaign_gate_progress: float = knob(
        0.0, "share of withdrawal", 0.0, 1.0,
        "no gate (0): under the Doha agreement the Taliban still attacked provincial capitals while US forces were "
        "there (SIGAR, 30 Jul 2020: attacks 'at several sites in provincial capitals'; Lashkar Gah, AP 12 Oct "
        "2020), so nothing published before the withdrawal shows them waiting for it: capitals may be assaulted or "
        "handed over from the first day, as force ratio, air cover and morale allow; the statements of Jun-Jul "
        "2021 that capitals would wait for the withdrawal are why the gate exists (after 1 May 2021: not used for "
        "the default)", "siege", provenance="prior")
    assault_rate: float = knob(
        0.5, "1/day", 0.0, 1.0,
        "first principles: at overwhelming odds an assault takes a city within about two days (Kunduz, 28 Sep "
        "2015: the Taliban reached the main square within 12 hours, AP): the highest daily chance of success; half "
        "of it at a force ratio of assault_ratio_half", "siege", provenance="prior")
    assault_ratio_half: float = knob(
        3.0, "attackers per effective defender", 0.2, 10.0,
        "first principles: the classic 3:1 rule for the attacker; ghost soldiers are already out of andsf_strength "
        "and morale is already in the defence (0.5 + morale), so it is not lowered for hollow garrisons", "siege",
        provenance="prior")

    # ---- mechanism 6: morale cascade ------------------------------------------------------------------------------
    morale_initial: float = knob(
        0.7, "morale (0-1)", 0.2, 1.0,
        "first principles: the anchor of the morale scale, a garrison willing to fight but short of full; the "
        "other morale parameters are sized against it and surrender_threshold", "morale", provenance="prior")
    morale_holdout_bonus: float = knob(
        0.3, "morale (0-1)", 0.0, 0.6,
        "first principles: the areas the Taliban never took in 1996-2001 (Panjshir and Faizabad: US State Dept "
        "human-rights reports for 2000 and 2001; data/province_covariates.csv) start at full morale (0.7 + 0.3); "
        "provinces held in part get half", "morale", provenance="prior")
    morale_power_broker_bonus: float = knob(
        0.05, "morale (0-1)", 0.0, 0.3,
        "first principles: a power broker's militia (data/province_covariates.csv has_power_broker) is small beside "
        "the garrison and its effect on the garrison's will was never measured: a small bonus, a sixth of the "
        "hold-outs'", "morale", provenance="prior")
    withdrawal_morale_drop: float = knob(
        0.175, "morale (0-1)", 0.0, 0.6,
        "first principles on dated assessments: the withdrawal weakens the garrisons but does not by itself break "
        "them (coalition air support kept 'Taliban forces at bay', UN S/2020/415, May 2020; most of the country "
        "lost in two to three years, not at once: US intelligence via the NYT, 26 Mar 2021); it takes a garrison "
        "half-way from morale_initial to surrender_threshold, (0.7 - 0.35) / 2, as the withdrawal completes",
        "morale", provenance="prior")
    siege_morale_rate: float = knob(
        0.0012, "morale/day", 0.0, 0.1,
        "a siege spends what morale the withdrawal leaves above surrender_threshold (0.175) in about five months, "
        "as Kunduz, assaulted in the spring and pressed from then on, fell on 28 Sep 2015 (The Independent, "
        "28 Sep 2015): 0.175 / 150 days", "morale", provenance="prior")
    cascade_national: float = knob(
        0.0053, "morale per fall", 0.0, 0.1,
        "first principles: the fall of every other capital would spend what morale the withdrawal leaves above "
        "surrender_threshold, 0.175 / 33; one fall alone moves little, as when Kunduz fell in Sep 2015 and no other "
        "capital followed", "morale", provenance="prior")
    cascade_neighbour: float = knob(
        0.074, "morale per fall", 0.0, 0.3,
        "first principles: the fall of all its road neighbours (2.35 on average, data/roads.csv) would spend what "
        "morale the withdrawal leaves above surrender_threshold: 0.175 / 2.35", "morale", provenance="prior")
    deal_rate: float = knob(
        0.033, "1/day", 0.0, 0.5,
        "first principles: a capital whose surroundings are held up to held_capital_control_cap, with the "
        "withdrawal complete, is talked round within about a month (1/30 a day); the hazard scales with the "
        "surroundings held and the withdrawal's progress (negotiated_handover only)", "deals", provenance="prior")
    deal_control_exponent: float = knob(
        2.0, "dimensionless", 0.0, 5.0,
        "first principles: elders broker a hand-over once the countryside is the Taliban's: the hazard grows as "
        "the square of the share held (relative to held_capital_control_cap), small while it is contested "
        "(negotiated_handover only)", "deals", provenance="prior")
    deal_contagion: float = knob(
        1.0, "dimensionless", 0.0, 5.0,
        "first principles: a neighbour that has fallen shows the deal can be had: with every road neighbour fallen "
        "the hazard doubles (a unit effect, as rural_neighbour_boost) (negotiated_handover only)", "deals",
        provenance="prior")
    deal_broker_reduction: float = knob(
        0.5, "share", 0.0, 1.0,
        "first principles: a power broker who commits his militia (has_power_broker) halves the chance of a deal "
        "behind his back (negotiated_handover only)", "deals", provenance="prior")
    cascade_corps: float = knob(
        0.051, "morale per fall", 0.0, 0.3,
        "first principles, as cascade_neighbour: the fall of every other capital of its corps area (3.4 others on "
        "average over the 27 provinces that share a corps area, data/province_covariates.csv) would spend what "
        "morale the withdrawal leaves above surrender_threshold: 0.175 / 3.4 (corps_cascade only)", "morale", provenance="prior")
    cascade_corps_hq: float = knob(
        0.0875, "morale per fall", 0.0, 0.5,
        "first principles: the fall of the corps' headquarters city takes its command, depots and reserve: on its "
        "own it spends half of what morale the withdrawal leaves above surrender_threshold (0.175 / 2), on top of "
        "cascade_corps (corps_cascade only)", "morale", provenance="prior")
    surrender_threshold: float = knob(
        0.35, "morale (0-1)", 0.0, 0.8,
        "first principles: a pressed garrison gives up once it has lost half its starting morale "
        "(morale_initial / 2)", "morale", provenance="prior")
    encircled_share: float = knob(
        0.5, "share of road neighbours", 0.0, 1.0,
        "first principles: a garrison with the majority of its neighbouring capitals fallen counts as pressed "
        "(encircled) even if not besieged", "morale", provenance="prior")
    surrender_rate: float = knob(
        0.14, "1/day", 0.0, 1.0,
        "first principles: a pressed garrison below the threshold negotiates its hand-over, through elders, in "
        "about a week (1/7 per day)", "morale", provenance="prior")

    # ---- mechanism 10: stocks of supplies and pay (supply_stocks only) --------------------------------------------
    stock_days: float = knob(
        30.0, "days", 3.0, 180.0,
        "first principles: a provincial capital's depot and pay in hand last about a month without resupply "
        "(supply_stocks only)", "supply", provenance="prior")
    police_share: float = knob(
        0.4, "share of the garrison", 0.0, 1.0,
        "first principles on SIGAR's quarterly counts of the Afghan Personnel and Pay System, where the interior "
        "ministry (police) holds about two-fifths of the rolls; one national share, as no per-province split was "
        "found (supply_stocks only); the count for the end of April 2021, 118,628 of 300,699, was published on "
        "30 Jul 2021 (after 1 May 2021: not used for the default)", "supply", provenance="prior")
    police_drain_multiplier: float = knob(
        2.0, "dimensionless", 1.0, 5.0,
        "first principles: the police are paid and supplied through provincial channels that fail first, so their "
        "stocks run down twice as fast as the army's; a garrison's stocks run down at 1 + police_share x "
        "(multiplier - 1) days a day while cut off (supply_stocks only)", "supply", provenance="prior")
    restock_rate: float = knob(
        3.0, "days of stock per day", 0.0, 30.0,
        "first principles: once reconnected by road, convoys restore a month's stocks in about ten days "
        "(supply_stocks only)", "supply", provenance="prior")
    starved_surrender_rate: float = knob(
        0.14, "1/day", 0.0, 1.0,
        "first principles: a pressed garrison out of supplies and pay surrenders in about a week (1/7 a day), as a "
        "demoralised one gives up (surrender_rate) (supply_stocks only)", "supply", provenance="prior")

    # ---- mechanism 4b: air logistics (air_logistics only) -----------------------------------------------------------
    airlift_per_day: float = knob(
        6.0, "garrisons/day", 0.0, 30.0,
        "first principles: the AAF's ~65 helicopters and transports (33 UH-60, 32 Mi-17, SIGAR's inventory of "
        "1 Oct 2019: 183 aircraft, 158 operational, TOLOnews) fly about one sortie each a day; a cut-off or "
        "besieged capital needs about ten a day for food, ammunition, pay and wounded: six capitals a day at full "
        "readiness, scaled by readiness as strikes are (aaf_contractor_dependence) (air_logistics only)", "air",
        provenance="prior")
    casevac_relief: float = knob(
        0.5, "share", 0.0, 1.0,
        "first principles: full casualty evacuation halves the morale a siege costs a day (siege_morale_rate) "
        "(air_logistics only)", "air", provenance="prior")

    # ---- mechanism 11: dated national shocks (dated_shocks only) ----------------------------------------------------
    shake_up_shock: float = knob(
        0.03, "morale (0-1)", 0.0, 0.3,
        "first principles: replacing the defence and interior ministers and the army chief in the middle of a "
        "campaign costs every garrison a sixth of what the whole withdrawal does (withdrawal_morale_drop / 6), "
        "once, on the day it is reported (dated_shocks only)", "morale", provenance="prior")
    customs_morale_rate: float = knob(
        0.001, "morale/day", 0.0, 0.05,
        "first principles: with every border crossing lost, the customs revenue that pays the forces is gone and "
        "morale falls as under a siege (siege_morale_rate), scaled by the share of the crossing provinces lost "
        "(dated_shocks only)", "morale", provenance="prior")
    crossing_loss_control: float = knob(
        0.5, "share of districts", 0.2, 1.0,
        "first principles: a crossing not yet reported taken is lost once the Taliban hold the majority of its "
        "province's districts, where a capital is besieged (siege_threshold) (dated_shocks only)", "morale",
        provenance="prior")

    # ---- mechanism 12: the commandos (commando_reserve only) ---------------------------------------------------------
    commando_strength: float = knob(
        10_000, "persons", 0.0, 40_000,
        "first principles: the ANA Special Operations Corps is one corps beside seven regular ones, about "
        "andsf_strength / 8 (~20,000), of whom half can be deployed at once; no dated strength was found in the "
        "record (commando_reserve only)", "commandos", provenance="prior")
    commando_quality: float = knob(
        3.0, "garrison soldiers per commando", 1.0, 10.0,
        "first principles: a commando, trained and equipped by US special forces, is worth three garrison soldiers "
        "in the defence (commando_reserve only)", "commandos", provenance="prior")
    commando_wear_rate: float = knob(
        0.02, "1/day", 0.0, 0.2,
        "first principles: a reserve committed to the hardest fight every day loses a fiftieth of its strength a "
        "day to casualties and exhaustion, half in about five weeks (commando_reserve only)", "commandos",
        provenance="prior")

    # ---- mechanism 7: prison breaks -------------------------------------------------------------------------------
    prisoners_per_capital: float = knob(
        600.0, "persons", 0.0, 2000.0,
        "Kunduz, 28 Sep 2015: the Taliban freed more than 600 prisoners (AP via The Independent): the one count "
        "of a captured capital's prison before the withdrawal", "prisons", provenance="prior")
    prisoner_join_share: float = knob(
        0.23, "share", 0.0, 1.0,
        "Kunduz, 28 Sep 2015: 140 of the 600 prisoners freed were Taliban (AP): the share taken to join the "
        "attackers", "prisons", provenance="prior")

    # ---- mechanism 8: collapse of the centre ----------------------------------------------------------------------
    post_kabul_surrender_rate: float = knob(
        0.14, "1/day", 0.0, 1.0,
        "first principles: once Kabul has fallen every garrison is pressed and cut off from pay and command, and "
        "gives up as a pressed, demoralised one does (surrender_rate, 1/7 per day), as the cities the Taliban "
        "still held after losing Kabul on 13 Nov 2001 gave up within one to four weeks (Kunduz on 26 Nov 2001, "
        "Kandahar on 7 Dec 2001); the hand-overs after Kabul fell in 2021 are why the mechanism exists (after 1 May 2021: not "
        "used for the default)", "centre", provenance="prior")
    holdout_assault_factor: float = knob(
        0.0, "dimensionless", 0.0, 1.0,
        "the 1996-2001 record: the Taliban, holding Kabul, never took the Panjshir valley or Faizabad in five "
        "years (US State Dept human-rights reports for 2000 and 2001): after Kabul falls the hold-outs' assault "
        "chance is scaled by 0", "centre", provenance="prior")

    # ---- seeding a later start (sim/seeding.py): how the replicates are weighed by what was observed --------------
    lwj_share_error: float = knob(
        0.10, "relative s.d. of the national share", 0.02, 0.5,
        "first principles: an LWJ figure is one observer's count of whole districts judged 'controlled' rather "
        "than 'contested', over totals that differ between counts (398, 407, 421 districts), and data/README.md "
        "treats the series as +-10 %: a figure's error is Gaussian with one s.d. of 10 % of it", "seeding",
        provenance="prior")
    seed_fall_floor: float = knob(
        4e-5, "1/day per capital", 1e-7, 1e-2,
        "the rate at which the Taliban overran a provincial capital before the withdrawal: Kunduz (28 Sep 2015), "
        "Farah (May 2018) and Ghazni (Aug 2018), three in the six years 2015-2020 over 34 capitals, 3 / (6 x 365 x "
        "34) = 4e-5 a capital and day; an observed fall the model gave less chance on its day is scored at this "
        "rate, as an event from outside the model, and counted", "seeding", provenance="prior")

    # ------------------------------------------------------------------------------------------------------------
    def __post_init__(self):
        self.validate()

    @classmethod
    def spec(cls) -> dict[str, dict[str, Any]]:
        """Name -> {default, type, unit, lo, hi, provenance, source, group}: the one description every other layer
        reads."""
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


# The defaults before they were re-derived as priors (issue 11), kept as a record and for tests that need the
# 2021 collapse inside the window. A *fitted* set, never a default: the ten timing parameters (rural_rate to
# surrender_rate) were searched by tools/tune_timing.py on the LWJ district shares of 2021-06-15 to 2021-07-27,
# the capitals fallen by each day from 2021-08-01 to 2021-09-06 and Kabul's fall on 2021-08-15; the targeting
# weights, the campaign gate and the assault rate were set by hand from reports of May-August 2021. It was fitted
# before issue 12's mechanisms existed, so it keeps them off: the fitted set is the model it was fitted on.
TUNED_2021 = dict(
    dated_shocks=False, corps_cascade=False, air_logistics=False,
    taliban_recruitment_rate=0.002, target_north_weight=1.0, target_crossing_weight=0.7, target_east_weight=-0.5,
    initial_control_share=0.18, rural_rate=0.15, rural_morale_exponent=3.2, road_cut_rate=0.011,
    isolation_morale_rate=0.002, aaf_strikes_per_day=16.0, aaf_contractor_dependence=0.65, siege_threshold=0.6,
    campaign_gate_progress=0.95, assault_rate=0.15, assault_ratio_half=1.5, withdrawal_morale_drop=0.26,
    siege_morale_rate=0.005, cascade_national=0.019, cascade_neighbour=0.09, surrender_threshold=0.16,
    surrender_rate=0.27, prisoners_per_capital=170.0, prisoner_join_share=0.5, post_kabul_surrender_rate=0.6,
    holdout_assault_factor=0.3)


# --------------------------------------------------------------------------------- names given by a user
def check_names(given) -> None:
    """Raise ParamsError if any of `given` is not a Params field, naming the closest fields for each."""
    names = Params.names()
    unknown = [k for k in given if k not in names]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), names, n=3, cutoff=0.6)
            hints.append(f"{k!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
        raise ParamsError(f"unknown parameter(s) {', '.join(hints)}; `python run.py params` lists all {len(names)}")


def params_with(params: Params | Mapping | None, overrides: Mapping) -> Params:
    """`params` (a Params, a mapping of Params fields, or None for the defaults) with `overrides` applied, checked
    by Params itself. An unknown name raises ParamsError naming the closest fields."""
    check_names(overrides)
    if params is None:
        params = Params()
    elif isinstance(params, Mapping):
        params = Params.from_dict(dict(params))
    elif not isinstance(params, Params):
        raise TypeError(f"params must be a Params, a mapping of parameter names to values, or None; got "
                        f"{type(params).__name__}")
    return params.replace(**overrides) if overrides else params
