"""The interactive app: a Mesa SolaraViz page for one run of the model (`python run.py app`).

It sits at the edge of the project, like Agents.jl's visualisation extension: nothing in sim/ imports it. The
controls are generated from Params.spec(), so their defaults and bounds are the model's own; the map shows each
capital's control and each road's state for the current day, and the chart the capitals held so far against the
observed curve. Served offline: Solara's front-end files come from the solara-assets package.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import solara
from mesa.visualization import SolaraViz

from sim.model import TerritoryModel
from sim.params import Params
from sim.plots import held_over_time, network_state
from sim.seeding import observed_fall_days
from sim.world import day_date

DEFAULT_SEED = 20210501


class AppModel(TerritoryModel):
    """TerritoryModel taking each parameter as a keyword, as SolaraViz passes them."""

    def __init__(self, seed: int = DEFAULT_SEED, **kwargs):  # Mesa checks for the name "kwargs"
        super().__init__(Params.from_dict(kwargs), seed=int(seed))


def model_params() -> dict:
    """One control per Params field, with the default and bounds of Params itself."""
    out = {"seed": {"type": "InputText", "value": DEFAULT_SEED, "label": "seed"}}
    for name, spec in Params.spec().items():
        if isinstance(spec["default"], bool):
            out[name] = {"type": "Checkbox", "value": spec["default"], "label": name}
        else:
            lo, hi = float(spec["lo"]), float(spec["hi"])
            out[name] = {"type": "SliderFloat", "value": float(spec["default"]), "label": f"{name} ({spec['unit']})",
                         "min": lo, "max": hi, "step": (hi - lo) / 100}
    return out


def map_view(model: AppModel):
    w = model.world
    s = model.state
    lon = np.array([p.lon for p in w.record.provinces])
    lat = np.array([p.lat for p in w.record.provinces])
    shown = min(model.day - 1, model.end_day)
    title = (f"{day_date(max(shown, model.start_day)):%d %B %Y}: {model.capitals_held} of 34 capitals held, "
             f"{int(s.is_road_open.sum())} of {w.n_roads} roads open")
    fig, _ = network_state(lon, lat, [p.capital.split(" (")[0] for p in w.record.provinces],
                           list(zip(w.edge_a.tolist(), w.edge_b.tolist())), s.control[0], s.is_held[0],
                           s.is_road_open[0], title)
    element = solara.FigureMatplotlib(fig)
    plt.close(fig)
    return element


def held_view(model: AppModel):
    frame = model.datacollector.get_model_vars_dataframe()
    held = frame["capitals_held"].to_numpy()[None, :] if len(frame) else np.zeros((1, 0))
    fig, _ = held_over_time(held, model.start_day, observed_fall_days(model.world), model.world.n_provinces,
                            "Capitals held: this run so far against the observed curve", zoom_from=None,
                            end_day=model.end_day)
    element = solara.FigureMatplotlib(fig)
    plt.close(fig)
    return element


model = AppModel()
page = SolaraViz(model, components=[map_view, held_view], model_params=model_params(),
                 name="Afghanistan 2021: territorial control, one run")
