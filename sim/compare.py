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
from .metrics import censored, kendall_tau_b, observed, seeded_capitals
from .report import fmt_day
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


def outcomes(name: str, result: EnsembleResult, world: World) -> Outcomes:
    days = censored(result.fall_day, result.end_day)
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    cut = day_index(HELD_ON)
    return Outcomes(
        name=name,
        kabul_day=days[:, world.kabul],
        held_aug31=(days > cut).sum(axis=1).astype(float),
        tau_b=kendall_tau_b(days[:, obs.index], obs.day),
        end_day=result.end_day,
    )


def paired_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean of b - a over paired runs and the half-width of its 95 % interval."""
    d = np.asarray(b, float) - np.asarray(a, float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan"), float("nan")
    return float(d.mean()), float(1.96 * d.std(ddof=1) / np.sqrt(d.size))


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
            m, h = paired_difference(first.kabul_day, r.kabul_day)
            dk = f"{m:+.1f} +- {h:.1f}"
            m, h = paired_difference(first.held_aug31, r.held_aug31)
            dh = f"{m:+.2f} +- {h:.2f}"
            m, h = paired_difference(first.tau_b, r.tau_b)
            dt_ = f"{m:+.3f} +- {h:.3f}"
        lines.append(f"{r.name[:20]:<20} {kabul:<30} {dk:<16} {r.held_aug31.mean():>14.2f} {dh:>14} "
                     f"{np.nanmedian(r.tau_b):>6.2f} {dt_:>14}")
    lines.append("Differences are means of run-by-run (common random numbers) differences from the first "
                 "scenario, +- the half-width of their 95 % interval; Kabul 'held' counts as the day after the end.")
    return "\n".join(lines)
