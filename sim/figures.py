"""`run.py plot`: figures and a report page from stored results only (never re-runs the model).

A scenario run folder (fall_days.parquet + metrics.json) gets: fall_days (distribution per capital against the
observed date), held (capitals held over time), map_median and map_p15 (the network map coloured by median fall
date and by the chance of having fallen by 15 August), metrics (per-run metrics against the null models) and
report.html. A sweep folder (points.parquet + runs.parquet/) gets: sweep_response (each metric against each swept
parameter), sweep_heatmap_* (the mean of a metric over pairs of parameters) and report.html. Several run folders
together also get a side-by-side comparison (Kabul's fall date, capitals held on 31 August).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from pathlib import Path

import numpy as np

from . import folders, plots, store
from .compare import HELD_ON, outcomes
from .metrics import HeldBands, observed, per_run_metrics, seeded_capitals
from .rules import NOT_FALLEN
from .report import (DAY_ERROR_KEYS, METRIC_LABELS, OBSERVED_TIMING_MARK, fmt_day, fmt_interval, fmt_num,
                     fmt_value, pareto_front)
from .seeding import observed_fall_days
from .world import World, day_index

BRIER_DAY = day_index(dt.date(2021, 8, 15))
#: The dates of the small-multiples map of control (map_control_by_date).
CONTROL_DATES = (dt.date(2021, 7, 1), dt.date(2021, 8, 1), dt.date(2021, 8, 8), dt.date(2021, 8, 12),
                 dt.date(2021, 8, 15), dt.date(2021, 8, 31))
SWEEP_METRICS = {"tau_b": "tau-b with the observed order", "abs_kabul_error": "Kabul |error| (days)",
                 "mae_days": "mean absolute error (days)", "held_aug31": "capitals held on 31 Aug"}


def _save(fig, folder: Path, stem: str) -> list[Path]:
    """PNG and SVG, each written atomically."""
    import matplotlib.pyplot as plt

    paths = [folder / f"{stem}.png", folder / f"{stem}.svg"]
    folders.save_figure(fig, paths[0], dpi=130, bbox_inches="tight")
    folders.save_figure(fig, paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _write_page(path: Path, title: str, body: list[str]) -> Path:
    folders.write_text(path, _page(title, body))
    return path


def _read_json(path: Path, keys: tuple[str, ...]) -> dict:
    """A JSON file this project wrote, with the keys a figure needs; ResultProblem otherwise."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise store.ResultProblem(f"{path}: cannot be read as JSON ({exc})") from None
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise store.ResultProblem(f"{path}: not what this project writes (missing {', '.join(missing)})")
    return obj


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img src="data:image/png;base64,{data}" alt="{path.stem}"><figcaption>{path.name}</figcaption></figure>'


def _page(title: str, body: list[str]) -> str:
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:13px;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}"
             "td:first-child,th:first-child{text-align:left}figure{margin:1.5em 0}pre{font-size:12px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>{''.join(body)}</body></html>")


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def plot_run(folder: Path, world: World) -> list[Path]:
    meta, result = store.load_run(folder, world)  # checked: ours, checksums, every row in place
    card = _read_json(folder / "metrics.json", ("capitals", "per_run", "nulls", "ensemble"))
    name = meta.get("name", folder.name)
    what = f"{name}: {result.n_runs:,} runs, {meta['start']} to {meta['end']}"
    obs_all = observed_fall_days(world)
    obs = observed(world, result.start_day, result.end_day, seeded_capitals(result))
    # Censored fall days as small integers, and statistics column by column: a million runs fit in memory.
    days = np.where(result.fall_day == NOT_FALLEN, result.end_day + 1, result.fall_day).astype(np.int16)
    column = lambda i, fn: np.array([fn(days[:, j]) for j in i])  # noqa: E731
    paths = []

    tol = np.array([p.tolerance_days for p in world.record.provinces])
    obs_censored = np.where(obs_all < 0, result.end_day + 1, obs_all)
    idx = obs.index
    fig, _ = plots.fall_day_distributions([f"{world.record.provinces[i].capital.split(' (')[0]} ({world.names[i]})"
                                           for i in idx], None, obs_censored[idx], tol[idx],
                                          result.end_day, f"When each capital fell: {what}",
                                          quantiles=column(idx, lambda x: np.percentile(x, [10, 25, 50, 75, 90])).T)
    paths += _save(fig, folder, "fall_days")

    held = HeldBands.from_fall_days(result.fall_day, result.start_day, result.end_day)
    fig, _ = plots.held_over_time(held, result.start_day, obs_all, world.n_provinces, f"Capitals held: {what}")
    paths += _save(fig, folder, "held")

    lon = np.array([p.lon for p in world.record.provinces])
    lat = np.array([p.lat for p in world.record.provinces])
    edges = list(zip(world.edge_a.tolist(), world.edge_b.tolist()))
    rank = (np.argsort(np.argsort(obs_censored, kind="stable"), kind="stable") + 1)
    names = [p.capital.split(" (")[0] for p in world.record.provinces]
    every = range(world.n_provinces)
    fig, _ = plots.collapse_map(lon, lat, names, edges, column(every, np.median), rank,
                                f"Median simulated fall date: {what}", "median simulated fall date (2021)")
    paths += _save(fig, folder, "map_median")
    fig, _ = plots.collapse_map(lon, lat, names, edges, column(every, lambda x: np.mean(x <= BRIER_DAY)), rank,
                                f"Chance of having fallen by 15 August: {what}", "P(fallen by 15 Aug)",
                                as_dates=False, vmin=0, vmax=1)
    paths += _save(fig, folder, "map_p15")
    # Held at the end of day d: fall day later than d (censored runs hold on past the end). NaN outside the run.
    share = np.array([column(every, lambda x, d=day_index(on): np.mean(x > d))
                      if result.start_day <= day_index(on) <= result.end_day else np.full(world.n_provinces, np.nan)
                      for on in CONTROL_DATES])
    obs_held = np.array([(obs_all < 0) | (obs_all > day_index(on)) for on in CONTROL_DATES])
    fig, _ = plots.control_by_date(lon, lat, edges, share, obs_held, list(CONTROL_DATES),
                                   f"Who holds each capital, by date: {what}", kabul=world.kabul)
    paths += _save(fig, folder, "map_control_by_date")

    per_run = per_run_metrics(result, obs)
    labels = {k: v[0] for k, v in METRIC_LABELS.items() if k in ("tau_b", "mae_days", "kabul_error_days")}
    fig, _ = plots.metric_distributions(per_run, card["nulls"], labels, f"Fit per run, against the null models: {what}")
    paths += _save(fig, folder, "metrics")

    rows = [[r["province"], r["capital"], fmt_day(r["observed_day"], result.end_day) +
             ("" if r["date_confidence"] == "high" else " (+-1)"), fmt_day(r["median_day"], result.end_day),
             f"{fmt_day(r['p10_day'], result.end_day)} - {fmt_day(r['p90_day'], result.end_day)}",
             fmt_value(r["p_fallen_by_aug15"]), fmt_value(r["crps_days"])] for r in card["capitals"]]
    # As the terminal's table (report.metrics_table): each metric's own format for the model and the nulls alike
    # (signed where the metric is signed), the nulls that are given the observed timing marked, and their
    # national-rate rows.
    nulls = card["nulls"]
    mrows = []
    for k, (label, fmt, _) in METRIC_LABELS.items():
        if k not in card["per_run"]:
            continue
        s = card["per_run"][k]
        mark = OBSERVED_TIMING_MARK if k in DAY_ERROR_KEYS else ""
        mrows.append([label, fmt_interval(s["median"], s["p10"], s["p90"], fmt)]
                     + [fmt_value(nulls[n].get(k), fmt) + mark for n in nulls])
        if mark and all(f"{k}_rate_timing" in nulls[n] for n in nulls):
            mrows.append(["  nulls at the national rate", ""] + [fmt_value(nulls[n][f"{k}_rate_timing"], fmt)
                                                                  for n in nulls])
    ens = card["ensemble"]
    body = [f"<p>{html.escape(what)}. Seed {meta['seed']}; git commit {html.escape(str(meta.get('git_commit')))}. "
            "Figures and tables come from the stored results only.</p>",
            "<h2>Fit to the observed record</h2>",
            _table(["metric", "model: median run [10-90 %]"] + list(nulls), mrows),
            f"<p>{OBSERVED_TIMING_MARK} nulls given the observed timing (the observed fall days, sorted, in their "
            "order): generous, it uses the future. 'At the national rate': the capitals fall in the null's order at "
            "the rate of the falls known before the start.</p>",
            f"<p>Ensemble: tau-b of the median dates {fmt_value(ens['tau_b_of_median_days'])}; mean CRPS "
            f"{fmt_value(ens['crps_mean_days'])} days; Brier score (fallen by 15 Aug) "
            f"{fmt_value(ens['brier_fallen_by_aug15'], '{:.3f}')}.</p>"]
    body += [_img(folder / f"{s}.png") for s in ("fall_days", "held", "map_median", "map_p15", "map_control_by_date",
                                                  "metrics")]
    body += ["<h2>Capitals</h2>", _table(["province", "capital", "observed", "simulated median", "10-90 %",
                                          "P(fallen by 15 Aug)", "CRPS (days)"], rows)]
    return paths + [_write_page(folder / "report.html", f"Afghanistan 2021 model: {name}", body)]


def effect_sizes(table, params: list[str], metrics: dict[str, str], bins: int = 5) -> dict[str, dict[str, float]]:
    """How much each metric moves with each swept parameter: the spread (largest minus smallest) of the metric's
    mean over the parameter's cells (its values for a grid, `bins` bins of equal count for a design; as the
    heatmaps and the sweep summary), over the metric's standard deviation across points. 0: flat; near the
    shuffled value (effect_noise): indistinguishable from noise. {param: {metric label: effect}}."""
    out = {}
    for name in params:
        _, cell = plots.parameter_bins(table[name].to_numpy(float), bins)
        out[name] = {label: _spread(table[m].to_numpy(float), cell) for m, label in metrics.items()}
    return out


def _spread(y: np.ndarray, cell: np.ndarray) -> float:
    ok = np.isfinite(y)
    sd = y[ok].std()
    if not ok.any() or sd == 0:
        return 0.0
    means = [y[ok & (cell == c)].mean() for c in np.unique(cell[ok])]
    return float((max(means) - min(means)) / sd)


def effect_noise(table, params: list[str], metrics: dict[str, str], bins: int = 5, shuffles: int = 20,
                 seed: int = 0) -> dict[str, float]:
    """The largest effect size over the metrics with each metric shuffled across points (no effect by
    construction), median over `shuffles` seeded shuffles: what chance alone gives with this many points."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in params:
        _, cell = plots.parameter_bins(table[name].to_numpy(float), bins)
        draws = [max(_spread(rng.permutation(table[m].to_numpy(float)), cell) for m in metrics)
                 for _ in range(shuffles)]
        out[name] = float(np.median(draws))
    return out


#: How many heatmaps a sweep report draws: the pairs among the top parameters by effect size.
HEATMAP_PARAMS = 3


def plot_sweep(folder: Path) -> tuple[list[Path], str]:
    meta = store.verify_sweep(folder)
    status = store.sweep_status(folder)
    if status["stored"] == 0:
        raise store.ResultProblem(f"{folder}: no finished points to plot yet (0 of {status['n_points']:,})")
    points, runs = store.read_sweep(folder)
    p = points.to_pandas().set_index("point_id")
    r = runs.to_pandas()
    r["abs_kabul_error"] = r["kabul_error_days"].abs()
    table = p.join(r.groupby("point_id")[list(SWEEP_METRICS)].mean(), how="inner")
    params = list(meta["parameters"])
    effects = effect_sizes(table, params, SWEEP_METRICS)
    noise = effect_noise(table, params, SWEEP_METRICS)
    score = {n: max(effects[n].values()) for n in params}
    ranked = sorted(params, key=lambda n: (-score[n], params.index(n)))
    shown = ranked[:plots.SWEEP_GRID_ROWS]
    left = ranked[len(shown):]
    incomplete = f" - {status['note'].upper()}" if status["note"] else ""
    what = f"Sweep {meta['name']}: {len(table):,} points x {meta['replicates']} replicates{incomplete}"
    note = ("Rows: parameters by effect size (the largest over the four metrics), strongest first"
            + (f"; {len(left)} weaker not drawn: {', '.join(left[:6])}" + (f" and {len(left) - 6} more" if
               len(left) > 6 else "") if left else "") + ". Effect: the spread of "
            f"the binned means in standard deviations of the metric (shuffled data give about "
            f"{np.median(list(noise.values())):.2f}; report.html has the table).")
    fig, _ = plots.sweep_grid({n: table[n].to_numpy(float) for n in shown},
                              {label: table[m].to_numpy(float) for m, label in SWEEP_METRICS.items()},
                              effects, f"{what} (dots: point means; line and band: median and 10-90 % per value "
                              "or bin)", note)
    paths = _save(fig, folder, "sweep_response")
    heat = []
    top = ranked[:HEATMAP_PARAMS]
    for a in range(len(top)):
        for b in range(a + 1, len(top)):
            x, y = top[a], top[b]
            fig, _ = plots.sweep_heatmap(table[x].to_numpy(float), table[y].to_numpy(float),
                                         [table["tau_b"].to_numpy(float), table["abs_kabul_error"].to_numpy(float)],
                                         x, y, ["tau-b", "Kabul |error| (days)"], f"{what}: {x} and {y}",
                                         higher_is_better=[True, False])
            stem = f"sweep_heatmap_{x}_{y}"
            paths += _save(fig, folder, stem)
            heat.append(stem)
    front = pareto_front(table["tau_b"].to_numpy(float), table["abs_kabul_error"].to_numpy(float))
    fig, _ = plots.sweep_tradeoff(table["tau_b"].to_numpy(float), table["abs_kabul_error"].to_numpy(float), front,
                                  table.index.to_numpy(), f"{what}: order against Kabul's date")
    paths += _save(fig, folder, "sweep_tradeoff")
    best = table.iloc[front[:15]]
    cols = params if len(params) <= 2 * plots.SWEEP_GRID_ROWS else shown  # a readable width: the top ones
    rows = [[int(k)] + [fmt_num(best.loc[k, c], "{:.3g}") for c in cols + list(SWEEP_METRICS)] for k in best.index]
    erows = [[k + 1, n] + [f"{effects[n][lab]:.2f}" for lab in SWEEP_METRICS.values()] + [f"{score[n]:.2f}",
             f"{noise[n]:.2f}", "yes" if n in shown else "no"] for k, n in enumerate(ranked)]
    body = ([f"<p><strong>{html.escape(status['note'].capitalize())}</strong>: the sweep did not finish; the "
             "figures cover only the stored points. Run the sweep again to finish it.</p>"] if status["note"] else [])
    body += [f"<p>{len(table):,} points x {meta['replicates']} replicates, design {html.escape(meta['design'])}, "
             f"base scenario {html.escape(meta['base_scenario'])}, root seed {meta['root_seed']}.</p>",
             "<h2>The trade-off: order against Kabul's date</h2>",
             f"<p>No single score ranks the points: the {len(front)} below form the Pareto front of mean tau-b "
             "(higher is better) and mean Kabul |error| (lower is better), sorted by tau-b"
             + (f" (the first 15 of {len(front)})" if len(front) > 15 else "") + "; every other point is beaten "
             "on both by one of them." + ("" if cols == params else f" Parameters: the top {len(cols)} by effect "
                                          "size (points.parquet holds them all).") + "</p>",
             _table(["point"] + cols + list(SWEEP_METRICS.values()), rows), _img(folder / "sweep_tradeoff.png"),
             "<h2>Which parameters matter</h2>",
             "<p>Effect size: the spread (largest minus smallest) of a metric's mean over the parameter's cells (its "
             "values for a grid, five bins of equal count for a design), in standard deviations of that metric over "
             "the points. 'Shuffled': the largest effect over the metrics with each metric shuffled across points, "
             "median of 20 shuffles: what noise alone gives with this many points. The figures draw the top "
             f"{plots.SWEEP_GRID_ROWS} parameters; the heatmaps the pairs among the top {HEATMAP_PARAMS}.</p>",
             _table(["rank", "parameter"] + list(SWEEP_METRICS.values()) + ["largest", "shuffled", "drawn"], erows),
             _img(folder / "sweep_response.png")] + [_img(folder / f"{s}.png") for s in heat]
    return paths + [_write_page(folder / "report.html", f"Sweep {meta['name']}", body)], status["note"]


def plot_comparison(run_folders: list[Path], out: Path, world: World) -> list[Path]:
    """The runs side by side, in a new folder `out` swapped in whole (call with its writer lock held)."""
    results, events, runs = [], [], []
    for f in run_folders:
        meta, r = store.load_run(f, world)
        results.append((meta.get("name", f.name), r))
        events.append([(day_index(dt.date.fromisoformat(str(e["on"]))), e["kind"])
                       for e in meta.get("interventions") or []])
        d = meta.get("definition") or {}
        runs.append((d.get("seed"), d.get("n_runs")))
    # Runs pair up (common random numbers) only when every folder was run with the same seed and count.
    paired = len(set(runs)) == 1 and None not in runs[0]
    rows = [outcomes(name, r, world) for name, r in results]
    with folders.new_folder(out) as tmp:
        _comparison_files(rows, results, events, paired, tmp, world)
        store.write_json(tmp / "manifest.json", {**store.stamp("comparison"), "name": out.name,
                                                  "runs": [str(Path(f).resolve()) for f in run_folders]})
    return [out / n for n in ("comparison.png", "comparison.svg", "report.html")]


def _comparison_files(rows, results, events, paired: bool, out: Path, world: World) -> None:
    from .compare import overlay_figure

    title = f"Scenarios compared ({', '.join(o.name for o in rows)})" + ("" if paired else
                                                                          ": runs not paired (other seeds or counts)")
    fig, _ = overlay_figure([(name, r, ev) for (name, r), ev in zip(results, events)], world, paired, title)
    _save(fig, out, "comparison")
    trows = [[o.name, fmt_day(np.median(o.kabul_day), o.end_day), f"{o.held_aug31.mean():.2f}",
              f"{np.nanmedian(o.tau_b):.2f}"] for o in rows]
    body = [_table(["scenario", "Kabul falls (median)", f"held on {HELD_ON:%d %b} (mean)", "tau-b (median run)"],
                   trows), _img(out / "comparison.png"),
            "<p>The runs of each scenario are read from its results folder. "
            + ("They share their seed and count, so the differences are paired run by run (common random numbers)."
               if paired else "Their seeds or counts differ, so the differences are unpaired (two-sample intervals).")
            + " <code>python run.py compare A B --out DIR</code> runs them paired and writes the same figure.</p>"]
    _write_page(out / "report.html", "Scenarios compared", body)


def plot_folder(folder: Path, world: World) -> tuple[list[Path], str]:
    """The figures of a results folder of any kind, and a note ('' or 'incomplete: ...'). Raises ResultProblem
    when what is stored cannot be trusted; hold the folder's writer lock."""
    folder = Path(folder)
    kind = folders.folder_kind(folder)
    if kind == "calibration":
        return plot_calibration(folder), ""
    if kind in ("sweep", "sensitivity"):
        return plot_sweep(folder)
    if kind == "run":
        return plot_run(folder, world), ""
    raise store.ResultProblem(f"{folder}: holds {folders.KIND_NAMES.get(kind, 'nothing this command plots')}")


def plot_calibration(folder: Path) -> list[Path]:
    """A calibration folder: ABC marginals and pairs (if ABC was run) and the loss over the trials."""
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    if not (folder / "calibration.json").exists():
        raise store.ResultProblem(f"{folder}: an unfinished calibration (no calibration.json yet); run calibrate "
                                  "again to finish it")
    summary = _read_json(folder / "calibration.json", ("scenario", "trials", "replicates", "fit_until", "best_loss"))
    paths, body = [], [f"<p>Calibration of {html.escape(summary['scenario'])}: {summary['trials']} trials x "
                       f"{summary['replicates']} runs; fitted until {summary['fit_until'] or 'the end (all capitals)'}."
                       f" Best loss {summary['best_loss']:.3f}.</p>"]
    abc_path = folder / "abc_samples.parquet"
    if abc_path.exists():
        try:
            t = pq.read_table(abc_path).to_pandas()
        except (OSError, ValueError) as exc:
            raise store.ResultProblem(f"{abc_path}: cannot be read ({exc})") from None
        if "accepted" not in t or "loss" not in t:
            raise store.ResultProblem(f"{abc_path}: not the ABC samples this project writes")
        names = [c for c in t.columns if c not in ("loss", "accepted")]
        acc = t["accepted"].to_numpy()
        # The marginals go to abc.png, the name calibrate gives its own quick copy of them: one figure, not two
        # alike (an abc_marginals.png of an earlier version of this command is removed).
        fig, _ = plots.abc_marginals(names, t[names].to_numpy(), acc, f"ABC rejection: {int(acc.sum())} of {len(t)} "
                                     "prior samples accepted (those closest to the record)")
        paths += _save(fig, folder, "abc")
        for stale in ("abc_marginals.png", "abc_marginals.svg"):
            (folder / stale).unlink(missing_ok=True)
        spread = {n: t.loc[acc, n].std() / (t[n].max() - t[n].min()) for n in names}
        top = sorted(names, key=spread.get)[:4]  # the most constrained parameters
        fig, _ = plots.abc_pairs(top, t[top].to_numpy(), acc, "ABC: pairs of the four most constrained parameters "
                                 "(accepted spread / prior range smallest)")
        paths += _save(fig, folder, "abc_pairs")
        body += [_img(folder / "abc.png"), _img(folder / "abc_pairs.png")]
    db = folder / "study.db"
    if db.exists():
        import sqlite3

        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                rows = con.execute("select t.number, v.value from trials t join trial_values v on "
                                   "v.trial_id = t.trial_id join studies s on s.study_id = t.study_id where "
                                   "s.study_name = 'calibration' order by t.number").fetchall()
        except sqlite3.Error as exc:
            raise store.ResultProblem(f"{db}: cannot be read as an Optuna study ({exc})") from None
        if rows:
            n, v = np.array(rows, float).T
            fig, ax = plt.subplots(figsize=(8, 4))
            ax.plot(n, v, ".", color="0.6", ms=3, label="trial")
            ax.plot(n, np.minimum.accumulate(v), color="tab:blue", lw=2, label="best so far")
            ax.set_xlabel("trial")
            ax.set_ylabel("loss (sum of scaled terms)")
            ax.set_yscale("log")
            ax.legend()
            ax.set_title("Optuna TPE: loss over the trials")
            fig.tight_layout()
            paths += _save(fig, folder, "calibration_loss")
            body.append(_img(folder / "calibration_loss.png"))
    return paths + [_write_page(folder / "report.html", f"Calibration of {summary['scenario']}", body)]
