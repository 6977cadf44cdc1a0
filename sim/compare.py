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
