#!/usr/bin/env python3
"""The README's ablation tables from stored results.

    python tools/ablation_table.py results/validate-forecast results/validate-forecast-stocks ...
    python tools/ablation_table.py --patterns results/baseline results/baseline-stocks ...

Out of time (folders written by `python run.py validate`, their validation.json): one markdown row per folder,
pooled over the cut-offs, the prior's and the calibrated model's tau-b minus the best distance null (the null
with the highest pooled tau-b, as `validate` prints it) with its 90 % interval, their mean absolute error of the
median dates (days), and the calibrated Kabul error from the 1 July and 10 August cut-offs.

In sample (--patterns; folders written by `python run.py run`, their metrics.json): the pattern scorecard, one
row per folder: tau-b of the median dates, mean CRPS, the capitals-fallen curve gap, the district-share error,
the manner of fall (per run, and the mean log-likelihood of the 30 known manners), Bazarak held after Kabul, and
the share of the pairs the best distance null orders wrongly that the model orders rightly.

It reads only what those commands wrote; it runs nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GC = "great-circle distance from Kabul"


def _ci(d: dict) -> str:
    return f"{d['point']:+.2f} [{d['lo']:+.2f}, {d['hi']:+.2f}]"


def _kabul(summary: dict, cutoff: str) -> str:
    for rec in summary["cutoffs"]:
        if rec["cutoff"] == cutoff:
            kab = rec["variants"]["calibrated"]["seed_a"]["kabul"]
            return "fallen" if not kab else f"{kab['model']:+.0f}"
    return "n/a"


def row(folder: Path) -> str:
    summary = json.loads((folder / "validation.json").read_text())
    pool = summary["pooled"]
    cells = []
    for variant in ("prior", "calibrated"):
        tau = pool[variant]["tau_b"]
        best = max(tau, key=lambda n: tau[n]["null"])
        cells += [_ci(tau[best]), f"{pool[variant]['mae'][GC]['model']:.1f}"]
    cells += [_kabul(summary, "2021-07-01"), _kabul(summary, "2021-08-10")]
    return f"| {folder.name.removeprefix('validate-')} | " + " | ".join(cells) + " |"


def pattern_row(folder: Path) -> str:
    m = json.loads((folder / "metrics.json").read_text())
    p, how = m["patterns"], m["fall_how_per_run"]
    cells = [f"{m['ensemble']['tau_b_of_median_days']:.2f}", f"{m['ensemble']['crps_mean_days']:.1f}",
             f"{p['curve']['model']:.2f}", f"{p['districts']['model']:.3f}",
             f"{how['fighting']:.1f} / {how['negotiated']:.1f} / {how['surrender']:.1f}",
             f"{p['manner']['loglik']['model']:.2f}", f"{p['panjshir_after_kabul']['model']:.2f}",
             f"{p['discordant_pairs']['model']:.2f}", f"{p['kabul']['model']:+.0f}"]
    return f"| {folder.name} | " + " | ".join(cells) + " |"


def table(argv: list[str], header: str, columns: int, needed: str, command: str, make_row) -> int:
    """Print a Markdown table, one row per results folder; a folder without `needed` stops with one message."""
    print(header)
    print("|---" * columns + "|")
    for name in argv:
        folder = Path(name)
        if not (folder / needed).is_file():
            print(f"error: {folder}: no {needed} (run python run.py {command} first)", file=sys.stderr)
            return 2
        print(make_row(folder))
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv == ["--patterns"]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    if argv[0] == "--patterns":
        return table(argv[1:], "| run results | tau-b (median dates) | CRPS (days) | curve gap (capitals) "
                     "| district share error | fighting / negotiated / surrender per run | manner log-lik. "
                     "| Bazarak held after Kabul | pairs right | Kabul (days) |", 10, "metrics.json", "run", pattern_row)
    return table(argv, "| validate results | prior: tau-b minus best null | prior: MAE (days) | calibrated: tau-b "
                 "minus best null | calibrated: MAE (days) | calibrated Kabul from 1 Jul | from 10 Aug |", 7,
                 "validation.json", "validate", row)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
