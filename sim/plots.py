"""Figures from result arrays. Plots take results in and return (fig, axes); they never run the model.

Conventions: dates on time axes, units on every axis, a title that says what was run.
"""

from __future__ import annotations

import datetime as dt

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a display

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import HeldBands  # noqa: E402
from .world import day_date  # noqa: E402


def _date_axis(ax, axis="x"):
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
    target.set_major_formatter(mdates.DateFormatter("%d %b"))


def _dates(days) -> np.ndarray:
    return np.array([np.datetime64(day_date(int(d))) for d in np.atleast_1d(days)])


def held_over_time(held, start_day: int, observed_days: np.ndarray, n_capitals: int,
                   title: str, zoom_from: dt.date | None = dt.date(2021, 7, 15), end_day: int | None = None):
    """Capitals government-held at the end of each day: ensemble median, 50 % and 90 % bands, observed steps.

    held: a metrics.HeldBands (e.g. HeldBands.from_fall_days, for any number of runs), or the (n_runs, n_days)
    daily held counts; observed_days: observed fall day of every capital (-1 for none); end_day: draw the observed
    curve and the axis to this day even if the runs stop earlier (a run in progress).
    """
    bands = held if isinstance(held, HeldBands) else HeldBands.from_counts(held, n_capitals)
    n_days = bands.values.shape[1]
    dates = np.array([day_date(start_day + k) for k in range(n_days)])
    last = max(end_day if end_day is not None else start_day + n_days - 1, start_day + n_days - 1)
    obs_dates = np.array([day_date(d) for d in range(start_day, last + 1)])
    obs_held = np.array([n_capitals - np.sum((observed_days >= 0) & (observed_days <= d))
                         for d in range(start_day, last + 1)])

    fig, ax = plt.subplots(figsize=(9, 5))
    if n_days:
        q = bands.values  # percentiles 5, 25, 50, 75, 95 (metrics.HELD_BANDS)
        if bands.n_runs > 1:
            ax.fill_between(dates, q[0], q[4], step="post", color="tab:blue", alpha=0.18,
                            label="simulated 90 % band")
            ax.fill_between(dates, q[1], q[3], step="post", color="tab:blue", alpha=0.35,
                            label="simulated 50 % band")
        ax.step(dates, q[2], where="post", color="tab:blue", lw=2,
                label="simulated median" if bands.n_runs > 1 else "this run")
    ax.step(obs_dates, obs_held, where="post", color="black", lw=2, ls="--", label="observed (data/provinces.csv)")
    if zoom_from is not None and obs_dates[0] < zoom_from:
        ax.set_xlim(zoom_from, obs_dates[-1] + dt.timedelta(days=1))
    else:
        ax.set_xlim(obs_dates[0], obs_dates[-1] + dt.timedelta(days=1))
    ax.set_ylim(0, n_capitals + 1)
    ax.set_ylabel("provincial capitals held by the government")
    ax.set_xlabel("date (2021)")
    _date_axis(ax)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    return fig, ax


def fall_day_distributions(names: list[str], sim_days: np.ndarray | None, observed_days: np.ndarray,
                           tolerance: np.ndarray, end_day: int, title: str, quantiles: np.ndarray | None = None):
    """One row per capital, ordered by observed date: simulated 10-90 % and 25-75 % ranges, median, and the
    observed date (with its +-1 day band where the record is uncertain). sim_days: (n_runs, k), censored; or
    quantiles: (5, k), the 10, 25, 50, 75 and 90th percentiles already computed."""
    order = np.argsort(observed_days, kind="stable")[::-1]  # first to fall at the top
    k = len(order)
    fig, ax = plt.subplots(figsize=(9, 0.28 * k + 1.6))
    q = quantiles if quantiles is not None else np.percentile(sim_days, [10, 25, 50, 75, 90], axis=0)
    y = np.arange(k)
    to_num = lambda d: mdates.date2num(_dates(d))  # noqa: E731
    for row, i in enumerate(order):
        ax.plot(to_num([q[0, i], q[4, i]]), [row, row], color="tab:blue", lw=1.2, alpha=0.7)
        ax.plot(to_num([q[1, i], q[3, i]]), [row, row], color="tab:blue", lw=5, alpha=0.6, solid_capstyle="butt")
        ax.plot(to_num([q[2, i]]), [row], "o", color="tab:blue", ms=4)
        if tolerance[i]:
            lo, hi = to_num([observed_days[i] - tolerance[i], observed_days[i] + tolerance[i]])
            ax.fill_between([lo, hi], row - 0.4, row + 0.4, color="tab:red", alpha=0.18, lw=0)
        ax.plot(to_num([observed_days[i]]), [row], "|", color="tab:red", ms=11, mew=2.5)
    ax.set_yticks(y)
    ax.set_yticklabels([names[i] for i in order], fontsize=8)
    ax.set_ylim(-0.7, k - 0.3)
    ax.axvline(mdates.date2num(np.datetime64(day_date(end_day))), color="grey", lw=0.8, ls=":")
    ax.xaxis_date()
    _date_axis(ax)
    ax.set_xlabel("date the capital fell (2021); right of the dotted line = held to the end of the run")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    ax.legend(handles=[Line2D([], [], color="tab:blue", lw=5, alpha=0.6, label="simulated 25-75 %"),
                       Line2D([], [], color="tab:blue", lw=1.2, label="simulated 10-90 %"),
                       Line2D([], [], color="tab:blue", marker="o", ls="", label="simulated median"),
                       Line2D([], [], color="tab:red", marker="|", ls="", ms=11, mew=2.5, label="observed"),
                       Patch(color="tab:red", alpha=0.18, label="observed +-1 day (uncertain date)")],
              loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig, ax


def collapse_map(lon: np.ndarray, lat: np.ndarray, names: list[str], edges: list[tuple[int, int]],
                 value: np.ndarray, observed_rank: np.ndarray, title: str, value_label: str,
                 as_dates: bool = True, vmin=None, vmax=None):
    """Capitals at their coordinates and the road links, coloured by `value` (a median fall day, or a
    probability), each labelled with its observed order of fall. No country outline: none is available offline."""
    fig, ax = plt.subplots(figsize=(10, 7.5))
    for a, b in edges:
        ax.plot([lon[a], lon[b]], [lat[a], lat[b]], color="0.7", lw=1.2, zorder=1)
    cmap = plt.get_cmap("viridis")
    extend = "neither"
    if as_dates and vmax is None:
        # A late hold-out (Panjshir) would stretch the scale: stop it at the 90th percentile plus a week.
        vmax = min(float(np.max(value)), float(np.percentile(value, 90)) + 7)
        extend = "max" if np.max(value) > vmax else "neither"
    sc = ax.scatter(lon, lat, c=value, cmap=cmap, s=140, edgecolor="black", lw=0.6, zorder=3, vmin=vmin, vmax=vmax)
    for i, name in enumerate(names):
        ax.annotate(f"{name} ({observed_rank[i]})", (lon[i], lat[i]), xytext=(6, 5), textcoords="offset points",
                    fontsize=7.5, zorder=4)
    cb = fig.colorbar(sc, ax=ax, shrink=0.8, extend=extend)
    cb.set_label(value_label)
    if as_dates:
        ticks = cb.get_ticks()
        cb.set_ticks(ticks)
        cb.set_ticklabels([day_date(int(t)).strftime("%d %b") for t in ticks])
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_aspect(1.0 / np.cos(np.deg2rad(np.mean(lat))))
    ax.grid(alpha=0.2)
    ax.set_title(title + "\n(n) = observed order of fall")
    fig.tight_layout()
    return fig, ax


def metric_distributions(per_run: dict[str, np.ndarray], nulls: dict[str, dict[str, float]], labels: dict,
                         title: str):
    """A histogram per metric over runs, with each null model's value as a vertical line."""
    keys = [k for k in labels if k in per_run]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.6), squeeze=False)
    styles = ["--", ":", "-."]
    for ax, key in zip(axes[0], keys):
        v = per_run[key][~np.isnan(per_run[key])]
        ax.hist(v, bins=30, color="tab:blue", alpha=0.75, label="model runs")
        for (name, vals), ls in zip(nulls.items(), styles):
            if key in vals and np.isfinite(vals[key]):
                ax.axvline(vals[key], color="black", ls=ls, lw=1.5, label=name)
        ax.set_xlabel(labels[key])
        ax.set_ylabel("runs")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def scenario_comparison(names: list[str], kabul_days: list[np.ndarray], held_aug31: list[np.ndarray],
                        end_day: int, observed_kabul: int, title: str):
    """Kabul's fall date and the capitals held on 31 August, scenario by scenario, side by side."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.5 * len(names) + 2.5), sharey=True)
    y = np.arange(len(names))[::-1]
    for row, kd, held in zip(y, kabul_days, held_aug31):
        q = np.percentile(kd, [10, 25, 50, 75, 90])
        a1.plot(mdates.date2num(_dates(q[[0, 4]])), [row, row], color="tab:blue", lw=1.2)
        a1.plot(mdates.date2num(_dates(q[[1, 3]])), [row, row], color="tab:blue", lw=6, alpha=0.6)
        a1.plot(mdates.date2num(_dates([q[2]])), [row], "o", color="tab:blue")
        h = np.percentile(held, [10, 25, 50, 75, 90])
        a2.plot(h[[0, 4]], [row, row], color="tab:orange", lw=1.2)
        a2.plot(h[[1, 3]], [row, row], color="tab:orange", lw=6, alpha=0.6)
        a2.plot([held.mean()], [row], "D", color="tab:orange")
    a1.axvline(mdates.date2num(np.datetime64(day_date(observed_kabul))), color="tab:red", lw=2,
               label="observed (15 Aug)")
    a1.axvline(mdates.date2num(np.datetime64(day_date(end_day))), color="grey", lw=0.8, ls=":",
               label="end of the run (right of it: held)")
    a1.set_yticks(y)
    a1.set_yticklabels(names)
    a1.xaxis_date()
    _date_axis(a1)
    a1.set_xlabel("Kabul's fall date (2021): median, 25-75 %, 10-90 %")
    a1.legend(fontsize=8)
    a2.axvline(1, color="tab:red", lw=2, label="observed (Panjshir)")
    a2.set_xlabel("capitals held on 31 August: mean (diamond), 25-75 %, 10-90 %")
    a2.legend(fontsize=8)
    for ax in (a1, a2):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig, (a1, a2)


def sweep_response(x: np.ndarray, y: np.ndarray, x_label: str, y_label: str, ax=None, bins: int = 8):
    """A metric against a swept parameter: point means as dots, binned median with 10-90 % band."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.2))
    ax.plot(x, y, ".", color="0.6", ms=3, alpha=0.6)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, min(bins, len(np.unique(x))) + 1)))
    if len(edges) > 2:
        idx = np.clip(np.digitize(x, edges[1:-1]), 0, len(edges) - 2)
        centres = np.array([x[idx == b].mean() for b in range(len(edges) - 1) if (idx == b).any()])
        qs = np.array([np.percentile(y[idx == b], [10, 50, 90]) for b in range(len(edges) - 1) if (idx == b).any()])
        ax.fill_between(centres, qs[:, 0], qs[:, 2], color="tab:blue", alpha=0.25)
        ax.plot(centres, qs[:, 1], color="tab:blue", lw=2)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    return ax.figure, ax


def sweep_heatmap(x: np.ndarray, y: np.ndarray, z: np.ndarray, x_label: str, y_label: str, z_label: str,
                  title: str, bins: int = 6):
    """Mean of z over a grid of two swept parameters (exact values for grids, bins for designs)."""
    def cells(v):
        u = np.unique(v)
        if len(u) <= 12:
            return u, np.searchsorted(u, v)
        edges = np.quantile(v, np.linspace(0, 1, bins + 1))
        return 0.5 * (edges[1:] + edges[:-1]), np.clip(np.digitize(v, edges[1:-1]), 0, bins - 1)

    xs, xi = cells(x)
    ys, yi = cells(y)
    grid = np.full((len(ys), len(xs)), np.nan)
    for a in range(len(xs)):
        for b in range(len(ys)):
            sel = (xi == a) & (yi == b)
            if sel.any():
                grid[b, a] = z[sel].mean()
    fig, ax = plt.subplots(figsize=(6, 4.8))
    im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([f"{v:.3g}" for v in xs], rotation=45)
    ax.set_yticks(range(len(ys)))
    ax.set_yticklabels([f"{v:.3g}" for v in ys])
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    fig.colorbar(im, ax=ax).set_label(z_label)
    ax.set_title(title)
    fig.tight_layout()
    return fig, ax


def network_state(lon: np.ndarray, lat: np.ndarray, names: list[str], edges: list[tuple[int, int]],
                  control: np.ndarray, is_held: np.ndarray, road_open: np.ndarray, title: str):
    """One day of one run: each capital coloured by the Taliban share of its province's districts (a cross once
    the capital has fallen), each road link solid while open for the government and dashed red once cut."""
    fig, ax = plt.subplots(figsize=(8.5, 6.2))
    for (a, b), is_open in zip(edges, road_open):
        ax.plot([lon[a], lon[b]], [lat[a], lat[b]], color="0.55" if is_open else "tab:red",
                ls="-" if is_open else "--", lw=1.6 if is_open else 1.2, zorder=1)
    sc = ax.scatter(lon[is_held], lat[is_held], c=control[is_held], cmap="RdYlGn_r", vmin=0, vmax=1, s=150,
                    edgecolor="black", lw=0.6, zorder=3, label="capital held by the government")
    ax.scatter(lon[~is_held], lat[~is_held], marker="X", s=170, color="black", zorder=3,
               label="capital fallen to the Taliban")
    for i, name in enumerate(names):
        ax.annotate(name, (lon[i], lat[i]), xytext=(5, 4), textcoords="offset points", fontsize=7, zorder=4)
    fig.colorbar(sc, ax=ax, shrink=0.75).set_label("share of the province's districts under Taliban control")
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_aspect(1.0 / np.cos(np.deg2rad(np.mean(lat))))
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return fig, ax


def comparison_overlay(names: list[str], held: list[HeldBands], start_days: list[int], fall_median: np.ndarray,
                       capital_names: list[str], observed_days: np.ndarray, differences: dict[str, list],
                       events: list[list[tuple]], end_day: int, title: str):
    """Several scenarios on common axes: the capitals held each day (median and 50 % band of each, the observed
    steps, each scenario's dated events as ticks on its own colour), the order of the falls (each capital's median
    fall date per scenario, capitals in observed order), and the paired differences from the first scenario with
    their 95 % intervals (one panel per outcome).

    fall_median: (scenarios, capitals) median fall day, end_day + 1 where the median run holds the capital;
    differences: {outcome label: [(mean, half-width) for each scenario after the first]}; events: per scenario,
    [(day, label)]."""
    from matplotlib.gridspec import GridSpec

    from .world import day_index

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n_cap = len(capital_names)
    fig = plt.figure(figsize=(16, 10.5))
    gs = GridSpec(2, 4, figure=fig, width_ratios=[1, 1, 1, 1.15], height_ratios=[1.25, 1], hspace=0.35, wspace=0.45)
    ax_held = fig.add_subplot(gs[0, :3])
    first = min(start_days)
    days = np.arange(first, end_day + 1)
    obs_held = [n_cap - np.sum((observed_days >= 0) & (observed_days <= d)) for d in days]
    ax_held.step(_dates(days), obs_held, where="post", color="black", lw=2, ls="--", label="observed")
    zoom = max(first, day_index(dt.date(2021, 7, 15)))  # the collapse; earlier events are listed at the left
    early = []
    for k, (name, bands, s0) in enumerate(zip(names, held, start_days)):
        c = colours[k % len(colours)]
        d = _dates(np.arange(s0, s0 + bands.values.shape[1]))
        q = bands.values  # percentiles 5, 25, 50, 75, 95 (metrics.HELD_BANDS)
        ax_held.fill_between(d, q[1], q[3], step="post", color=c, alpha=0.18)
        ax_held.step(d, q[2], where="post", color=c, lw=2, label=f"{name}: median, 50 % band")
        for day, label in events[k]:
            if day < zoom:
                early.append((c, f"{name}: {label} from {day_date(int(day)):%d %b}"))
                continue
            x = mdates.date2num(np.datetime64(day_date(int(day))))
            ax_held.axvline(x, color=c, lw=1, ls=":", alpha=0.9)
            ax_held.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                             color=c, va="top", ha="right", xytext=(-2, -3), textcoords="offset points")
    for c, text in dict.fromkeys(early):  # before the zoomed axis: in the legend, as dotted entries
        ax_held.plot([], [], color=c, lw=1, ls=":", label=f"{text} (before the axis)")
    ax_held.set_xlim(mdates.date2num(np.datetime64(day_date(zoom))),
                     mdates.date2num(np.datetime64(day_date(end_day + 1))))
    ax_held.set_ylim(0, n_cap + 1)
    ax_held.set_ylabel("provincial capitals held by the government")
    _date_axis(ax_held)
    ax_held.grid(alpha=0.3)
    ax_held.legend(loc="lower left", fontsize=8)
    ax_held.set_title("Capitals held (dotted: each scenario's dated events, in its colour)", fontsize=10)

    ax_order = fig.add_subplot(gs[:, 3])
    obs = np.where(observed_days >= 0, observed_days, end_day + 1).astype(float)
    order = np.argsort(obs, kind="stable")[::-1]  # the first to fall at the top
    y = np.arange(n_cap)
    ax_order.plot(mdates.date2num(_dates(np.minimum(obs[order], end_day + 1))), y, "x", color="black", ms=6,
                  label="observed")
    for k, name in enumerate(names):
        c = colours[k % len(colours)]
        ax_order.plot(mdates.date2num(_dates(fall_median[k, order])), y + (k - (len(names) - 1) / 2) * 0.18, "o",
                      color=c, ms=4, label=name)
    ax_order.axvline(mdates.date2num(np.datetime64(day_date(end_day + 1))), color="grey", lw=0.8, ls=":")
    ax_order.set_yticks(y)
    ax_order.set_yticklabels([capital_names[i] for i in order], fontsize=7)
    ax_order.xaxis_date()
    _date_axis(ax_order)
    ax_order.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax_order.grid(alpha=0.3)
    ax_order.set_xlabel("median fall date (right of the dotted line: held)", fontsize=8)
    ax_order.set_title("Order of the falls", fontsize=10)
    ax_order.legend(fontsize=7, loc="lower left")

    others = names[1:]
    for j, (label, values) in enumerate(list(differences.items())[:3]):
        ax = fig.add_subplot(gs[1, j])
        yy = np.arange(len(others))[::-1]
        for row, (k, (mean, half)) in zip(yy, enumerate(values, start=1)):
            c = colours[k % len(colours)]
            if np.isfinite(mean):
                ax.errorbar([mean], [row], xerr=[[half if np.isfinite(half) else 0]], fmt="o", color=c, capsize=4)
                ax.annotate(f"{mean:+.2f}".replace("+0.00", "0.00").replace("-0.00", "0.00"), (mean, row),
                            xytext=(0, 7), textcoords="offset points", ha="center", fontsize=8)
        ax.axvline(0, color="grey", lw=1)
        ax.set_yticks(yy)
        ax.set_yticklabels(others if j == 0 else [""] * len(others), fontsize=8)
        ax.set_ylim(-0.7, len(others) - 0.3)
        ax.set_xlabel(label, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        if j == 0:
            ax.set_title(f"Paired differences from {names[0]} (mean, 95 % interval)", fontsize=10, loc="left")
    fig.suptitle(title)
    return fig, fig.axes
