"""Plain-text tables for the terminal, from a scorecard (sim.metrics.score_ensemble)."""

from __future__ import annotations

import math
import re

import numpy as np

from .params import Params
from .world import day_date

NA = "n/a"  # an undefined metric (NaN or None in the scorecard)
WHY_UNDEFINED = {
    "order": "tau-b and Spearman rho are undefined when no capital falls in the window (nothing to order)",
    "aug15": "P(fallen by 15 Aug) and its Brier score are undefined when the run ends before 15 August",
}


def is_undefined(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


_NEGATIVE_ZERO = re.compile(r"\s*-([0-9.,]+(?:e[+-]?[0-9]+)?)")  # a leading minus and the number after it


def fmt_num(x, fmt: str = "{:.2f}") -> str:
    """x formatted with `fmt`, never as a negative zero: a value that rounds to zero prints as fmt.format(0.0)
    ('0.00', or '+0.00' with a sign format) rather than '-0.00'."""
    s = fmt.format(x)
    m = _NEGATIVE_ZERO.match(s)
    return fmt.format(0.0) if m and not re.search("[1-9]", m.group(1)) else s


def fmt_value(x, fmt: str = "{:.2f}") -> str:
    """x formatted (never '-0.00', see fmt_num), or 'n/a' if it is undefined."""
    return NA if is_undefined(x) else fmt_num(x, fmt)


def fmt_bin_edges(edges) -> list[str]:
    """Labels '(lo, hi]' of the bins between consecutive edges (the first '[lo, hi]', as pandas.cut with
    include_lowest), each edge with the fewest significant digits (2 to 6) that keep the edges apart: '(0.00016,
    0.4]', not '(0.00015999999999999999, 0.4]'."""
    edges = [float(e) for e in edges]
    for digits in range(2, 7):
        text = [fmt_num(e, f"{{:.{digits}g}}") for e in edges]
        if len(set(text)) == len(text):
            break
    return [f"{'[' if k == 0 else '('}{text[k]}, {text[k + 1]}]" for k in range(len(edges) - 1)]


def pareto_front(higher: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (at least as high on `higher`, as low on `lower`, and
    strictly better on one), ordered by `higher`, best first. NaN points are never on the front."""
    h, lo = np.asarray(higher, float), np.asarray(lower, float)
    ok = np.flatnonzero(np.isfinite(h) & np.isfinite(lo))
    front = [i for i in ok if not np.any((h[ok] >= h[i]) & (lo[ok] <= lo[i]) & ((h[ok] > h[i]) | (lo[ok] < lo[i])))]
    return np.array(sorted(front, key=lambda i: (-h[i], lo[i], i)), dtype=int)


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


#: Column heads of the null models in the fit table (the full names are in the note under it).
NULL_LABELS = {"road distance from Kabul": "road km", "hops from Kabul": "hops",
               "great-circle distance from Kabul": "great-circle km", "random order (mean)": "random (mean)"}
NULL_WIDTH = 16
DAY_ERROR_KEYS = ("mae_days", "curve_error", "kabul_error_days")  # the nulls need timing for these (metrics.DAY_ERRORS)
OBSERVED_TIMING_MARK = "*"


def null_label(name: str) -> str:
    return NULL_LABELS.get(name, name[:NULL_WIDTH])


def metrics_table(scorecard: dict) -> str:
    nulls = scorecard["nulls"]
    null_names = list(nulls)
    per_run = scorecard["per_run"]
    head = (f"{'metric':<40} {'model: median run [10-90 %]':<28} "
            + " ".join(f"{null_label(n):>{NULL_WIDTH}}" for n in null_names))
    lines = [head, "-" * len(head)]
    for key, (label, fmt, _) in METRIC_LABELS.items():
        if key not in per_run:
            continue
        s = per_run[key]
        model = (NA if is_undefined(s["median"]) else
                 f"{fmt_num(s['median'], fmt)} [{fmt_num(s['p10'], fmt)}, {fmt_num(s['p90'], fmt)}]")
        timed = key in DAY_ERROR_KEYS
        vals = " ".join(f"{_null_cell(nulls[n].get(key), fmt, OBSERVED_TIMING_MARK if timed else ''):>{NULL_WIDTH}}"
                        for n in null_names)
        lines.append(f"{label:<40} {model:<28} {vals}")
        if timed and all(f"{key}_rate_timing" in nulls[n] for n in null_names):
            vals = " ".join(f"{_null_cell(nulls[n][f'{key}_rate_timing'], fmt, ''):>{NULL_WIDTH}}"
                            for n in null_names)
            lines.append(f"{'  nulls at the national rate':<40} {'':<28} {vals}")
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
    lines.append("Nulls rank the capitals by road distance from Kabul, hops from Kabul or great-circle distance from "
                 "Kabul (farthest first), or at random.")
    lines.append(f"{OBSERVED_TIMING_MARK} nulls given the observed timing (the observed fall days, sorted, in their "
                 "order): generous, it uses the future.")
    lines.append("  'at the national rate': the capitals fall in the null's order at the rate of the falls known before "
                 "the start (persistence, all held, if none).")
    how = scorecard["fall_how_per_run"]
    lines.append(f"How capitals fell, per run on average: {how['fighting']:.1f} by assault, "
                 f"{how['negotiated']:.1f} negotiated, {how['surrender']:.1f} surrendered "
                 f"(observed: 11 fighting, 6 negotiated, 13 surrender, 4 unknown)")
    why = why_undefined(scorecard)
    if why:
        lines.append(why)
    return "\n".join(lines)


def _null_cell(x, fmt: str, mark: str) -> str:
    return NA if is_undefined(x) else fmt_num(x, fmt) + mark


def fmt_interval(point, lo, hi, fmt: str = "{:.2f}") -> str:
    """'point [lo, hi]', or n/a if the point is undefined (an undefined interval prints as n/a inside)."""
    if is_undefined(point):
        return NA
    return f"{fmt_num(point, fmt)} [{fmt_value(lo, fmt)}, {fmt_value(hi, fmt)}]"


#: How each pattern prints: the key in the pattern card, and the number format.
PATTERN_ROWS = (("curve", "{:.2f}"), ("kabul", "{:+.0f}"), ("districts", "{:.3f}"), (("manner", "loglik"), "{:.2f}"),
                (("manner", "modal_right"), "{:.2f}"), ("panjshir_after_kabul", "{:.2f}"),
                ("discordant_pairs", "{:.2f}"))


def _pct(level: float) -> str:
    return f"{100 * level:g} %"


def _observed_cell(key, p: dict) -> str:
    obs = p["observed"]
    if key == "kabul":
        return day_date(obs).strftime("%d %b")
    if key == "districts":
        return f"{min(obs):.2f}-{max(obs):.2f}" if len(obs) > 1 else f"{obs[0]:.2f}"
    if key == "panjshir_after_kabul":
        return "yes" if obs else "no"
    return "" if obs is None else f"{obs:g}"


def _pattern_at(card: dict, key):
    """card[key], or card[a][b] for key (a, b); None where the pattern does not apply."""
    if isinstance(key, tuple):
        return None if card.get(key[0]) is None else card[key[0]][key[1]]
    return card.get(key)


def patterns_table(card: dict) -> str:
    """The patterns of sim.patterns.pattern_scorecard (a scorecard holding them under "patterns", or the card
    itself): each with the observed value, the model's value and interval, and the null's value; then the
    model-minus-null scores over the capitals (minus_null_table)."""
    card = card.get("patterns", card)
    nulls_seen: dict[str, str] = {}
    head = f"{'pattern':<64} {'observed':>11}  {'model [' + _pct(card['level']) + ' interval]':<26} {'null':>8}"
    lines = [f"Patterns ({_pct(card['level'])} intervals: bootstrap over runs for the per-run patterns (the ensemble's "
             f"Monte Carlo error), over capitals for the others; {card['n_resamples']:,} resamples)", head,
             "-" * len(head)]
    for key, fmt in PATTERN_ROWS:
        p = _pattern_at(card, key)
        if p is None:
            continue
        label = p["label"]
        if key == "discordant_pairs":
            label = f"pairs the {null_label(p['best_null'])} null orders wrongly ({p['null_wrong']}): share right"
        elif key == ("manner", "loglik"):
            label = f"manner of fall ({card['manner']['n_known']} known): mean log-likelihood"
        null = ""
        if p["null_name"] is not None:  # n/a: the null has nothing to go on (no LWJ figure known before the start)
            mark = nulls_seen.setdefault(p["null_name"], "abcdefgh"[len(nulls_seen)])
            null = f"{fmt_value(p['null'], fmt)} {mark}"
        model = fmt_interval(p["model"], p["lo"], p["hi"], fmt)
        lines.append(f"{label[:64]:<64} {_observed_cell(key, p):>11}  {model:<26} {null:>8}")
    if nulls_seen:
        lines.append("nulls: " + "; ".join(f"{m}: {n}" for n, m in nulls_seen.items()))
    lines += ["", minus_null_table(card)]
    return "\n".join(lines)


#: The model-minus-null scores of pattern_scorecard's "paired", with their labels and formats.
PAIRED_ROWS = (("tau_b", "tau-b of the median dates", "{:+.2f}"),
               ("mae", "MAE of the median dates (days)", "{:+.1f}"),
               ("crps", "mean CRPS (days)", "{:+.2f}"),
               ("mae_observed_timing", f"MAE, nulls given the observed timing{OBSERVED_TIMING_MARK}", "{:+.1f}"))


def minus_null_table(card: dict) -> str:
    """Model minus each distance null over the capitals, with the interval and the share of resamples favouring the
    model: an interval that holds 0 cannot tell the model from that null."""
    card = card.get("patterns", card)
    paired = card["paired"]
    names = list(paired["tau_b"])
    width = 29
    head = f"{'model minus null':<40} " + " ".join(f"{null_label(n):>{width}}" for n in names)
    lines = [f"Model minus null over the {card['n_capitals']} capitals ({_pct(card['level'])} interval; share of "
             "resamples favouring the model)", head, "-" * len(head)]
    for key, label, fmt in PAIRED_ROWS:
        cells = []
        for n in names:
            b = paired[key][n]
            share = "" if is_undefined(b["share_model_better"]) else f" {b['share_model_better']:.2f}"
            cells.append(f"{fmt_interval(b['point'], b['lo'], b['hi'], fmt) + share:>{width}}")
        lines.append(f"{label:<40} " + " ".join(cells))
    lines.append("tau-b: the null's own order; MAE and CRPS: the null at the national rate before the start (a point "
                 "forecast, whose CRPS is its absolute error). An interval holding 0 cannot separate the two.")
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
    """Every parameter with its default, unit, bounds, provenance (prior or fitted) and source, grouped as in
    sim/params.py."""
    lines = [f"  {'parameter':<30} {'default':>9} {'unit':<34} {'bounds':<16} provenance"]
    group = None
    for name, s in Params.spec().items():
        if s["group"] != group:
            group = s["group"]
            lines.append(f"\n[{group}]")
        bounds = "" if s["lo"] is None else f"[{s['lo']:g}, {s['hi']:g}]"
        default = s["default"] if isinstance(s["default"], bool) else f"{s['default']:g}"
        lines.append(f"  {name:<30} {default!s:>9} {s['unit']:<34} {bounds:<16} {s['provenance']}")
        lines.append(f"      {s['source']}")
    return "\n".join(lines)


def params_markdown() -> str:
    """The parameter table of docs/ODD.md, generated from Params so the two cannot drift apart."""
    lines = ["| parameter | default | unit | bounds | provenance | source or reason |", "|---|---|---|---|---|---|"]
    for name, s in Params.spec().items():
        bounds = "on/off" if s["lo"] is None else f"{s['lo']:g} - {s['hi']:g}"
        default = str(s["default"]).lower() if isinstance(s["default"], bool) else f"{s['default']:g}"
        unit = "" if s["unit"] == "on/off" else s["unit"]
        lines.append(f"| `{name}` | {default} | {unit} | {bounds} | {s['provenance']} | "
                     f"{s['source'].replace('|', '/')} |")
    return "\n".join(lines)


def fmt_seconds(x: float) -> str:
    return f"{x:.1f} s" if x < 120 else f"{math.floor(x / 60)} min {x % 60:.0f} s"
