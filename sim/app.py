"""The interactive app: one run of a scenario, day by day, in the browser (`python run.py app`, served by Solara).

It sits at the edge of the package: nothing else in sim/ imports it, and it needs the optional extra
(`pip install "afghan2021-abm[app]"`). It is built from Mesa's visualisation pieces (the ModelController's play, step
and reset, Mesa's update counter) around a page of its own:

- a scenario picker: the shipped scenarios and the *.toml scenario files in the folder the app was started from,
  or a path typed in; the run is the scenario's whole definition (dates, start conditions, dated events,
  parameters), as `run NAME --engine mesa` runs it;
- the parameters grouped as in sim/params.py, each group collapsed until opened; changes apply on Reset;
- one model per browser session (Solara renders the page once per session; the model lives in that session's
  state, never in this module);
- a map (capitals coloured by the Taliban share of their districts, roads open or cut) and the capitals held
  against the observed curve, with the scenario's dated events marked; each is drawn once and only its moving
  parts redrawn each day, so playing runs several days a second.

Served offline: Solara's front-end files come from the solara-assets package.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
import warnings
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import PIL.Image
import solara
import solara.lab
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

with warnings.catch_warnings():  # Mesa 3.3's own ComponentsView trips Solara's hook check on import; unused here
    warnings.filterwarnings("ignore", message=".*ComponentsView", category=UserWarning)
    from mesa.visualization.solara_viz import ModelController
    from mesa.visualization.utils import update_counter

from sim.ensemble import chunk_seeds
from sim.model import TerritoryModel
from sim.params import Params, ParamsError
from sim.plots import MAP_SIZE, _label_points, _map_frame, albers
from sim.scenario import MAX_SEED, Scenario, ScenarioError, list_scenarios, load_scenario
from sim.seeding import observed_fall_days
from sim.world import day_date, default_world

DEFAULT_SCENARIO = "baseline"
PLAY_INTERVAL_MS = 100  # as Mesa's SolaraViz; a frame (the map and the chart) takes ~50-100 ms to draw
TITLE = "Afghanistan 2021: territorial control, one run"
DPI = 90


def run_seed(scenario_seed: int) -> int:
    """The seed of a scenario's first run: the app's default run is run 1 of `run NAME --engine mesa`."""
    return int(chunk_seeds(scenario_seed, 1, chunk_size=1)[0])


def event_text(event) -> str:
    args = ", ".join(f"{k} {v:,g}" if isinstance(v, float) else f"{k} {v}" for k, v in event.args)
    return f"{event.on:%d %b}: {event.kind.replace('_', ' ')}" + (f" ({args})" if args else "")


class AppModel(TerritoryModel):
    """One run of a scenario file as the app shows it: the scenario's dates, start conditions, dated events and
    parameters, with `overrides` on top.

    The keywords are what Mesa's ModelController passes back on Reset. None is named `scenario` or takes
    **kwargs: Mesa 3.5 would then add a mesa Scenario of its own to the call.
    """

    def __init__(self, source: str = DEFAULT_SCENARIO, seed: int | None = None, overrides: dict | None = None):
        world = default_world()
        sc = load_scenario(source, world)
        params = sc.params.replace(**overrides) if overrides else sc.params
        seed = run_seed(sc.seed) if seed is None else int(seed)
        super().__init__(params, seed=seed, start=sc.start, end=sc.end, world=sc.world(world),
                         interventions=sc.events, initial=sc.initial)
        self.definition: Scenario = sc  # not `scenario`: Mesa 3.5's Model has a property of that name
        self.source = source
        self.held_at_start = self.capitals_held  # the chart's first point, before the first step

    @property
    def days_done(self) -> int:
        return self.day - self.start_day

    @property
    def n_days(self) -> int:
        return self.end_day - self.start_day + 1


# ------------------------------------------------------------------------------------------------ the scenarios


def scenario_choices(folder: Path) -> tuple[dict[str, str], list[str]]:
    """Label -> name or path of every scenario on offer: the shipped ones, then the *.toml files in `folder` that
    are scenario files. Also the names of the other *.toml files there (not scenarios, or invalid)."""
    world = default_world()
    out, shipped = {}, set()
    for sc in list_scenarios(world):
        if isinstance(sc, Scenario):
            out[f"{sc.name}: {sc.summary}"] = sc.name
            shipped.add(Path(sc.path).resolve())
    others = []
    for path in sorted(folder.glob("*.toml")):
        if path.resolve() in shipped:
            continue
        try:
            sc = load_scenario(str(path), world)
        except (ScenarioError, ParamsError, OSError):
            others.append(path.name)
            continue
        out[f"{path.name} ({sc.name}): {sc.summary}"] = str(path)
    return out, others


def check_path(text: str, folder: Path) -> str:
    """A scenario path typed in the app: a .toml file, relative to `folder` unless absolute."""
    text = text.strip()
    if not text.endswith(".toml"):
        raise ScenarioError(text or "(empty)", "a scenario file's name ends in .toml")
    path = Path(text).expanduser()
    return str(path if path.is_absolute() else folder / path)


# ------------------------------------------------------------------------------------------------------- views
# Drawing a matplotlib figure anew costs ~0.3-0.4 s, more than playing allows. Each picture is drawn once per model
# (axes, outline, labels, the observed curve) and saved; a frame redraws only the artists that move over that
# background (blitting) and encodes it: ~20-50 ms. The figures belong to the session (no pyplot state).


def observed_curve(start_day: int, end_day: int) -> tuple[list[dt.date], list[int]]:
    """The observed record's capitals held: on the morning of start_day, then at the end of each day."""
    world = default_world()  # the whole record, also for a forecast (whose model sees only what was known)
    days = observed_fall_days(world)
    fallen = [int(((days >= 0) & (days < start_day)).sum())]
    fallen += [int(((days >= 0) & (days <= d)).sum()) for d in range(start_day, end_day + 1)]
    when = [day_date(start_day) + dt.timedelta(days=k) for k in range(len(fallen))]
    return when, [world.n_provinces - f for f in fallen]


def status_line(model: AppModel, sep: str = " ") -> str:
    if model.days_done == 0:
        when = f"Day 0 of {model.n_days}: the morning of {day_date(model.start_day):%d %B %Y}, before the first day"
    else:
        when = f"Day {model.days_done} of {model.n_days}: the end of {day_date(model.day - 1):%d %B %Y}"
    roads = sum(r.is_open for r in model.roads)
    return (f"{when}.{sep}{model.capitals_held} of {len(model.provinces)} capitals held, {roads} of "
            f"{len(model.roads)} roads open.")


class Picture:
    """A figure whose background is drawn once and whose `moving` artists are redrawn over it for each frame."""

    @staticmethod
    def figure(width: float, height: float) -> Figure:
        fig = Figure(figsize=(width, height), dpi=DPI)
        FigureCanvasAgg(fig)  # its own Agg canvas: no pyplot, no shared state between sessions
        return fig

    def __init__(self, fig: Figure, moving: list):
        self.fig, self.moving = fig, moving
        for artist in moving:
            artist.set_animated(True)  # left out of the background
        fig.canvas.draw()
        self.background = fig.canvas.copy_from_bbox(fig.bbox)
        self.lock = threading.Lock()  # a play thread and a render may ask at once

    def png(self) -> bytes:
        canvas = self.fig.canvas
        with self.lock:
            canvas.restore_region(self.background)
            for artist in self.moving:
                self.fig.draw_artist(artist)
            image = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
            out = io.BytesIO()
            image.save(out, format="PNG", compress_level=1)  # fast: the page is local
        return out.getvalue()


class MapPicture(Picture):
    """The capitals (coloured by the Taliban share of their districts; a cross once fallen) and the roads (cut ones
    red and dashed) on Afghanistan's outline, Albers equal-area, as the map of `run.py plot`."""

    def __init__(self, model: AppModel):
        fig = self.figure(7.6, 6.0)
        ax = fig.add_subplot()
        lon = np.array([p.lon for p in model.provinces])
        lat = np.array([p.lat for p in model.provinces])
        self.x, self.y = x, y = albers(lon, lat)
        _map_frame(ax, graticule=False)
        ends = [(r.ends[0].index, r.ends[1].index) for r in model.roads]
        segments = [[(x[a], y[a]), (x[b], y[b])] for a, b in ends]
        ax.add_collection(LineCollection(segments, colors="0.6", linewidths=1.5, zorder=1))
        self.cut = LineCollection(segments, colors="tab:red", linewidths=1.8, linestyles=(0, (4, 2.5)), zorder=2)
        ax.add_collection(self.cut)
        self.held = ax.scatter(x, y, c=np.zeros(len(x)), cmap="RdYlGn_r", vmin=0, vmax=1, s=MAP_SIZE ** 2,
                               edgecolor="black", lw=0.6, zorder=3, label="capital held by the government")
        self.fallen = ax.scatter(x, y, marker="X", s=170, color="black", zorder=3, label="capital fallen")
        cut_key = ax.plot([], [], color="tab:red", ls=(0, (4, 2.5)), lw=1.8, label="road cut")[0]
        fig.colorbar(self.held, ax=ax, shrink=0.7, pad=0.02).set_label("Taliban share of the province's districts")
        ax.legend(handles=[self.held, self.fallen, cut_key], loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
                  fontsize=8, frameon=False)
        self.title = ax.set_title(" \n ", fontsize=9)
        fig.tight_layout()
        _label_points(ax, x, y, [p.capital.split(" (")[0] for p in model.provinces], fontsize=7)
        super().__init__(fig, [self.cut, self.held, self.fallen, self.title])

    def frame(self, model: AppModel) -> bytes:
        is_held = np.array([p.is_held for p in model.provinces])
        is_open = np.array([r.is_open for r in model.roads])
        with self.lock:
            self.cut.set_visible(not is_open.all())
            self.cut.set_linewidths(np.where(is_open, 0.0, 1.8))
            self.held.set_array(np.array([p.control for p in model.provinces]))
            self.held.set_sizes(np.where(is_held, MAP_SIZE ** 2, 0.0))
            self.fallen.set_sizes(np.where(is_held, 0.0, 170.0))
            self.title.set_text(status_line(model, sep="\n"))
        return self.png()


class HeldPicture(Picture):
    """Capitals held: this run so far (a step line) against the observed record, the scenario's events marked."""

    def __init__(self, model: AppModel):
        fig = self.figure(7.0, 4.2)
        ax = fig.add_subplot()
        when, held = observed_curve(model.start_day, model.end_day)
        ax.step(when, held, where="post", color="black", lw=1.8, ls="--", label="observed (data/provinces.csv)")
        top = len(model.provinces) + 1
        for k, e in enumerate(model.definition.events):
            ax.axvline(e.on, color="tab:orange", lw=1.4, ls=":", zorder=0)
            ax.plot([e.on], [top], marker="v", ms=8, color="tab:orange", clip_on=False, ls="none",
                    label="the scenario's dated events" if k == 0 else None)
        (self.line,) = ax.step([], [], where="post", color="tab:blue", lw=2.4, label="this run")
        (self.now,) = ax.plot([], [], "o", color="tab:blue", ms=7, clip_on=False)  # today: visible from day 1
        ax.set_xlim(when[0], when[-1])
        ax.set_ylim(0, top)
        ax.set_ylabel("provincial capitals held by the government")
        ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, interval=2))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        ax.set_xlabel("date (2021); a point is the end of a day")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_title(f"Capitals held: {model.definition.name}, this run against the record", fontsize=9)
        fig.tight_layout()
        super().__init__(fig, [self.line, self.now])

    def frame(self, model: AppModel) -> bytes:
        frame = model.datacollector.get_model_vars_dataframe()
        when = [day_date(model.start_day)] + [day_date(int(d)) + dt.timedelta(days=1) for d in frame["day"]]
        held = [model.held_at_start] + [int(h) for h in frame["capitals_held"]]
        with self.lock:
            self.line.set_data(mdates.date2num(when), held)
            self.now.set_data(mdates.date2num(when[-1:]), held[-1:])
        return self.png()


@solara.component
def MapView(model: AppModel):
    update_counter.get()  # redrawn on each of Mesa's updates (step, play, reset)
    picture = solara.use_memo(lambda: MapPicture(model), [model])
    solara.Image(picture.frame(model))


@solara.component
def HeldView(model: AppModel):
    update_counter.get()
    picture = solara.use_memo(lambda: HeldPicture(model), [model])
    solara.Image(picture.frame(model))


@solara.component
def StatusView(model: AppModel):
    update_counter.get()
    applied = sum(e.on < day_date(model.day) for e in model.definition.events)
    with solara.Column(gap="2px"):
        # Text, not Markdown: Solara's Markdown fetches KaTeX from a CDN, and the app is served offline.
        solara.Text(status_line(model), style={"font-weight": "bold"})
        total = len(model.definition.events)
        solara.Text(f"Scenario {model.definition.name} · run seed {model.seed} · "
                    + (f"{applied} of {total} dated events applied" if total else "no dated events"))


# ------------------------------------------------------------------------------------------------------- panels


def pending_changes(model: AppModel, settings: dict) -> list[str]:
    """What Reset would change in the run on screen: the seed, parameters."""
    out = []
    seed = run_seed(model.definition.seed) if settings["seed"] is None else settings["seed"]
    if seed != model.seed:
        out.append(f"seed {seed}")
    running = model.params.to_dict()
    wanted = {**model.definition.params.to_dict(), **settings["overrides"]}
    out += [f"{k} {v:g}" if not isinstance(v, bool) else f"{k} {'on' if v else 'off'}"
            for k, v in wanted.items() if running[k] != v]
    return out


@solara.component
def ScenarioPanel(model: solara.Reactive, settings: solara.Reactive, folder: Path):
    choices, others = solara.use_memo(lambda: scenario_choices(folder), [])
    labels = {v: k for k, v in choices.items()}
    path_text = solara.use_reactive("")
    seed_text = solara.use_reactive("")
    error = solara.use_reactive("")

    def start(source: str, seed: int | None):
        try:
            new = AppModel(source=source, seed=seed)
        except (ScenarioError, ParamsError, OSError, ValueError) as exc:
            error.set(str(exc))
            return
        error.set("")
        settings.set({"source": source, "seed": seed, "overrides": {}})
        model.set(new)

    def pick(label: str):
        start(choices[label], settings.value["seed"])

    def set_seed(text: str):
        seed_text.set(text)
        text = text.strip().replace(",", "").replace("_", "")
        if not text:
            seed = None
        elif text.isdigit() and int(text) <= MAX_SEED:
            seed = int(text)
        else:
            error.set(f"seed: a whole number 0 to 2^63 - 1, or empty for the scenario's first run (got {text!r})")
            return
        error.set("")
        settings.set({**settings.value, "seed": seed})

    def open_path():
        try:
            path = check_path(path_text.value, folder)
        except ScenarioError as exc:
            error.set(str(exc))
            return
        start(path, settings.value["seed"])

    with solara.Card("Scenario"):
        solara.Select("shipped, or *.toml in " + folder.name, values=list(choices),
                      value=labels.get(settings.value["source"]), on_value=pick)
        with solara.Row():
            solara.InputText("or a scenario file (path)", value=path_text, continuous_update=False)
            solara.Button("Open", on_click=open_path, outlined=True)
        solara.InputText("run seed (empty: the scenario's first run)", value=seed_text.value, on_value=set_seed,
                         continuous_update=False)
        if others:
            _line(f"Not scenario files: {', '.join(others[:5])}" + (" ..." if len(others) > 5 else ""))
        if error.value:
            solara.Error(error.value)
        sc = model.value.definition
        _line(" ".join(sc.description.split()))
        if sc.events:
            _line("Dated events:", "font-weight: bold")
            for e in sc.events:
                _line(f"• {event_text(e)}")


def _line(text: str, style: str = "") -> None:
    """A paragraph of small text (solara.Text is inline; Markdown would fetch KaTeX from a CDN)."""
    solara.v.Html(tag="div", children=[text], style_="font-size: 0.85em; margin-top: 4px; " + style)


def _label(name: str, spec: dict) -> str:
    if spec["unit"] == "on/off":
        return name
    return f"{name} ({spec['unit']}; {spec['lo']:g} to {spec['hi']:g})"


@solara.component
def ParameterInput(name: str, spec: dict, value, base, on_value):
    label = _label(name, spec)
    changed = value != base
    style = "font-weight: bold" if changed else ""
    error = solara.use_reactive("")
    if isinstance(spec["default"], bool):
        solara.Checkbox(label=label + (f" (scenario: {'on' if base else 'off'})" if changed else ""),
                        value=bool(value), on_value=on_value, style=style)
        return
    lo, hi = float(spec["lo"]), float(spec["hi"])

    def set_value(v):
        if v is None:
            return
        if not lo <= v <= hi:  # kept out of the run: Params would refuse it on Reset
            error.set(f"{name}: {v:g} is out of bounds, allowed {lo:g} to {hi:g} {spec['unit']}")
            return
        error.set("")
        on_value(float(v))

    solara.InputFloat(label + (f"; scenario {base:g}" if changed else ""), value=float(value), on_value=set_value,
                      continuous_update=False, style=style)
    if error.value:
        solara.Error(error.value, dense=True)


@solara.component
def ParametersPanel(model: solara.Reactive, settings: solara.Reactive):
    base = model.value.definition.params.to_dict()
    overrides = settings.value["overrides"]
    spec = Params.spec()
    groups: dict[str, list[str]] = {}
    for name, s in spec.items():
        groups.setdefault(s["group"] or "other", []).append(name)

    def set_param(name, value):
        new = dict(settings.value["overrides"])
        if value == base[name]:
            new.pop(name, None)
        else:
            new[name] = value
        settings.set({**settings.value, "overrides": new})

    opened = solara.use_reactive([])  # the groups shown open: none at first
    with solara.Card("Parameters"):
        _line(f"The scenario's values, {len(overrides)} changed; changes apply on Reset. Units, bounds and sources: "
              "python run.py params.")
        if overrides:
            solara.Button("Back to the scenario's values", text=True,
                          on_click=lambda: settings.set({**settings.value, "overrides": {}}))
        with solara.v.ExpansionPanels(multiple=True, accordion=True, v_model=opened.value, on_v_model=opened.set):
            for k, (group, names) in enumerate(groups.items()):
                n_changed = sum(n in overrides for n in names)
                with solara.v.ExpansionPanel():
                    solara.v.ExpansionPanelHeader(children=[
                        f"{group} ({len(names)})" + (f", {n_changed} changed" if n_changed else "")])
                    with solara.v.ExpansionPanelContent():
                        if k in opened.value:  # a closed group's inputs are not built
                            for name in names:
                                ParameterInput(name, spec[name], overrides.get(name, base[name]), base[name],
                                               lambda v, name=name: set_param(name, v)).key(f"{group}-{name}")


# --------------------------------------------------------------------------------------------------------- page


@solara.component
def Page():
    folder = Path.cwd()
    first = solara.use_memo(AppModel, [])  # this session's model: created when the page opens, never shared
    model = solara.use_reactive(first)
    settings = solara.use_reactive({"source": DEFAULT_SCENARIO, "seed": None, "overrides": {}})
    play_interval = solara.use_reactive(PLAY_INTERVAL_MS)
    render_interval = solara.use_reactive(1)
    use_threads = solara.use_reactive(False)

    with solara.AppBar():
        solara.AppBarTitle(TITLE)
        solara.lab.ThemeToggle()

    with solara.Sidebar(), solara.Column():
        with solara.Card("Controls"):
            solara.SliderInt(f"Play: a day every {play_interval.value} ms", value=play_interval, min=0, max=1000,
                             step=10)
            solara.SliderInt(f"Days per step and redraw: {render_interval.value}", value=render_interval, min=1,
                             max=30)
            # A new controller for each model: Mesa's keeps `running` in its own state, which must start afresh
            # when the picker replaces a finished model.
            ModelController(model, model_parameters=settings, play_interval=play_interval,
                            render_interval=render_interval, use_threads=use_threads).key(f"mc-{id(model.value)}")
            pending = pending_changes(model.value, settings.value)
            if pending:
                solara.Warning("Reset runs with: " + ", ".join(pending), dense=True)
        ScenarioPanel(model, settings, folder)
        ParametersPanel(model, settings)

    with solara.Column(style={"padding": "8px 16px"}):
        StatusView(model.value)
        with solara.Row(style={"flex-wrap": "wrap", "align-items": "flex-start"}):
            MapView(model.value)
            HeldView(model.value)


page = Page
