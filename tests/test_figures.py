"""The figures' building blocks: the country outline and the map projection, the label placer, number formats,
the sweep's effect sizes, Pareto front and grid figure (the ABC figures: tests/test_sweep.py)."""

import itertools

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from sim import plots
from sim.report import fmt_bin_edges, fmt_num, fmt_value, pareto_front


def _capitals(world):
    lon = np.array([p.lon for p in world.record.provinces])
    lat = np.array([p.lat for p in world.record.provinces])
    return lon, lat


def test_the_outline_loads_and_holds_every_capital(world):
    rings = plots.load_outline()
    assert rings and all(r.shape[1] == 2 and np.array_equal(r[0], r[-1]) for r in rings)
    lon, lat = _capitals(world)
    ring = max(rings, key=len)
    x, y = plots.albers(ring[:, 0], ring[:, 1])
    px, py = plots.albers(lon, lat)
    inside = MplPath(np.column_stack([x, y])).contains_points(np.column_stack([px, py]))
    assert inside.all(), [world.names[i] for i in np.flatnonzero(~inside)]
    # Equal-area: the projected outline's area is Afghanistan's (652,864 km2 by Natural Earth's own measure;
    # the 1:50m line and the spherical Earth allow a few per cent).
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    assert 630_000 < area < 675_000


def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("kind", ["collapse_map", "network_state"])
def test_map_labels_of_the_34_capitals_do_not_overlap(world, kind):
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation, Text

    lon, lat = _capitals(world)
    names = [p.capital.split(" (")[0] for p in world.record.provinces]
    edges = list(zip(world.edge_a.tolist(), world.edge_b.tolist()))
    n = len(names)
    if kind == "collapse_map":
        fig, ax = plots.collapse_map(lon, lat, names, edges, np.linspace(80, 120, n), np.arange(1, n + 1), "t", "v")
    else:
        fig, ax = plots.network_state(lon, lat, names, edges, np.linspace(0, 1, n), np.arange(n) % 3 > 0,
                                      np.ones(len(edges), bool), "t")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = [a for a in ax.texts if isinstance(a, Annotation)]
    assert len(labels) == n
    boxes = [Text.get_window_extent(a, r) for a in labels]  # the text alone, without its leader line
    frame = ax.get_window_extent(r)
    for a, b in itertools.combinations(range(n), 2):
        assert not _boxes_overlap(boxes[a], boxes[b]), (labels[a].get_text(), labels[b].get_text())
    for a, box in zip(labels, boxes):  # inside the map: none cut off ("Asadabad (22" was)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, a.get_text()
    plt.close(fig)


def test_place_labels_separates_a_tight_cluster():
    rng = np.random.default_rng(5)
    anchors = rng.uniform(0, 60, size=(12, 2)) + 200  # twelve points in a 60-point square
    sizes = np.column_stack([rng.uniform(30, 70, 12), np.full(12, 9.0)])
    off = plots.place_labels(anchors, sizes, (0, 0, 460, 460), marker=4)
    c = anchors + off
    lo, hi = c - sizes / 2, c + sizes / 2
    for a, b in itertools.combinations(range(12), 2):
        assert not (lo[a, 0] < hi[b, 0] and lo[b, 0] < hi[a, 0] and lo[a, 1] < hi[b, 1] and lo[b, 1] < hi[a, 1])
    assert np.array_equal(off, plots.place_labels(anchors, sizes, (0, 0, 460, 460), marker=4))  # deterministic


def test_signed_zero_and_bin_labels():
    assert fmt_num(-0.0) == "0.00" and fmt_num(-0.004) == "0.00" and fmt_num(-0.006) == "-0.01"
    assert fmt_num(-0.001, "{:+.2f}") == "+0.00" and fmt_num(0.0, "{:+.1f}") == "+0.0"
    assert fmt_num(-0.04, "{:+.1f}") == "+0.0" and fmt_num(-0.05001, "{:+.1f}") == "-0.1"
    assert fmt_num(-2e-9, "{:.3g}") == "-2e-09"  # not a zero at this precision
    assert fmt_num(-0.0001, "{:>7.2f}") == "   0.00"
    assert fmt_value(float("nan")) == "n/a"
    assert fmt_bin_edges([0.00015999999999999999, 0.4, 0.8]) == ["[0.00016, 0.4]", "(0.4, 0.8]"]
    # Close edges get the digits that keep them apart, and no more.
    assert fmt_bin_edges([0.1, 0.1001, 0.2]) == ["[0.1, 0.1001]", "(0.1001, 0.2]"]
    labels, cell = plots.parameter_bins(np.linspace(0.00016, 0.4, 50), bins=5)
    assert len(labels) == 5 and all(len(s) < 20 for s in labels) and np.bincount(cell).tolist() == [10] * 5


def test_the_report_tables_print_no_negative_zero():
    from sim.report import metrics_table

    per_run = {"median": -0.001, "p10": -0.2, "p90": 0.3}
    card = {"per_run": {"tau_b": per_run, "kabul_error_days": {"median": -0.01, "p10": -3.0, "p90": 0.0}},
            "nulls": {"random order (mean)": {"tau_b": -0.0004, "kabul_error_days": -0.02}},
            "ensemble": {"tau_b_of_median_days": -0.001, "spearman_of_median_days": 0.1, "crps_mean_days": 1.0,
                         "brier_fallen_by_aug15": 0.1},
            "skill": {"tau_b_model_minus_best_null": -0.001, "best_null": "random order (mean)"},
            "fall_how_per_run": {"fighting": 1, "negotiated": 1, "surrender": 1}}
    text = metrics_table(card)
    assert "-0.0" not in text and "+0.0 [-3.0, +0.0]" in text and "+0.0*" in text


def test_pareto_front_is_the_undominated_set():
    rng = np.random.default_rng(1)
    h, lo = rng.normal(size=60), rng.normal(size=60)
    h[3] = np.nan
    front = set(pareto_front(h, lo).tolist())
    for i in range(60):
        beaten = any((h[j] >= h[i]) and (lo[j] <= lo[i]) and (h[j] > h[i] or lo[j] < lo[i])
                     for j in range(60) if np.isfinite(h[j]))
        assert (i in front) == (np.isfinite(h[i]) and not beaten)
    assert pareto_front([0.5, 0.4, 0.3], [20, 5, 10]).tolist() == [0, 1]  # sorted by the higher-is-better score


def test_effect_sizes_rank_the_driving_parameter_first_and_the_grid_stays_bounded():
    import matplotlib.pyplot as plt
    import pandas as pd

    from sim.figures import SWEEP_METRICS, effect_sizes, effect_noise

    rng = np.random.default_rng(2)
    n, k = 300, 40
    table = pd.DataFrame(rng.uniform(size=(n, k)), columns=[f"p{i:02d}" for i in range(k)])
    for m in SWEEP_METRICS:
        table[m] = rng.normal(size=n)
    table["tau_b"] += 3 * table["p17"]  # one parameter moves one metric
    params = [c for c in table.columns if c.startswith("p")]
    eff = effect_sizes(table, params, SWEEP_METRICS)
    score = {p: max(v.values()) for p, v in eff.items()}
    assert max(score, key=score.get) == "p17"
    noise = effect_noise(table, params, SWEEP_METRICS)
    assert score["p17"] > 2 * noise["p17"] and np.median([score[p] for p in params if p != "p17"]) < 2 * noise["p00"]
    ranked = sorted(params, key=lambda p: -score[p])
    fig, axes = plots.sweep_grid({p: table[p].to_numpy() for p in ranked},
                                 {lab: table[m].to_numpy() for m, lab in SWEEP_METRICS.items()}, eff, "t", "note")
    w, h = fig.get_size_inches()
    assert axes.shape == (plots.SWEEP_GRID_ROWS, len(SWEEP_METRICS)) and w <= 14 and h <= 17
    plt.close(fig)
    fig, _ = plots.sweep_heatmap(table["p17"].to_numpy(), table["p01"].to_numpy(),
                                 [table["tau_b"].to_numpy(), table["mae_days"].to_numpy()], "p17", "p01",
                                 ["tau-b", "MAE"], "t", higher_is_better=[True, False])
    cells = [t.get_text() for ax in fig.axes[:2] for t in ax.texts]
    assert len(cells) == 2 * 25 and all("n=" in c for c in cells)  # the values are written in the cells
    plt.close(fig)
