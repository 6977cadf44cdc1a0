"""Figures from result arrays. Plots take results in and return (fig, axes); they never run the model."""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a display

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .world import day_date  # noqa: E402


def held_over_time(held_count: np.ndarray, start_day: int, observed_days: np.ndarray, n_capitals: int,
                   title: str, zoom_from: dt.date | None = dt.date(2021, 7, 15)):
    """Capitals government-held at the end of each day: ensemble median, 50 % and 90 % bands, observed steps.

    held_count: (n_runs, n_days) from an EnsembleResult; observed_days: observed fall day of every capital
    (NOT_FALLEN = -1 for none).
    """
    n_days = held_count.shape[1]
    dates = np.array([day_date(start_day + k) for k in range(n_days)])
    q = np.percentile(held_count, [5, 25, 50, 75, 95], axis=0)
    obs_held = np.array([n_capitals - np.sum((observed_days >= 0) & (observed_days <= start_day + k))
                         for k in range(n_days)])

    fig, ax = plt.subplots(figsize=(9, 5))
    ax.fill_between(dates, q[0], q[4], step="post", color="tab:blue", alpha=0.18, label="simulated 90 % band")
    ax.fill_between(dates, q[1], q[3], step="post", color="tab:blue", alpha=0.35, label="simulated 50 % band")
    ax.step(dates, q[2], where="post", color="tab:blue", lw=2, label="simulated median")
    ax.step(dates, obs_held, where="post", color="black", lw=2, ls="--", label="observed (capitals.csv)")
    if zoom_from is not None and dates[0] < zoom_from:
        ax.set_xlim(zoom_from, dates[-1] + dt.timedelta(days=1))
    ax.set_ylim(0, n_capitals + 1)
    ax.set_ylabel("provincial capitals held by the government")
    ax.set_xlabel("date (2021)")
    ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    return fig, ax
