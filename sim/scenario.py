"""Scenario files (scenarios/*.toml) -> Scenario, with strict validation.

A scenario file holds:

    name = "baseline"                 # required; becomes the results folder name
    description = "..."               # required; the first sentence is listed by `run.py scenarios`
    start = 2021-05-01                # a TOML date (or "YYYY-MM-DD"), 2021-05-01 .. 2021-08-15
    end = 2021-09-06                  # after start, at most 2021-09-30
    replicates = 1000
    seed = 20210501
    [params]                          # overrides; every key is a Params field (run.py params lists them)
    [initial]                         # optional additions to the observed record at the start
    fallen = ["Ghazni"]               #   capitals that start Taliban-held
    besieged = ["Kandahar"]           #   capitals that start besieged
    prisoners_freed = 170             #   prisoners already freed (joining at prisoner_join_share)
    [[events]]                        # dated interventions, in date order (sim/interventions.py KINDS)
    on = 2021-07-02
    kind = "us_air_support"
    share = 1.0

Anything else is an error: an unknown key, a wrong type, a value out of bounds, an unknown province or road, a
date outside the window, events out of order, or a file that is not TOML. Each raises ScenarioError naming the
file, the key and what is allowed.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .data import WINDOW_FIRST, WINDOW_LAST
from .interventions import ALL, KINDS, Intervention
from .params import Params, ParamsError
from .seeding import InitialConditions
from .world import World

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
LATEST_START = dt.date(2021, 8, 15)
TOP_KEYS = {"name": "text", "description": "text", "start": "date", "end": "date", "replicates": "integer",
            "seed": "integer", "params": "table", "initial": "table", "events": "array of tables"}
REQUIRED = ("name", "description", "start", "end", "replicates", "seed")
INITIAL_KEYS = ("fallen", "besieged", "prisoners_freed")
MAX_REPLICATES = 10_000_000


class ScenarioError(ValueError):
    """A scenario file is malformed or asks for something that does not exist."""

    def __init__(self, path, message: str, key: str | None = None):
        where = str(path) + (f": key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")
        self.path, self.key = str(path), key


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: dt.date
    end: dt.date
    replicates: int
    seed: int
    params: Params
    initial: InitialConditions = InitialConditions()
    events: tuple[Intervention, ...] = ()
    text: str = ""  # the file as read, stored in the results manifest
    path: str = ""

    @property
    def summary(self) -> str:
        first = self.description.strip().split(". ")[0].rstrip(".")
        return first + "."

    def replace(self, **changes) -> "Scenario":
        from dataclasses import replace

        return replace(self, **changes)


# ------------------------------------------------------------------------------------------------- validation


class Checker:
    def __init__(self, path, world: World):
        self.path, self.world = path, world

    def fail(self, key, message):
        raise ScenarioError(self.path, message, key)

    def date(self, key, value, lo, hi) -> dt.date:
        if isinstance(value, dt.datetime):
            self.fail(key, f"{value} has a time of day; give a date YYYY-MM-DD")
        if isinstance(value, str):
            try:
                value = dt.date.fromisoformat(value)
            except ValueError:
                self.fail(key, f"'{value}' is not a date YYYY-MM-DD")
        if not isinstance(value, dt.date):
            self.fail(key, f"expected a date YYYY-MM-DD, got {value!r}")
        if not lo <= value <= hi:
            self.fail(key, f"{value} is outside the window: allowed {lo} to {hi}")
        return value

    def text(self, key, value) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected non-empty text, got {value!r}")
        return value

    def integer(self, key, value, lo, hi) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {value!r}")
        if not lo <= value <= hi:
            self.fail(key, f"{value} is out of bounds: allowed {lo} to {hi}")
        return value

    def number(self, key, value, lo, hi) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {value!r}")
        if not (lo <= value <= hi):
            self.fail(key, f"{value} is out of bounds: allowed {lo:g} to {hi:g}")
        return float(value)

    def province(self, key, value, allow_all=False) -> str:
        names = self.world.names
        if allow_all and value == ALL:
            return value
        if not isinstance(value, str) or value not in names:
            allowed = ("'all' or " if allow_all else "") + ", ".join(names)
            self.fail(key, f"unknown province {value!r}; allowed: {allowed}")
        return value

    def link(self, key, value) -> str:
        if not isinstance(value, str) or value not in self.world.link_ids:
            self.fail(key, f"unknown road {value!r}; allowed (link_id in data/roads.csv): "
                           + ", ".join(self.world.link_ids))
        return value

    def table(self, key, value) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{key}], got {value!r}")
        return value

    def unknown(self, key_prefix, given, allowed):
        extra = sorted(set(given) - set(allowed))
        if extra:
            self.fail(f"{key_prefix}{extra[0]}", f"unknown key; allowed: {', '.join(allowed)}")


def _event(c: Checker, k: int, raw, start: dt.date, end: dt.date) -> Intervention:
    key = f"events[{k}]"
    c.table(key, raw)
    kind = raw.get("kind")
    if kind not in KINDS:
        c.fail(f"{key}.kind", f"unknown event kind {kind!r}; allowed: {', '.join(KINDS)}")
    spec = KINDS[kind]
    c.unknown(f"{key}.", raw, ("kind", "on", *spec.args))
    if "on" not in raw:
        c.fail(f"{key}.on", "missing: every event needs the date it happens (on = YYYY-MM-DD)")
    on = c.date(f"{key}.on", raw["on"], start, end)
    args = []
    for name, arg in spec.args.items():
        akey = f"{key}.{name}"
        if name not in raw:
            if arg.required:
                c.fail(akey, f"missing: '{kind}' needs {name} ({arg.doc})")
            continue
        v = raw[name]
        if arg.type in ("share", "number"):
            v = c.number(akey, v, arg.lo, arg.hi)
        elif arg.type == "province":
            v = c.province(akey, v)
        elif arg.type == "province_or_all":
            v = c.province(akey, v, allow_all=True)
        elif arg.type == "link":
            v = c.link(akey, v)
        elif arg.type == "choice":
            if v not in arg.choices:
                c.fail(akey, f"{v!r} is not allowed; allowed: {', '.join(arg.choices)}")
        elif arg.type == "date":
            v = c.date(akey, v, on, end)
        args.append((name, v))
    return Intervention(kind=kind, on=on, args=tuple(args))


def read_toml(text: str, path, world: World, keys) -> tuple[dict, Checker]:
    """Parse a TOML file's text and check its top-level keys; returns the table and a Checker for the rest."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, f"not valid TOML: {exc}") from None
    c = Checker(path, world)
    c.unknown("", raw, keys)
    return raw, c


def parse_scenario(text: str, path, world: World) -> Scenario:
    """Validate the text of a scenario file; raises ScenarioError naming the file and the key."""
    raw, c = read_toml(text, path, world, TOP_KEYS)
    for key in REQUIRED:
        if key not in raw:
            c.fail(key, f"missing; a scenario needs {', '.join(REQUIRED)}")
    start = c.date("start", raw["start"], WINDOW_FIRST, LATEST_START)
    end = c.date("end", raw["end"], start, WINDOW_LAST)
    overrides = c.table("params", raw.get("params", {}))
    unknown = sorted(set(overrides) - set(Params.names()))
    if unknown:
        c.fail(f"params.{unknown[0]}", "not a model parameter; allowed: " + ", ".join(Params.names()))
    spec = Params.spec()
    for key, value in overrides.items():
        if spec[key]["type"] == "float" and isinstance(value, int) and not isinstance(value, bool):
            overrides[key] = float(value)
    try:
        params = Params.from_dict(overrides)
    except ParamsError as exc:
        key = next((k for k in overrides if f"'{k}'" in str(exc)), None)
        raise ScenarioError(path, str(exc), f"params.{key}" if key else "params") from None

    initial_raw = c.table("initial", raw.get("initial", {}))
    c.unknown("initial.", initial_raw, INITIAL_KEYS)
    lists = {}
    for key in ("fallen", "besieged"):
        values = initial_raw.get(key, [])
        if not isinstance(values, list):
            c.fail(f"initial.{key}", f"expected a list of province names, got {values!r}")
        lists[key] = tuple(c.province(f"initial.{key}", v) for v in values)
    prisoners = c.number("initial.prisoners_freed", initial_raw.get("prisoners_freed", 0), 0, 100_000)

    events_raw = raw.get("events", [])
    if not isinstance(events_raw, list):
        c.fail("events", "expected [[events]] tables")
    events = tuple(_event(c, k, e, start, end) for k, e in enumerate(events_raw))
    for k in range(1, len(events)):
        if events[k].on < events[k - 1].on:
            c.fail(f"events[{k}].on", f"{events[k].on} comes before the previous event ({events[k - 1].on}): "
                                      "list events in date order")
    return Scenario(
        name=c.text("name", raw["name"]),
        description=c.text("description", raw["description"]),
        start=start,
        end=end,
        replicates=c.integer("replicates", raw["replicates"], 1, MAX_REPLICATES),
        seed=c.integer("seed", raw["seed"], 0, 2**63 - 1),
        params=params,
        initial=InitialConditions(fallen=lists["fallen"], besieged=lists["besieged"], prisoners_freed=prisoners),
        events=events,
        text=text,
        path=str(path),
    )


def resolve(name_or_path: str) -> Path:
    """A scenario given by name (scenarios/NAME.toml) or by path."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    return SCENARIO_DIR / f"{name_or_path}.toml"


def load_scenario(name_or_path: str, world: World) -> Scenario:
    path = resolve(name_or_path)
    if not path.is_file():
        known = ", ".join(sorted(q.stem for q in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(path, f"no such scenario file; the shipped scenarios are: {known}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(path, f"cannot be read: {exc}") from None
    return parse_scenario(text, path, world)


def list_scenarios(world: World) -> list[Scenario | ScenarioError]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out.append(load_scenario(str(path), world))
        except ScenarioError as exc:
            out.append(exc)
    return out


__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "list_scenarios", "resolve"]
