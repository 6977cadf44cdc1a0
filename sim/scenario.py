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
date outside the window, events out of order or contradicting each other, a name that is not a safe folder name,
or a file that is not UTF-8 TOML of at most 1 MB. Each raises ScenarioError naming the file, the key and what is
allowed.
"""

from __future__ import annotations

import datetime as dt
import re
import reprlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .data import WINDOW_FIRST, WINDOW_LAST
from .interventions import ALL, KINDS, Intervention
from .params import Params, ParamsError
from .resources import scenario_dir
from .seeding import InitialConditions
from .world import World

SCENARIO_DIR = scenario_dir()  # the shipped scenarios (sim/resources.py)
LATEST_START = dt.date(2021, 8, 15)
TOP_KEYS = {"name": "text", "description": "text", "start": "date", "end": "date", "replicates": "integer",
            "seed": "integer", "hindsight": "true or false", "params": "table", "initial": "table",
            "events": "array of tables"}
REQUIRED = ("name", "description", "start", "end", "replicates", "seed")
INITIAL_KEYS = ("fallen", "besieged", "prisoners_freed")
MAX_REPLICATES = 10_000_000
#: Every command's rule for a seed: a whole number 0 to MAX_SEED (what np.random.SeedSequence and Parquet take).
MAX_SEED = 2**63 - 1
#: A run covers at least this many days after its start: end >= start + MIN_DAYS (a run of one day has no dynamics).
MIN_DAYS = 1
#: Scenario and sweep files are read whole; a real one is a few kB.
MAX_FILE_BYTES = 1_000_000
#: A name becomes a folder under results/ (deleted and rewritten): a plain slug, never a path.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = ("1 to 64 characters: letters, digits, '_', '.' and '-', starting with a letter or digit, without '..' "
             "(it names the results folder)")
#: Troops sent to one province over all reinforce events: the same as one event's maximum.
MAX_TROOPS_PER_PROVINCE = KINDS["reinforce"].args["troops"].hi

_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlong, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 40, 6, 4, 3


def show(value) -> str:
    """A value as quoted in a message: repr, cut short and never nested deep, so that a message stays one line."""
    return _REPR.repr(value)


def is_safe_name(value) -> bool:
    """Whether `value` may name a results folder (NAME_RULE)."""
    return isinstance(value, str) and NAME_PATTERN.fullmatch(value) is not None and ".." not in value


class ScenarioError(ValueError):
    """A scenario file is malformed or asks for something that does not exist."""

    def __init__(self, path, message: str, key: str | None = None):
        if key and not (key.isprintable() and len(key) <= 100):  # a quoted TOML key may hold anything
            key = key.encode("unicode_escape").decode("ascii")[:100]
        shown = str(path) if len(str(path)) <= 200 else str(path)[:200] + "..."
        where = shown + (f": key '{key}'" if key is not None else "")  # '' is a valid (quoted) TOML key
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
    # False (the default): a forecast made on the morning of `start`, whose inputs are the record as known then.
    # True: a reconstruction whose inputs are the record as it turned out (the withdrawal as it happened, reports
    # published later); its fit to 2021 is in sample by construction.
    hindsight: bool = False

    def world(self, world: World) -> World:
        """The world this scenario's runs see: `world` as known on the morning of the start, or whole."""
        return world if self.hindsight else world.known_on(self.start)

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
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
                    raise ValueError  # fromisoformat also takes '20210501' and week dates
                value = dt.date.fromisoformat(value)
            except ValueError:
                self.fail(key, f"{show(value)} is not a date YYYY-MM-DD")
        if not isinstance(value, dt.date):
            self.fail(key, f"expected a date YYYY-MM-DD, got {show(value)}")
        if not lo <= value <= hi:
            self.fail(key, f"{value} is outside the window: allowed {lo} to {hi}")
        return value

    def text(self, key, value) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected non-empty text, got {show(value)}")
        return value

    def name(self, key, value) -> str:
        """A name that becomes a results folder: checked before any work starts (NAME_RULE)."""
        if not is_safe_name(value):
            self.fail(key, f"{show(value)} is not a safe name; allowed: {NAME_RULE}")
        return value

    def integer(self, key, value, lo, hi) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected a whole number, got {show(value)}")
        if not lo <= value <= hi:
            self.fail(key, f"{show(value)} is out of bounds: allowed {lo} to {hi}")
        return value

    def seed(self, key, value) -> int:
        return self.integer(key, value, 0, MAX_SEED)

    def number(self, key, value, lo, hi) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"expected a number, got {show(value)}")
        if not (lo <= value <= hi):  # NaN fails this too
            self.fail(key, f"{show(value)} is out of bounds: allowed {lo:g} to {hi:g}")
        return float(value)

    def province(self, key, value, allow_all=False) -> str:
        names = self.world.names
        if allow_all and value == ALL:
            return value
        if not isinstance(value, str) or value not in names:
            allowed = ("'all' or " if allow_all else "") + ", ".join(names)
            self.fail(key, f"unknown province {show(value)}; allowed: {allowed}")
        return value

    def link(self, key, value) -> str:
        if not isinstance(value, str) or value not in self.world.link_ids:
            self.fail(key, f"unknown road {show(value)}; allowed (link_id in data/roads.csv): "
                           + ", ".join(self.world.link_ids))
        return value

    def table(self, key, value) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table [{key}], got {show(value)}")
        return value

    def unknown(self, key_prefix, given, allowed):
        extra = sorted(set(given) - set(allowed))
        if extra:
            self.fail(f"{key_prefix}{extra[0]}", f"unknown key; allowed: {', '.join(allowed)}")


def _event(c: Checker, k: int, raw, start: dt.date, end: dt.date) -> Intervention:
    key = f"events[{k}]"
    c.table(key, raw)
    kind = raw.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        c.fail(f"{key}.kind", f"unknown event kind {show(kind)}; allowed: {', '.join(KINDS)}")
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
            if not isinstance(v, str) or v not in arg.choices:
                c.fail(akey, f"{show(v)} is not allowed; allowed: {', '.join(arg.choices)}")
        elif arg.type == "date":
            v = c.date(akey, v, on, end)
        args.append((name, v))
    return Intervention(kind=kind, on=on, args=tuple(args))


def _check_events(c: Checker, events: tuple[Intervention, ...], end: dt.date) -> None:
    """What each event allows but a list of them must not: contradictions and totals beyond one event's bound."""
    for k in range(1, len(events)):
        if events[k].on < events[k - 1].on:
            c.fail(f"events[{k}].on", f"{events[k].on} comes before the previous event ({events[k - 1].on}): "
                                      "list events in date order")
    roads = [(k, e, e.get("until") or end) for k, e in enumerate(events) if e.kind == "road"]
    for i, a, a_last in roads:
        for j, b, b_last in roads:
            if i < j and a.get("link") == b.get("link") and a.get("action") != b.get("action"):
                first, last = max(a.on, b.on), min(a_last, b_last)
                if first <= last:
                    c.fail(f"events[{j}]", f"link {a.get('link')} is held and cut on the same days ({first} to "
                                           f"{last}): events[{i}] {a.get('action')}s it from {a.on} to {a_last}, "
                                           f"events[{j}] {b.get('action')}s it from {b.on} to {b_last}")
    same_day = {}
    for k, e in enumerate(events):
        if e.kind in ("us_air_support", "contractors"):
            if (e.kind, e.on) in same_day:
                c.fail(f"events[{k}]", f"events[{same_day[e.kind, e.on]}] already sets {e.kind} on {e.on}: give one "
                                       "share per day")
            same_day[e.kind, e.on] = k
    sent: dict[str, float] = {}
    for k, e in enumerate(events):
        if e.kind == "reinforce":
            sent[e.get("province")] = sent.get(e.get("province"), 0.0) + e.get("troops")
            if sent[e.get("province")] > MAX_TROOPS_PER_PROVINCE:
                c.fail(f"events[{k}].troops", f"the reinforce events send {sent[e.get('province')]:,.0f} troops to "
                                              f"{e.get('province')} by this one; allowed: at most "
                                              f"{MAX_TROOPS_PER_PROVINCE:,.0f} to one province over all events")


def read_text(path: Path, missing: str) -> str:
    """A scenario or sweep file's text: UTF-8 (a byte-order mark is dropped), at most MAX_FILE_BYTES."""
    try:
        if not path.is_file():
            raise ScenarioError(path, missing)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(path, f"too large, at most {MAX_FILE_BYTES // 1_000_000} MB")
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(path, f"cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, f"not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8") from None


def read_toml(text: str, path, world: World, keys) -> tuple[dict, Checker]:
    """Parse a TOML file's text and check its top-level keys; returns the table and a Checker for the rest."""
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(path, f"too large, at most {MAX_FILE_BYTES // 1_000_000} MB")
    try:
        raw = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, f"not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ScenarioError(path, "not valid TOML: arrays or tables nested too deeply") from None
    c = Checker(path, world)
    c.unknown("", raw, keys)
    return raw, c


def _flag(c: Checker, key: str, value) -> bool:
    if not isinstance(value, bool):
        c.fail(key, f"expected true or false, got {show(value)}")
    return value


def parse_scenario(text: str, path, world: World) -> Scenario:
    """Validate the text of a scenario file; raises ScenarioError naming the file and the key."""
    raw, c = read_toml(text, path, world, TOP_KEYS)
    for key in REQUIRED:
        if key not in raw:
            c.fail(key, f"missing; a scenario needs {', '.join(REQUIRED)}")
    name = c.name("name", raw["name"])
    start = c.date("start", raw["start"], WINDOW_FIRST, LATEST_START)
    end = c.date("end", raw["end"], WINDOW_FIRST, WINDOW_LAST)
    if (end - start).days < MIN_DAYS:
        c.fail("end", f"end must be after start: {end} is not after {start}"
                      + (f" by at least {MIN_DAYS} days" if MIN_DAYS > 1 else ""))
    overrides = c.table("params", raw.get("params", {}))
    unknown = sorted(set(overrides) - set(Params.names()))
    if unknown:
        c.fail(f"params.{unknown[0]}", "not a model parameter; allowed: " + ", ".join(Params.names()))
    spec = Params.spec()
    for key, value in overrides.items():
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if spec[key]["type"] == "bool" and not isinstance(value, bool):
            c.fail(f"params.{key}", f"parameter '{key}' must be true or false, got {show(value)}")
        if spec[key]["type"] != "bool" and not is_number:
            c.fail(f"params.{key}", f"parameter '{key}' must be a number, got {show(value)}")
        if spec[key]["type"] == "float" and is_number and abs(value) <= 1e300:
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
            c.fail(f"initial.{key}", f"expected a list of province names, got {show(values)}")
        lists[key] = tuple(c.province(f"initial.{key}", v) for v in values)
        twice = sorted({v for v in lists[key] if lists[key].count(v) > 1})
        if twice:
            c.fail(f"initial.{key}", f"{twice[0]!r} is listed twice; list each province once")
    both = sorted(set(lists["fallen"]) & set(lists["besieged"]))
    if both:
        c.fail("initial.besieged", f"{both[0]!r} is also listed as fallen: a capital starts fallen or besieged, "
                                   "not both")
    for v in lists["besieged"]:
        fell_on = world.record.provinces[world.record.index[v]].fell_on
        if fell_on is not None and fell_on < start:
            c.fail("initial.besieged", f"{v!r} fell on {fell_on} (data/provinces.csv), before the start {start}: "
                                       "only a capital still held can start besieged")
    prisoners = c.number("initial.prisoners_freed", initial_raw.get("prisoners_freed", 0), 0, 100_000)

    events_raw = raw.get("events", [])
    if not isinstance(events_raw, list):
        c.fail("events", "expected [[events]] tables")
    events = tuple(_event(c, k, e, start, end) for k, e in enumerate(events_raw))
    _check_events(c, events, end)
    return Scenario(
        name=name,
        description=c.text("description", raw["description"]),
        start=start,
        end=end,
        replicates=c.integer("replicates", raw["replicates"], 1, MAX_REPLICATES),
        seed=c.seed("seed", raw["seed"]),
        params=params,
        initial=InitialConditions(fallen=lists["fallen"], besieged=lists["besieged"], prisoners_freed=prisoners),
        events=events,
        text=text,
        path=str(path),
        hindsight=_flag(c, "hindsight", raw.get("hindsight", False)),
    )


def resolve(name_or_path: str, folder: Path = SCENARIO_DIR) -> Path:
    """A scenario (or sweep) given by name (folder/NAME.toml) or by path."""
    p = Path(name_or_path)
    try:
        if p.suffix == ".toml" or p.exists():
            return p
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return p
    return folder / f"{name_or_path}.toml"


def load_scenario(name_or_path: str, world: World) -> Scenario:
    path = resolve(name_or_path)
    known = ", ".join(sorted(q.stem for q in SCENARIO_DIR.glob("*.toml")))
    text = read_text(path, f"no such scenario file; the shipped scenarios are: {known}")
    return parse_scenario(text, path, world)


def list_scenarios(world: World) -> list[Scenario | ScenarioError]:
    out = []
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        try:
            out.append(load_scenario(str(path), world))
        except ScenarioError as exc:
            out.append(exc)
    return out


__all__ = ["Scenario", "ScenarioError", "load_scenario", "parse_scenario", "list_scenarios", "resolve", "read_text",
           "is_safe_name", "MAX_SEED", "MIN_DAYS", "NAME_RULE"]
