"""Compare scenarios run with common random numbers.

Scenarios run with the same root seed and replicate count share their chunk seeds, so run i of one scenario and
run i of another draw the same random numbers until their states diverge. Differences are therefore taken run by
run (paired), which removes most of the luck from a comparison: the uncertainty of a difference is the 95 %
interval of the mean paired difference, 1.96 x sd / sqrt(n).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .ensemble import EnsembleResult
from .metrics import BLOCK, censored, kendall_tau_b, observed, over_blocks, seeded_capitals
from .report import NA, fmt_day, fmt_value
from .world import World, day_index

HELD_ON = dt.date(2021, 8, 31)


@dataclass(frozen=True)
class Outcomes:
    """Per-run outcomes of one scenario."""

    name: str
    kabul_day: np.ndarray  # Kabul's fall day (end + 1 if it held)
    held_aug31: np.ndarray  # capitals government-held at the end of 31 August
    tau_b: np.ndarray  # tau-b against the observed order, over the capitals the run scores
    end_day: int


def outcomes(name: str, result: EnsembleResult, world: World, block: int = BLOCK) -> Outcomes:
    """The per-run outcomes, over blocks of runs: memory beyond the result is three (n,) arrays and one block."""
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    cut = day_index(HELD_ON)

    def per_block(fall_day: np.ndarray) -> dict[str, np.ndarray]:
        days = censored(fall_day, result.end_day)
        return {"held": (days > cut).sum(axis=1).astype(float), "tau": kendall_tau_b(days[:, obs.index], obs.day)}

    per_run = over_blocks(result.fall_day, per_block, block)
    return Outcomes(
        name=name,
        kabul_day=censored(result.fall_day[:, world.kabul], result.end_day),
        held_aug31=per_run["held"],
        tau_b=per_run["tau"],
        end_day=result.end_day,
    )


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of b - a over paired runs and the half-width of its 95 % interval."""
    d = np.asarray(b, float) - np.asarray(a, float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan"), float("nan")
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(d.size))


def _difference(a: np.ndarray, b: np.ndarray, fmt_mean: str, fmt_half: str) -> str:
    m, h = paired_difference(a, b)
    return NA if np.isnan(m) else f"{fmt_mean.format(m)} +- {fmt_half.format(h)}"


def compare_table(rows: list[Outcomes]) -> str:
    first = rows[0]
    head = (f"{'scenario':<20} {'Kabul falls: median [10-90 %]':<30} {'vs first (days)':<16} "
            f"{'held on 31 Aug':>14} {'vs first':>14} {'tau-b':>6} {'vs first':>14}")
    lines = [head, "-" * len(head)]
    for r in rows:
        q = np.percentile(r.kabul_day, [50, 10, 90])
        kabul = f"{fmt_day(q[0], r.end_day)} [{fmt_day(q[1], r.end_day)} - {fmt_day(q[2], r.end_day)}]"
        if r is first:
            dk = dh = dt_ = "-"
        else:
            dk = _difference(first.kabul_day, r.kabul_day, "{:+.1f}", "{:.1f}")
            dh = _difference(first.held_aug31, r.held_aug31, "{:+.2f}", "{:.2f}")
            dt_ = _difference(first.tau_b, r.tau_b, "{:+.3f}", "{:.3f}")
        tau = r.tau_b[~np.isnan(r.tau_b)]
        lines.append(f"{r.name[:20]:<20} {kabul:<30} {dk:<16} {r.held_aug31.mean():>14.2f} {dh:>14} "
                     f"{fmt_value(np.median(tau) if tau.size else float('nan'), '{:.2f}'):>6} {dt_:>14}")
    lines.append("Differences are means of run-by-run (common random numbers) differences from the first "
                 "scenario, +- the half-width of their 95 % interval; Kabul 'held' counts as the day after the end.")
    if any(np.isnan(r.tau_b).all() for r in rows):
        lines.append(f"{NA}: tau-b is undefined when no capital falls in the window.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ written output
DIFFERENCES = (("kabul_day", "Kabul falls (days later)", "{:+.1f}"),
               ("held_aug31", "capitals held on 31 Aug (more)", "{:+.2f}"),
               ("tau_b", "tau-b against the record (higher)", "{:+.3f}"))


def differences(rows: list[Outcomes], paired: bool = True) -> dict[str, list[tuple[float, float]]]:
    """{outcome label: [(mean difference from the first scenario, half-width of its 95 % interval)]}. Unpaired
    (runs not matched by seed) uses the two-sample interval instead."""
    first = rows[0]
    out = {}
    for attr, label, _ in DIFFERENCES:
        values = []
        for r in rows[1:]:
            a, b = getattr(first, attr), getattr(r, attr)
            if paired and a.shape == b.shape:
                values.append(paired_difference(a, b))
            else:
                a, b = a[~np.isnan(a)], b[~np.isnan(b)]
                ok = a.size > 1 and b.size > 1
                values.append((float(b.mean() - a.mean()), float(1.96 * np.sqrt(a.var(ddof=1) / a.size
                               + b.var(ddof=1) / b.size))) if ok else (float("nan"), float("nan")))
        out[label] = values
    return out


def overlay_figure(named: list[tuple[str, EnsembleResult, list[tuple]]], world: World, paired: bool, title: str):
    """The comparison figure (plots.comparison_overlay) from (name, result, [(event day, label)]) triples."""
    from . import plots
    from .ensemble import observed_fall_days
    from .metrics import HeldBands

    rows = [outcomes(name, r, world) for name, r, _ in named]
    end = max(r.end_day for _, r, _ in named)
    # daily counts when the run kept them (a stored run keeps none: an empty (n, 0) array), else from fall days
    held = [HeldBands.from_counts(r.held_count, world.n_provinces) if r.held_count is not None and r.held_count.size
            else HeldBands.from_fall_days(r.fall_day, r.start_day, r.end_day) for _, r, _ in named]
    medians = np.vstack([np.median(censored(r.fall_day, end), axis=0) for _, r, _ in named])
    diffs = differences(rows, paired)
    if not paired:
        diffs = {f"{k} (unpaired)": v for k, v in diffs.items()}
    return plots.comparison_overlay([n for n, _, _ in named], held, [r.start_day for _, r, _ in named], medians,
                                    list(world.names), observed_fall_days(world), diffs, [e for _, _, e in named],
                                    end, title)


def per_run_table(rows: list[Outcomes]):
    """One row per scenario and run: Kabul's fall date (null if it held), capitals held on 31 Aug, tau-b."""
    import pyarrow as pa

    from .world import day_date

    cols = {"scenario": [], "run_id": [], "kabul_fell_on": [], "held_aug31": [], "tau_b": []}
    for r in rows:
        n = r.kabul_day.size
        cols["scenario"] += [r.name] * n
        cols["run_id"] += list(range(n))
        cols["kabul_fell_on"] += [None if d > r.end_day else day_date(int(d)) for d in r.kabul_day]
        cols["held_aug31"] += r.held_aug31.astype(int).tolist()
        cols["tau_b"] += r.tau_b.tolist()
    return pa.table({"scenario": pa.array(cols["scenario"], pa.string()),
                     "run_id": pa.array(cols["run_id"], pa.int64()),
                     "kabul_fell_on": pa.array(cols["kabul_fell_on"], pa.date32()),
                     "held_aug31": pa.array(cols["held_aug31"], pa.int64()),
                     "tau_b": pa.array(cols["tau_b"], pa.float64())})


def summary_csv(rows: list[Outcomes], paired: bool = True) -> str:
    """The comparison table as CSV: per scenario, its outcomes and its differences from the first with 95 %
    interval bounds (blank for the first)."""
    import csv
    import io

    from .world import day_date

    diffs = differences(rows, paired)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["scenario", "runs", "kabul_median", "kabul_p10", "kabul_p90", "held_aug31_mean", "tau_b_median"]
    for attr, _, _ in DIFFERENCES:
        head += [f"{attr}_vs_first", f"{attr}_vs_first_lo", f"{attr}_vs_first_hi"]
    w.writerow(head)
    for i, r in enumerate(rows):
        q = np.percentile(r.kabul_day, [50, 10, 90])
        tau = r.tau_b[~np.isnan(r.tau_b)]
        line = [r.name, r.kabul_day.size] + ["held" if d > r.end_day else day_date(int(round(d))).isoformat()
                                             for d in q]
        line += [f"{r.held_aug31.mean():.4f}", f"{np.median(tau):.4f}" if tau.size else ""]
        for _, label, _ in DIFFERENCES:
            if i == 0:
                line += ["", "", ""]
            else:
                m, h = diffs[label][i - 1]
                line += [f"{m:.4f}", f"{m - h:.4f}", f"{m + h:.4f}"] if np.isfinite(m) else ["", "", ""]
        w.writerow(line)
    return buf.getvalue()
