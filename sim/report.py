"""Plain-text tables for the terminal, from a scorecard (sim.metrics.score_ensemble)."""

from __future__ import annotations

import math

from .params import Params
from .world import day_date

NA = "n/a"  # an undefined metric (NaN or None in the scorecard)
WHY_UNDEFINED = {
    "order": "tau-b and Spearman rho are undefined when no capital falls in the window (nothing to order)",
    "aug15": "P(fallen by 15 Aug) and its Brier score are undefined when the run ends before 15 August",
}


def is_undefined(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_value(x, fmt: str = "{:.2f}") -> str:
    """x formatted, or 'n/a' if it is undefined."""
    return NA if is_undefined(x) else fmt.format(x)


def why_undefined(scorecard: dict) -> str:
    """One line naming why the table shows n/a, or '' if it shows none."""
    reasons = []
    if is_undefined(scorecard["ensemble"]["tau_b_of_median_days"]) or is_undefined(
            scorecard["per_run"]["tau_b"]["median"]):
        reasons.append(WHY_UNDEFINED["order"])
    if is_undefined(scorecard["ensemble"]["brier_fallen_by_aug15"]):
        reasons.append(WHY_UNDEFINED["aug15"])
    return f"{NA}: " + "; ".join(reasons) + "." if reasons else ""


def fmt_day(day: float, end_day: int) -> str:
    """A day index as '06 Aug', or 'held' past the end of the run."""
    if day > end_day:
        return "held"
    return day_date(int(round(day))).strftime("%d %b")


def capital_table(scorecard: dict, end_day: int) -> str:
    rows = scorecard["capitals"]
    head = (f"{'#':>2}  {'province':<14} {'capital':<23} {'observed':<9} {'simulated median':<17} "
            f"{'10-90 % range':<17} {'P(fallen by 15 Aug)':>19}")
    lines = [head, "-" * len(head)]
    for k, r in enumerate(rows, 1):
        mark = "~" if r["date_confidence"] != "high" else " "
        obs = fmt_day(r["observed_day"], end_day) + mark
        rng = f"{fmt_day(r['p10_day'], end_day)} - {fmt_day(r['p90_day'], end_day)}"
        lines.append(f"{k:>2}  {r['province']:<14} {r['capital'][:23]:<23} {obs:<9} "
                     f"{fmt_day(r['median_day'], end_day):<17} {rng:<17} {fmt_value(r['p_fallen_by_aug15']):>19}")
    lines.append("~ observed date uncertain by about a day (scored as exact within one day); "
                 "'held' = still held at the end of the run")
    return "\n".join(lines)


METRIC_LABELS = {
    "tau_b": ("Kendall tau-b with the observed order", "{:.2f}", "higher is better"),
    "spearman": ("Spearman rho with the observed order", "{:.2f}", "higher is better"),
    "mae_days": ("mean absolute error (days)", "{:.1f}", "lower is better"),
    "curve_error": ("capitals-fallen curve error (capitals)", "{:.2f}", "lower is better"),
    "kabul_error_days": ("Kabul: simulated minus observed (days)", "{:+.1f}", "0 is best"),
}


def metrics_table(scorecard: dict) -> str:
    nulls = scorecard["nulls"]
    null_names = list(nulls)
    per_run = scorecard["per_run"]
    head = f"{'metric':<40} {'model: median run [10-90 %]':<28} " + " ".join(f"{n[:24]:>24}" for n in null_names)
    lines = [head, "-" * len(head)]
    for key, (label, fmt, _) in METRIC_LABELS.items():
        if key not in per_run:
            continue
        s = per_run[key]
        model = (NA if is_undefined(s["median"]) else
                 f"{fmt.format(s['median'])} [{fmt.format(s['p10'])}, {fmt.format(s['p90'])}]")
        vals = " ".join(f"{fmt_value(nulls[n][key], fmt):>24}" for n in null_names)
        lines.append(f"{label:<40} {model:<28} {vals}")
    ens = scorecard["ensemble"]
    lines += [
        "",
        f"Ensemble: tau-b of the median fall dates {fmt_value(ens['tau_b_of_median_days'])}, "
        f"Spearman {fmt_value(ens['spearman_of_median_days'])}; mean CRPS {fmt_value(ens['crps_mean_days'])} days; "
        f"Brier score of 'fallen by 15 Aug' {fmt_value(ens['brier_fallen_by_aug15'], '{:.3f}')}",
    ]
    skill = scorecard["skill"]
    gain = skill["tau_b_model_minus_best_null"]
    lines.append(f"Skill: median-run tau-b minus the best null ({skill['best_null']}): {fmt_value(gain, '{:+.2f}')}"
                 if not is_undefined(gain) else f"Skill: {NA} (tau-b undefined for the model or every null)")
    lines.append("Nulls rank the capitals by road km / hops from Kabul (farthest first) or at random, and are given "
                 "the observed timing for the day-based errors.")
    how = scorecard["fall_how_per_run"]
    lines.append(f"How capitals fell, per run on average: {how['fighting']:.1f} by assault, "
                 f"{how['negotiated']:.1f} negotiated, {how['surrender']:.1f} surrendered "
                 f"(observed: 11 fighting, 6 negotiated, 13 surrender, 4 unknown)")
    why = why_undefined(scorecard)
    if why:
        lines.append(why)
    return "\n".join(lines)


def district_table(scorecard: dict) -> str:
    rows = scorecard["districts"]
    if not rows:
        return ""
    lines = ["Share of districts under Taliban control (LWJ series: a calibration target, not an input)",
             f"{'as of':<12} {'observed':>9} {'simulated mean':>15} {'10-90 %':>14}"]
    for r in rows:
        lines.append(f"{r['as_of']:<12} {r['observed_share']:>9.2f} {r['simulated_mean']:>15.2f} "
                     f"{r['simulated_p10']:>6.2f}-{r['simulated_p90']:.2f}" + ("  (date approximate)"
                                                                            if r["confidence"] == "low" else ""))
    return "\n".join(lines)


def params_table() -> str:
    """Every parameter with its default, unit, bounds and source, grouped as in sim/params.py."""
    lines = []
    group = None
    for name, s in Params.spec().items():
        if s["group"] != group:
            group = s["group"]
            lines.append(f"\n[{group}]")
        bounds = "" if s["lo"] is None else f"[{s['lo']:g}, {s['hi']:g}]"
        default = s["default"] if isinstance(s["default"], bool) else f"{s['default']:g}"
        lines.append(f"  {name:<30} {default!s:>9} {s['unit']:<34} {bounds:<16}")
        lines.append(f"      {s['source']}")
    return "\n".join(lines).lstrip("\n")


def params_markdown() -> str:
    """The parameter table of docs/ODD.md, generated from Params so the two cannot drift apart."""
    lines = ["| parameter | default | unit | bounds | source or reason |", "|---|---|---|---|---|"]
    for name, s in Params.spec().items():
        bounds = "on/off" if s["lo"] is None else f"{s['lo']:g} - {s['hi']:g}"
        default = str(s["default"]).lower() if isinstance(s["default"], bool) else f"{s['default']:g}"
        unit = "" if s["unit"] == "on/off" else s["unit"]
        lines.append(f"| `{name}` | {default} | {unit} | {bounds} | {s['source'].replace('|', '/')} |")
    return "\n".join(lines)


def fmt_seconds(x: float) -> str:
    return f"{x:.1f} s" if x < 120 else f"{math.floor(x / 60)} min {x % 60:.0f} s"
