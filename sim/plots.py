"""Figures from result arrays. Plots take results in and return (fig, axes); they never run the model.

Conventions: dates on time axes, units on every axis, a title that says what was run.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a display

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .metrics import HeldBands  # noqa: E402
from .report import fmt_bin_edges, fmt_num  # noqa: E402
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


# ------------------------------------------------------------------------------------------------------ the maps

OUTLINE_FILE = "afghanistan_outline.geojson"  # Natural Earth 1:50m, public domain (data/README.md)
# Albers equal-area conic for Afghanistan (29.4-38.5 N, 60.5-74.9 E): standard parallels at a sixth of the range
# from each end, centred on the country. Spherical Earth: the error against the ellipsoid is far below the scale.
ALBERS = {"lon0": 66.0, "lat0": 34.0, "lat1": 31.0, "lat2": 37.0}
EARTH_KM = 6371.0
MAP_SIZE = 12.0  # marker size (points) of a capital on the maps


def load_outline() -> list[np.ndarray]:
    """Afghanistan's outline from the shipped data folder: a list of closed rings, each (k, 2) lon, lat."""
    return [r.copy() for r in _outline_rings()]


@functools.lru_cache(maxsize=1)
def _outline_rings() -> tuple[np.ndarray, ...]:
    from . import data  # the data folder's one lookup (installed copy or checkout)

    path = Path(data.DATA_DIR) / OUTLINE_FILE
    try:
        gj = json.loads(path.read_text(encoding="utf-8"))
        geom = gj["features"][0]["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        rings = tuple(np.asarray(ring, dtype=float) for poly in polys for ring in poly)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise FileNotFoundError(f"{path}: the country outline the maps draw cannot be read ({exc}); it ships with "
                                "the package (tools/make_outline.py re-makes it)") from None
    return rings


def albers(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Longitude, latitude (degrees) to x, y (km) on the Albers equal-area conic centred on Afghanistan."""
    p = {k: np.deg2rad(v) for k, v in ALBERS.items()}
    n = (np.sin(p["lat1"]) + np.sin(p["lat2"])) / 2
    c = np.cos(p["lat1"]) ** 2 + 2 * n * np.sin(p["lat1"])
    rho = lambda phi: EARTH_KM * np.sqrt(c - 2 * n * np.sin(phi)) / n  # noqa: E731
    theta = n * (np.deg2rad(np.asarray(lon, float)) - p["lon0"])
    r = rho(np.deg2rad(np.asarray(lat, float)))
    return r * np.sin(theta), rho(p["lat0"]) - r * np.cos(theta)


def _map_frame(ax, graticule: bool = True, scale_bar: bool = True, pad_km: float = 40.0) -> None:
    """The country (filled, outlined), a 2-degree graticule labelled at the frame, a 200 km scale bar; equal
    aspect, no tick marks (the projection's x and y are km, not degrees)."""
    from matplotlib.patches import Polygon

    rings = _outline_rings()
    for ring in rings:
        x, y = albers(ring[:, 0], ring[:, 1])
        ax.add_patch(Polygon(np.column_stack([x, y]), closed=True, facecolor="#f4f1ea", edgecolor="0.35", lw=0.9,
                             zorder=0))
    allx, ally = albers(np.concatenate([r[:, 0] for r in rings]), np.concatenate([r[:, 1] for r in rings]))
    x0, x1, y0, y1 = allx.min() - pad_km, allx.max() + pad_km, ally.min() - pad_km, ally.max() + pad_km
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if graticule:
        lats, lons = np.linspace(28, 40, 121), np.linspace(58, 76, 181)
        for lo in range(60, 76, 2):
            gx, gy = albers(np.full_like(lats, lo), lats)
            ax.plot(gx, gy, color="0.8", lw=0.5, ls=":", zorder=0.5)
            k = np.flatnonzero((gy >= y0) & (gx >= x0) & (gx <= x1))
            if k.size:
                ax.text(gx[k[0]], y0, f"{lo}°E", fontsize=6.5, color="0.45", ha="center", va="bottom")
        for la in range(30, 40, 2):
            gx, gy = albers(lons, np.full_like(lons, la))
            ax.plot(gx, gy, color="0.8", lw=0.5, ls=":", zorder=0.5)
            k = np.flatnonzero((gx >= x0) & (gy >= y0) & (gy <= y1))
            if k.size:
                ax.text(x0, gy[k[0]], f" {la}°N", fontsize=6.5, color="0.45", ha="left", va="center")
    if scale_bar:
        bx, by = x1 - 260, y0 + 45
        ax.plot([bx, bx + 200], [by, by], color="0.2", lw=2.2, solid_capstyle="butt")
        ax.text(bx + 100, by + 12, "200 km", fontsize=7, ha="center", va="bottom", color="0.2")


def place_labels(anchors: np.ndarray, sizes: np.ndarray, bounds, marker: float = 6.0, gap: float = 2.0,
                 obstacles: np.ndarray | None = None) -> np.ndarray:
    """Offsets of label centres from their anchors, so that no two label boxes overlap, no box covers a marker,
    and every box stays inside `bounds`, as far as a simple search can.

    anchors: (n, 2) points and sizes: (n, 2) label widths and heights, in one display unit (points); bounds:
    (x0, y0, x1, y1); marker: the half-width of the square kept clear around each anchor (and around each row of
    `obstacles`, (m, 2) further points to keep clear). Each label tries 16 directions at growing distances; the
    labels are placed greedily (the most crowded first), then each is moved to its best spot given the others
    until nothing moves. Deterministic. Returns (n, 2) offsets; far ones deserve a leader line.
    """
    anchors = np.asarray(anchors, float)
    sizes = np.asarray(sizes, float)
    n = len(anchors)
    if n == 0:
        return np.zeros((0, 2))
    keep = anchors if obstacles is None else np.vstack([anchors, np.asarray(obstacles, float)])
    angles = np.deg2rad([0, 180, 30, -30, 150, -150, 60, -60, 120, -120, 90, -90, 15, -15, 165, -165])
    steps = np.array([0.0, 4.0, 9.0, 15.0, 23.0, 33.0, 45.0])
    # Candidate centres: the box's edge `gap` beyond the marker, in direction a, pushed out by a step.
    cand = np.zeros((n, len(steps) * len(angles), 2))
    pref = np.zeros(len(steps) * len(angles))
    k = 0
    for s_i, step in enumerate(steps):
        for a_i, a in enumerate(angles):
            reach = marker + gap + step
            cand[:, k, 0] = anchors[:, 0] + np.cos(a) * (sizes[:, 0] / 2 + reach)
            cand[:, k, 1] = anchors[:, 1] + np.sin(a) * (sizes[:, 1] / 2 + reach)
            pref[k] = 0.02 * s_i + 0.001 * a_i  # near and to the right first
            k += 1
    x0, y0, x1, y1 = bounds
    half = sizes[:, None, :] / 2
    lo, hi = cand - half, cand + half
    # The fixed costs of each candidate: leaving the bounds, covering a marker (the label's own included).
    out = (np.clip(x0 - lo[..., 0], 0, None) + np.clip(hi[..., 0] - x1, 0, None)
           + np.clip(y0 - lo[..., 1], 0, None) + np.clip(hi[..., 1] - y1, 0, None)) * sizes[:, None, 1] * 10
    m = marker + gap / 2
    ox = np.clip(np.minimum(hi[..., None, 0], keep[:, 0] + m) - np.maximum(lo[..., None, 0], keep[:, 0] - m), 0, None)
    oy = np.clip(np.minimum(hi[..., None, 1], keep[:, 1] + m) - np.maximum(lo[..., None, 1], keep[:, 1] - m), 0, None)
    fixed = out + (ox * oy).sum(-1) * 10 + pref

    def overlap(i, c, chosen, placed):
        """Area of candidate boxes c (k, 2) of label i overlapping the placed labels' boxes (with gap)."""
        others = [j for j in placed if j != i]
        if not others:
            return np.zeros(len(c))
        oc = np.array([cand[j, chosen[j]] for j in others])
        oh = sizes[others] / 2 + gap / 2
        h = sizes[i] / 2 + gap / 2
        dx = np.clip(np.minimum(c[:, None, 0] + h[0], oc[:, 0] + oh[:, 0])
                     - np.maximum(c[:, None, 0] - h[0], oc[:, 0] - oh[:, 0]), 0, None)
        dy = np.clip(np.minimum(c[:, None, 1] + h[1], oc[:, 1] + oh[:, 1])
                     - np.maximum(c[:, None, 1] - h[1], oc[:, 1] - oh[:, 1]), 0, None)
        return (dx * dy).sum(1)

    # The most crowded labels choose first: count the anchors within two label sizes.
    reach = 2 * sizes.max(0)
    crowd = ((np.abs(anchors[:, None, 0] - anchors[None, :, 0]) < reach[0])
             & (np.abs(anchors[:, None, 1] - anchors[None, :, 1]) < reach[1])).sum(1)
    order = np.argsort(-crowd, kind="stable")
    chosen = np.zeros(n, dtype=int)
    placed: list[int] = []
    for i in order:
        chosen[i] = int(np.argmin(fixed[i] + overlap(i, cand[i], chosen, placed) * 10))
        placed.append(int(i))
    for _ in range(25):
        moved = False
        for i in order:
            best = int(np.argmin(fixed[i] + overlap(i, cand[i], chosen, placed) * 10))
            if best != chosen[i]:
                chosen[i], moved = best, True
        if not moved:
            break
    return cand[np.arange(n), chosen] - anchors


def _label_points(ax, x, y, texts: list[str], fontsize: float, marker: float = MAP_SIZE / 2) -> list:
    """Annotate data points (x, y) with `texts`, placed by place_labels in points (call once the layout is final:
    the placement reads the axes' current size). A label moved off its point gets a thin leader line."""
    import matplotlib.patheffects as pe

    fig = ax.figure
    ax.apply_aspect()  # the equal aspect shrinks the axes box: the transform below is then the final one
    renderer = fig.canvas.get_renderer()
    to_pt = 72.0 / fig.dpi
    sizes = []
    for s in texts:
        t = ax.text(0, 0, s, fontsize=fontsize)
        bb = t.get_window_extent(renderer)
        sizes.append((bb.width * to_pt, bb.height * to_pt))
        t.remove()
    anchors = ax.transData.transform(np.column_stack([x, y])) * to_pt
    box = ax.get_window_extent(renderer)
    offsets = place_labels(anchors, np.array(sizes), (box.x0 * to_pt, box.y0 * to_pt, box.x1 * to_pt,
                                                      box.y1 * to_pt), marker=marker)
    near = marker + 2.0 + 4.5  # beyond the nearest candidate ring plus a step: draw a leader
    out = []
    for i, s in enumerate(texts):
        dx, dy = offsets[i]
        far = max(abs(dx) - sizes[i][0] / 2, abs(dy) - sizes[i][1] / 2) > near
        out.append(ax.annotate(s, (x[i], y[i]), xytext=(dx, dy), textcoords="offset points", ha="center",
                               va="center", fontsize=fontsize, zorder=5,
                               path_effects=[pe.withStroke(linewidth=2.2, foreground="white")],
                               arrowprops=dict(arrowstyle="-", color="0.35", lw=0.6, shrinkA=0, shrinkB=marker)
                               if far else None))
    return out


def _date_colorbar(cb) -> None:
    lo, hi = cb.mappable.norm.vmin, cb.mappable.norm.vmax
    ticks = [t for t in cb.get_ticks() if lo <= t <= hi]  # ticks beyond the scale would stretch the bar
    cb.set_ticks(ticks)
    cb.set_ticklabels([day_date(int(t)).strftime("%d %b") for t in ticks])


def collapse_map(lon: np.ndarray, lat: np.ndarray, names: list[str], edges: list[tuple[int, int]],
                 value: np.ndarray, observed_rank: np.ndarray, title: str, value_label: str,
                 as_dates: bool = True, vmin=None, vmax=None):
    """Capitals at their coordinates on Afghanistan's outline (Albers equal-area) and the road links, coloured by
    `value` (a median fall day, or a probability), each labelled with its observed order of fall."""
    fig, ax = plt.subplots(figsize=(10, 7.6))
    x, y = albers(lon, lat)
    _map_frame(ax)
    for a, b in edges:
        ax.plot([x[a], x[b]], [y[a], y[b]], color="0.6", lw=1.1, zorder=1)
    cmap = plt.get_cmap("viridis")
    extend = "neither"
    if as_dates and vmax is None:
        # A late hold-out (Panjshir) would stretch the scale: stop it at the 90th percentile plus a week.
        vmax = min(float(np.max(value)), float(np.percentile(value, 90)) + 7)
        extend = "max" if np.max(value) > vmax else "neither"
    sc = ax.scatter(x, y, c=value, cmap=cmap, s=MAP_SIZE ** 2, edgecolor="black", lw=0.6, zorder=3, vmin=vmin,
                    vmax=vmax)
    cb = fig.colorbar(sc, ax=ax, shrink=0.75, extend=extend, pad=0.02)
    cb.set_label(value_label)
    if as_dates:
        _date_colorbar(cb)
    ax.set_title(title + "\n(n) = observed order of fall; Albers equal-area, outline: Natural Earth")
    fig.tight_layout()
    _label_points(ax, x, y, [f"{name} ({observed_rank[i]})" for i, name in enumerate(names)], fontsize=7.5)
    return fig, ax


def control_by_date(lon: np.ndarray, lat: np.ndarray, edges: list[tuple[int, int]], share_held: np.ndarray,
                    observed_held: np.ndarray, dates: list[dt.date], title: str, kabul: int | None = None):
    """Small multiples, one map per date: each capital coloured by the share of runs in which the government
    still holds it at the end of that day; a black ring where the record has it held that day, a cross where it
    had fallen. share_held, observed_held: (len(dates), n) shares and booleans; a row of NaN is a date outside the
    run (drawn with the observed state only)."""
    from matplotlib.lines import Line2D

    ncol = 3 if len(dates) > 4 else max(len(dates), 1)
    nrow = int(np.ceil(len(dates) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.3 * ncol + 1.2, 3.55 * nrow + 1.0), squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.87, bottom=0.8 / (3.55 * nrow + 1.0), top=1 - 0.75 / (3.55 * nrow + 1.0),
                        wspace=0.04, hspace=0.22)
    x, y = albers(lon, lat)
    sc = None
    for k, ax in enumerate(axes.ravel()):
        if k >= len(dates):
            ax.axis("off")
            continue
        _map_frame(ax, graticule=False, scale_bar=k == 0)
        for a, b in edges:
            ax.plot([x[a], x[b]], [y[a], y[b]], color="0.75", lw=0.7, zorder=1)
        held = observed_held[k]
        ran = np.all(np.isfinite(share_held[k]))
        if ran:
            sc = ax.scatter(x, y, c=share_held[k], cmap="RdYlBu", vmin=0, vmax=1, s=55, zorder=3,
                            edgecolor=np.where(held, "black", "0.45"), linewidths=np.where(held, 1.3, 0.5))
        else:
            ax.scatter(x[held], y[held], s=55, facecolor="white", edgecolor="black", lw=1.3, zorder=3)
        ax.scatter(x[~held], y[~held], marker="x", s=22, color="black", lw=1.1, zorder=4)
        if kabul is not None:
            ax.annotate("Kabul", (x[kabul], y[kabul]), xytext=(22, -26), textcoords="offset points", fontsize=7,
                        arrowprops=dict(arrowstyle="-", color="0.3", lw=0.6, shrinkA=0, shrinkB=4))
        sim = f"simulated mean {np.sum(share_held[k]):.1f} held" if ran else "not simulated (outside the run)"
        ax.set_title(f"{dates[k].day} {dates[k]:%B}\nobserved {int(held.sum())} held; {sim}", fontsize=9)
    if sc is not None:
        cax = fig.add_axes((0.895, 0.25, 0.018, 0.5))
        fig.colorbar(sc, cax=cax).set_label("share of runs in which the government holds the capital")
    handles = [Line2D([], [], marker="o", ls="", mfc="white", mec="black", mew=1.3, ms=7,
                      label="observed: held that day (ring)"),
               Line2D([], [], marker="x", ls="", color="black", ms=6, label="observed: fallen by that day")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle(title)
    return fig, axes


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


def parameter_bins(v: np.ndarray, bins: int = 5, max_exact: int = 12) -> tuple[list[str], np.ndarray]:
    """Cells of a swept parameter: its values when there are few (a grid), else `bins` bins of equal count (a
    design). Returns the cell labels (values to 3 significant digits, or '(lo, hi]' bins) and each point's cell."""
    v = np.asarray(v, float)
    u = np.unique(v)
    if len(u) <= max_exact:
        return [fmt_num(x, "{:.3g}") for x in u], np.searchsorted(u, v)
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)))
    return fmt_bin_edges(edges), np.clip(np.searchsorted(edges, v, side="left") - 1, 0, len(edges) - 2)


def sweep_response(x: np.ndarray, y: np.ndarray, x_label: str, y_label: str, ax=None, bins: int = 8):
    """A metric against a swept parameter: point means as dots, binned median with 10-90 % band (points where the
    metric is undefined, NaN, are left out)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.2))
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x, float)[ok], np.asarray(y, float)[ok]
    ax.plot(x, y, ".", color="0.6", ms=3, alpha=0.6)
    u = np.unique(x)
    if 1 < len(u) <= 12:  # a grid or a design on levels (Morris): one bin per value, never two values merged
        idx = np.searchsorted(u, x)
        qs = np.array([np.percentile(y[idx == b], [10, 50, 90]) for b in range(len(u))])
        ax.fill_between(u, qs[:, 0], qs[:, 2], color="tab:blue", alpha=0.25)
        ax.plot(u, qs[:, 1], color="tab:blue", lw=2, marker="o", ms=3)
        edges = []
    else:
        edges = np.unique(np.quantile(x, np.linspace(0, 1, min(bins, len(u)) + 1))) if len(x) else []
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


#: The sweep grid draws at most this many parameters (rows): the figure's size stays bounded however many are swept.
SWEEP_GRID_ROWS = 6


def sweep_grid(params: dict[str, np.ndarray], metrics: dict[str, np.ndarray], effects: dict[str, dict[str, float]],
               title: str, note: str = ""):
    """One row per parameter (at most SWEEP_GRID_ROWS, in the order given: pass the top ones by effect), one column
    per metric: each metric's point means against the parameter (sweep_response), the effect size in the corner.
    effects[param][metric]: the standardised spread of the binned means (figures.effect_sizes)."""
    names = list(params)[:SWEEP_GRID_ROWS]
    cols = list(metrics)
    fig, axes = plt.subplots(len(names), len(cols), figsize=(3.3 * len(cols), 2.45 * len(names) + 1.1),
                             squeeze=False)
    for i, name in enumerate(names):
        for j, label in enumerate(cols):
            ax = axes[i][j]
            sweep_response(np.asarray(params[name], float), np.asarray(metrics[label], float), name, "", ax=ax)
            if i == 0:
                ax.set_title(label, fontsize=9)
            ax.xaxis.label.set_fontsize(8)
            ax.tick_params(labelsize=7)
            e = effects.get(name, {}).get(label)
            if e is not None:
                ax.text(0.97, 0.94, f"effect {e:.2f}", transform=ax.transAxes, ha="right", va="top", fontsize=7,
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.7, pad=1))
    width = int(12 * fig.get_figwidth())  # about the characters per line a 10-point title fits
    fig.suptitle("\n".join(textwrap.wrap(title, width) + textwrap.wrap(note, width)), fontsize=10)
    fig.tight_layout()
    return fig, axes


def sweep_heatmap(x: np.ndarray, y: np.ndarray, z, x_label: str, y_label: str, z_label, title: str,
                  bins: int = 5, higher_is_better=True):
    """Mean of z over the cells of two swept parameters (their values for a grid, bins of equal count for a
    design), each cell's value written in it (and its number of points when binned). z may be a list of arrays,
    one panel each, with z_label and higher_is_better lists to match; the colour scale runs dark to bright from
    worse to better."""
    zs = list(z) if isinstance(z, (list, tuple)) else [z]
    labels = list(z_label) if isinstance(z_label, (list, tuple)) else [z_label]
    better = (list(higher_is_better) if isinstance(higher_is_better, (list, tuple))
              else [higher_is_better] * len(zs))
    xs, xi = parameter_bins(x, bins)
    ys, yi = parameter_bins(y, bins)
    binned = len(np.unique(x)) > 12 or len(np.unique(y)) > 12
    fig, axes = plt.subplots(1, len(zs), figsize=(5.4 * len(zs) + 0.6, 4.9), squeeze=False)
    for ax, zv, lab, hib in zip(axes[0], zs, labels, better):
        grid = np.full((len(ys), len(xs)), np.nan)
        count = np.zeros((len(ys), len(xs)), dtype=int)
        for a in range(len(xs)):
            for b in range(len(ys)):
                sel = (xi == a) & (yi == b)
                count[b, a] = int(sel.sum())
                if sel.any():
                    grid[b, a] = np.nanmean(np.asarray(zv, float)[sel]) if np.isfinite(
                        np.asarray(zv, float)[sel]).any() else np.nan
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis" if hib else "viridis_r")
        lo, hi = np.nanmin(grid), np.nanmax(grid)
        for a in range(len(xs)):
            for b in range(len(ys)):
                if np.isfinite(grid[b, a]):
                    dark = (grid[b, a] - lo) / (hi - lo) < 0.5 if hi > lo else True
                    dark = dark if hib else not dark
                    text = fmt_num(grid[b, a], "{:.2f}" if abs(hi) < 10 else "{:.1f}")
                    if binned:
                        text += f"\nn={count[b, a]}"
                    ax.text(a, b, text, ha="center", va="center", fontsize=7 if binned else 8,
                            color="white" if dark else "black")
        ax.set_xticks(range(len(xs)))
        ax.set_xticklabels(xs, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(range(len(ys)))
        ax.set_yticklabels(ys, fontsize=7)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        fig.colorbar(im, ax=ax, shrink=0.85).set_label(lab)
        ax.set_title(f"mean {lab} ({'higher' if hib else 'lower'} is better)", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, axes[0][0] if len(zs) == 1 else axes[0]


def sweep_tradeoff(tau_b: np.ndarray, kabul_error: np.ndarray, front: np.ndarray, point_ids: np.ndarray,
                   title: str):
    """Each sweep point's mean tau-b against its mean Kabul |error|, the Pareto front (no other point is better
    on both) joined and labelled with the point ids."""
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    ax.plot(tau_b, kabul_error, ".", color="0.6", ms=5, label="sweep point (mean over its runs)")
    f = np.asarray(front)
    order = f[np.argsort(tau_b[f])]
    ax.step(tau_b[order], kabul_error[order], where="post", color="tab:red", lw=1, alpha=0.6)
    ax.plot(tau_b[order], kabul_error[order], "o", color="tab:red", ms=6, label="Pareto front")
    for k in order:
        ax.annotate(str(point_ids[k]), (tau_b[k], kabul_error[k]), xytext=(4, 4), textcoords="offset points",
                    fontsize=7, color="tab:red")
    ax.set_xlabel("mean tau-b with the observed order (higher is better)")
    ax.set_ylabel("mean Kabul |error| (days; lower is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig, ax


def abc_marginals(names: list[str], samples: np.ndarray, accepted: np.ndarray, title: str, cols: int = 6):
    """ABC rejection, one panel per parameter: the prior samples and the accepted ones on the same bins (over the
    prior's range), as densities, with the accepted median."""
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.3 * rows + 0.6), squeeze=False)
    samples = np.asarray(samples, float)
    accepted = np.asarray(accepted, bool)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        v = samples[:, k]
        edges = np.linspace(np.nanmin(v), np.nanmax(v), 16) if np.nanmax(v) > np.nanmin(v) else 10
        ax.hist(v, bins=edges, color="0.82", density=True, label="prior samples")
        if accepted.any():
            ax.hist(v[accepted], bins=edges, color="tab:blue", alpha=0.7, density=True, label="accepted")
            ax.axvline(np.median(v[accepted]), color="tab:blue", lw=1.2, ls="--", label="accepted median")
        ax.set_xlabel(name, fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for k in range(len(names), rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper right", ncol=3, fontsize=8, frameon=False)
    return fig, axes


def abc_pairs(names: list[str], samples: np.ndarray, accepted: np.ndarray, title: str):
    """ABC rejection: each pair of the given parameters once (a lower triangle; the marginals are in
    abc_marginals), rejected samples grey, accepted blue."""
    samples = np.asarray(samples, float)
    accepted = np.asarray(accepted, bool)
    k = len(names)
    n = max(k - 1, 1)
    fig, axes = plt.subplots(n, n, figsize=(2.9 * n + 0.4, 2.7 * n + 0.6), squeeze=False)
    for r in range(1, k):
        for c in range(n):
            ax = axes[r - 1][c]
            if c >= r:
                ax.axis("off")
                continue
            ax.plot(samples[~accepted, c], samples[~accepted, r], ".", color="0.8", ms=2.5)
            ax.plot(samples[accepted, c], samples[accepted, r], ".", color="tab:blue", ms=4)
            if r == k - 1:
                ax.set_xlabel(names[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(names[r], fontsize=8)
            ax.tick_params(labelsize=7)
    if n > 1:
        axes[0][n - 1].text(0.0, 0.9, "grey: rejected prior samples\nblue: accepted", fontsize=8, va="top",
                            transform=axes[0][n - 1].transAxes)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, axes


def network_state(lon: np.ndarray, lat: np.ndarray, names: list[str], edges: list[tuple[int, int]],
                  control: np.ndarray, is_held: np.ndarray, road_open: np.ndarray, title: str):
    """One day of one run on Afghanistan's outline (Albers equal-area): each capital coloured by the Taliban share
    of its province's districts (a cross once the capital has fallen), each road link solid while open for the
    government and dashed red once cut."""
    fig, ax = plt.subplots(figsize=(8.5, 6.4))
    x, y = albers(lon, lat)
    _map_frame(ax, graticule=False)
    for (a, b), is_open in zip(edges, road_open):
        ax.plot([x[a], x[b]], [y[a], y[b]], color="0.55" if is_open else "tab:red",
                ls="-" if is_open else "--", lw=1.6 if is_open else 1.2, zorder=1)
    sc = ax.scatter(x[is_held], y[is_held], c=control[is_held], cmap="RdYlGn_r", vmin=0, vmax=1, s=MAP_SIZE ** 2,
                    edgecolor="black", lw=0.6, zorder=3, label="capital held by the government")
    ax.scatter(x[~is_held], y[~is_held], marker="X", s=170, color="black", zorder=3,
               label="capital fallen to the Taliban")
    fig.colorbar(sc, ax=ax, shrink=0.75, pad=0.02).set_label("share of the province's districts under Taliban control")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8, frameon=False)
    ax.set_title(title)
    fig.tight_layout()
    _label_points(ax, x, y, list(names), fontsize=7)
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
