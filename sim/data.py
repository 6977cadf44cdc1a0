"""The observed 2021 record shipped in data/: load, validate, and return immutable objects.

Every file is read with the stdlib csv module and checked field by field. Any problem raises DataError naming
the file, the line (1-based, the header is line 1), the field and what was expected, so that an edited-wrong
data file gives one clear message instead of a traceback deep inside the model.

Every observation carries the day it was first reported, so that `Record.known_on(D)` gives the record as it stood
on the morning of D: a forecast from D may use only that (data/README.md, "Information cutoff").
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import networkx as nx

from .resources import data_dir

DATA_DIR = data_dir()  # the shipped record: sim/resources.py says where (installed copy or checkout)

#: The window any dated fact must lie in: the record runs from the April announcement to Panjshir in September.
RECORD_FIRST = dt.date(2021, 4, 1)
RECORD_LAST = dt.date(2021, 9, 30)
#: The withdrawal-phase window a simulation may cover.
WINDOW_FIRST = dt.date(2021, 5, 1)
WINDOW_LAST = dt.date(2021, 9, 30)

DATE_CONFIDENCE = ("high", "pm1", "low")
FELL_HOW = ("fighting", "negotiated", "surrender", "unknown")
KM_BASIS = ("reported", "great-circle")
ROAD_QUALITY = ("good", "poor")
HELD_2001 = ("yes", "partly", "no")
YES_NO = ("yes", "no")
ANA_CORPS = ("111", "201", "203", "205", "207", "209", "215", "217")  # the seven corps and the Capital Division
REGIONS = ("Capital", "Central Highland", "Eastern", "North Eastern", "Northern", "South Eastern", "Southern", "Western")
EVENT_CONFIDENCE = ("high", "medium", "low")
#: events.csv `basis`: a row observed on its day (reported on or after it), or a plan announced before it.
EVENT_BASIS = ("observed", "planned")
#: The days the TOLOnews district counts of province_covariates.csv describe (data/README.md).
DISTRICTS_JUN15 = dt.date(2021, 6, 15)
DISTRICTS_JUL15 = dt.date(2021, 7, 14)
#: What a fall not reported by the cutoff shows instead of its source (Record.known_on).
NOT_REPORTED = "not reported by the cutoff"
#: The kinds of events.csv. world.py reads the first four; the others document the timeline and are not read.
EVENT_KINDS = (
    "withdrawal_progress",  # world.py: share of the US withdrawal completed (value 0-1), interpolated day by day
    "contractors",  # world.py: contractors in country (value); the earliest census is the April reference level
    "bagram_handover",  # world.py: US air support moves over the horizon from this day (exactly one)
    "mission_end",  # world.py: US air support ends after this day (exactly one)
    "announcement",  # documentation: the withdrawal announced (14 Apr)
    "withdrawal_start",  # documentation: the withdrawal begins (1 May)
    "kandahar_airfield_handover",  # documentation
    "aaf_readiness_drop",  # documentation: the readiness drop the contractors' departure causes in the model
    "end_date_announced",  # documentation
    "command_handover",  # documentation
    "security_chiefs_replaced",  # world.py: a national morale shock on this day (mechanism 11, dated_shocks)
)
#: Events the withdrawal timeline needs, whether they need a value, and whether exactly one must be given.
TIMELINE_KINDS = (("withdrawal_progress", True, False), ("contractors", True, False), ("bagram_handover", False, True),
                  ("mission_end", False, True))
#: The shipped files are a few kB; a file this large is not an edited record (and would be read whole).
MAX_FILE_BYTES = 10_000_000

# Plain ASCII numbers and dates only: no '1_000', no Arabic-Indic digits, no '20210811' (all accepted by Python).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _show(v: str, limit: int = 60) -> str:
    """A field value quoted for a message, cut short so that a message stays one line."""
    v = v if v.isprintable() else v.encode("unicode_escape").decode("ascii")
    return repr(v if len(v) <= limit else v[:limit] + "...")


class DataError(ValueError):
    """A shipped data file is missing, malformed or inconsistent."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, field: str | None = None):
        where = f"{path}"
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.field = str(path), line, field


@dataclass(frozen=True)
class Province:
    name: str
    capital: str
    lat: float
    lon: float
    fell_on: dt.date | None
    date_confidence: str  # high | pm1 | low
    fell_how: str
    source: str
    reported_on: dt.date | None = None  # the fall was first reported on this day (None: no fall)
    reported_confidence: str = ""
    reported_source: str = ""

    @property
    def tolerance_days(self) -> int:
        """Days either side of fell_on that count as exact when scoring (data/README.md, date_confidence)."""
        return 0 if self.date_confidence == "high" else 1


@dataclass(frozen=True)
class Road:
    link_id: str
    a: str  # province at one end
    b: str
    road: str
    km: float
    km_basis: str
    quality: str
    source: str

    @property
    def is_poor(self) -> bool:
        return self.quality == "poor"


@dataclass(frozen=True)
class Event:
    on: dt.date
    kind: str
    value: float | None
    description: str
    confidence: str
    source: str
    basis: str = "observed"  # observed | planned
    reported_on: dt.date | None = None  # first reported (observed) or announced (planned)
    planned_end: dt.date | None = None  # the end of the withdrawal an announcement set
    reported_confidence: str = ""
    reported_source: str = ""


@dataclass(frozen=True)
class DistrictObservation:
    """One point of the Long War Journal district-control series: a calibration target, never a model input."""

    as_of: dt.date
    taliban: int
    contested: int | None
    government: int | None
    total: int | None
    date_approx: bool
    confidence: str
    source: str
    reported_on: dt.date | None = None  # first published (as_of is the day the figure describes)
    reported_confidence: str = ""
    reported_source: str = ""


@dataclass(frozen=True)
class Covariates:
    """Province facts from province_covariates.csv (data/README.md gives each column's sources and caveats).

    The dated observations (district counts, crossing captures, assaults on the capital, the DIA's "surrounded"
    list) carry their report dates and are None (or no) in a record known before them; the rest are static facts.
    """

    province: str
    region: str
    population: int
    population_imputed: bool
    n_districts: int
    n_districts_csvmap: int
    districts_taliban_jun15: int | None  # reported captures: not a model input; None before they were reported
    districts_taliban_jul15: int | None
    has_corps_hq: bool
    ana_corps: str | None  # the ANA corps (or the 111th Capital Division) responsible, where a source names one
    borders_pakistan: bool
    has_border_crossing: bool
    first_crossing_taken_on: dt.date | None
    majority_ethnic_group: str
    is_pashtun_majority: bool
    has_power_broker: bool
    capital_attacked_on: dt.date | None
    held_2001: str  # yes | partly | no
    surrounded_feb_2021: bool
    districts_taliban_jun15_reported_on: dt.date | None = None
    districts_taliban_jul15_reported_on: dt.date | None = None
    first_crossing_reported_on: dt.date | None = None
    capital_attacked_reported_on: dt.date | None = None
    surrounded_feb_2021_reported_on: dt.date | None = None

    @property
    def is_north(self) -> bool:
        return self.region in ("Northern", "North Eastern")

    @property
    def is_pakistan_east(self) -> bool:
        """The Pashtun east along the Pakistan border (AAN mid-July 2021: avoided so far)."""
        return self.region in ("Eastern", "South Eastern")


@dataclass(frozen=True)
class Record:
    """The whole observed record. Province order is the order of provinces.csv and indexes every array."""

    provinces: tuple[Province, ...]
    roads: tuple[Road, ...]
    events: tuple[Event, ...]
    district_series: tuple[DistrictObservation, ...]
    covariates: tuple[Covariates, ...]
    data_dir: str
    cutoff: dt.date | None = None  # None: the full record; else the record as known on the morning of this day

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.provinces)

    @cached_property
    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    @property
    def kabul(self) -> int:
        return self.index["Kabul"]

    def graph(self) -> nx.Graph:
        """The road graph: nodes are province names, edges carry km, quality and link_id."""
        g = nx.Graph()
        for p in self.provinces:
            g.add_node(p.name, capital=p.capital, pos=(p.lon, p.lat))
        for r in self.roads:
            g.add_edge(r.a, r.b, km=r.km, quality=r.quality, link_id=r.link_id)
        return g

    def events_of(self, kind: str) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == kind)

    def known_on(self, on: dt.date) -> Record:
        """The record as it stood on the morning of `on`: only what had been reported before that day.

        Falls, LWJ figures and dated covariates reported on or after `on` are dropped or take their unknown value
        (no fall, no figure, None, not surrounded); events keep the rows reported (or, for plans, announced)
        before `on`, from which world.build_world builds the withdrawal timeline as announced by then. Static
        facts (names, coordinates, roads, population, districts, corps, borders, 2001 front lines, power brokers)
        are kept. Scoring uses the full record; only a model's inputs go through this.
        """
        if type(on) is not dt.date:
            raise TypeError(f"known_on takes a datetime.date, not {type(on).__name__}")
        if self.cutoff is not None and on > self.cutoff:
            raise ValueError(f"a record as known on {self.cutoff} cannot say what was known on the later {on}")

        def known(day: dt.date | None) -> bool:
            return day is not None and day < on

        return replace(
            self,
            provinces=tuple(p if known(p.reported_on) else _unreported_fall(p) for p in self.provinces),
            events=tuple(e for e in self.events if known(e.reported_on)),
            district_series=tuple(o for o in self.district_series if known(o.reported_on)),
            covariates=tuple(_known_covariates(c, known) for c in self.covariates),
            cutoff=on,
        )


def _unreported_fall(p: Province) -> Province:
    """A province whose fall (if any) was not reported yet: held, as far as anyone could say."""
    return replace(p, fell_on=None, reported_on=None, date_confidence="high", fell_how="unknown", source=NOT_REPORTED,
                   reported_confidence="", reported_source="")


def _known_covariates(c: Covariates, known) -> Covariates:
    """The dated covariates as known on a cutoff (`known(report day)`); static facts are kept."""
    def field(value, reported_on, unknown=None):
        return (value, reported_on) if known(reported_on) else (unknown, None)

    jun, jun_on = field(c.districts_taliban_jun15, c.districts_taliban_jun15_reported_on)
    jul, jul_on = field(c.districts_taliban_jul15, c.districts_taliban_jul15_reported_on)
    crossing, crossing_on = field(c.first_crossing_taken_on, c.first_crossing_reported_on)
    attacked, attacked_on = field(c.capital_attacked_on, c.capital_attacked_reported_on)
    surrounded, surrounded_on = field(c.surrounded_feb_2021, c.surrounded_feb_2021_reported_on, unknown=False)
    return replace(c, districts_taliban_jun15=jun, districts_taliban_jun15_reported_on=jun_on,
                   districts_taliban_jul15=jul, districts_taliban_jul15_reported_on=jul_on,
                   first_crossing_taken_on=crossing, first_crossing_reported_on=crossing_on,
                   capital_attacked_on=attacked, capital_attacked_reported_on=attacked_on,
                   surrounded_feb_2021=surrounded, surrounded_feb_2021_reported_on=surrounded_on)


# ----------------------------------------------------------------------------------------------- parsing helpers


class _Rows:
    """Reads one CSV file and converts fields, raising DataError with the file, line and field."""

    def __init__(self, path: Path, required: tuple[str, ...]):
        self.path = path
        if path.is_dir():
            raise DataError(path, "is a folder; expected a CSV file")
        if not path.is_file():
            raise DataError(path, "file not found")
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise DataError(path, f"too large ({path.stat().st_size:,} bytes); at most {MAX_FILE_BYTES:,}")
            # utf-8-sig: a byte-order mark (as some spreadsheets write) is not part of the first column's name.
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader, [])
                rows, last = [], reader.line_num
                for fields in reader:  # a row starts on the line after the previous one ends (quoted newlines)
                    if fields:  # blank lines are skipped
                        rows.append((last + 1, fields))
                    last = reader.line_num
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(path, f"not a readable CSV file ({exc})") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(path, f"missing column(s) {missing}; the header must contain {list(required)}", line=1)
        twice = sorted({c for c in header if header.count(c) > 1})
        if twice:
            raise DataError(path, f"column(s) {', '.join(map(_show, twice))} appear more than once in the header",
                            line=1)
        self.rows = []
        for line, fields in rows:
            if len(fields) != len(header):
                raise DataError(path, f"wrong number of fields (expected {len(header)}, found {len(fields)})",
                                line=line)
            self.rows.append((line, dict(zip(header, fields))))
        if not self.rows:
            raise DataError(path, "no data rows")

    def fail(self, line: int, field: str, message: str):
        raise DataError(self.path, message, line=line, field=field)

    def text(self, line, row, field, allowed=None, required=True) -> str:
        v = row[field].strip()
        if required and not v:
            self.fail(line, field, "must not be empty")
        if allowed is not None and v not in allowed:
            self.fail(line, field, f"{_show(v)} is not one of {list(allowed)}")
        return v

    def number(self, line, row, field, lo=None, hi=None, integer=False, required=True):
        v = row[field].strip()
        if not v:
            if required:
                self.fail(line, field, "must not be empty")
            return None
        what = "an integer" if integer else "a number"
        if not (_INTEGER if integer else _NUMBER).fullmatch(v):
            try:
                finite = math.isfinite(float(v))
            except ValueError:
                finite = True
            self.fail(line, field, f"{_show(v)} is not {what if finite else 'a finite number'}")
        try:
            x = int(v) if integer else float(v)
        except ValueError:  # an integer of more than 4,300 digits
            self.fail(line, field, f"{_show(v)} is not {what} of a sensible size")
        if not math.isfinite(x):  # NaN passes every comparison; 1e400 reads as inf
            self.fail(line, field, f"{_show(v)} is not a finite number")
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            self.fail(line, field, f"{_show(v)} is outside the allowed range [{lo}, {hi}]")
        return x

    def date(self, line, row, field, lo=RECORD_FIRST, hi=RECORD_LAST, required=True) -> dt.date | None:
        v = row[field].strip()
        if not v:
            if required:
                self.fail(line, field, "must not be empty (a date YYYY-MM-DD)")
            return None
        try:
            if not _DATE.fullmatch(v):
                raise ValueError
            d = dt.date.fromisoformat(v)
        except ValueError:
            self.fail(line, field, f"{_show(v)} is not a date YYYY-MM-DD")
        if not lo <= d <= hi:
            self.fail(line, field, f"{d} lies outside the window {lo} to {hi}")
        return d

    def flag(self, line, row, field) -> bool:
        return self.text(line, row, field, allowed=YES_NO) == "yes"

    def reported(self, line, row, field, reports: dt.date | None, what: str, lo=RECORD_FIRST,
                 hi=RECORD_LAST) -> dt.date | None:
        """The day an observation was first reported: given exactly where there is one (`reports`, the day it
        describes, or None for no observation), and never before that day."""
        d = self.date(line, row, field, lo, hi, required=False)
        if d is None and reports is not None:
            self.fail(line, field, f"must not be empty: the day the {what} ({reports}) was first reported")
        if d is not None and reports is None:
            self.fail(line, field, f"must be empty: there is no {what} to report")
        if d is not None and d < reports:
            self.fail(line, field, f"{d} is before {reports}, the {what} it reports")
        return d


# ----------------------------------------------------------------------------------------------- file loaders


def _load_provinces(path: Path) -> tuple[Province, ...]:
    f = _Rows(path, ("province", "capital", "lat", "lon", "fell_on", "reported_on", "date_confidence", "fell_how",
                     "source", "reported_confidence", "reported_source"))
    out, seen = [], {}
    for line, r in f.rows:
        name = f.text(line, r, "province")
        if name in seen:
            f.fail(line, "province", f"'{name}' appears twice (first on line {seen[name]})")
        seen[name] = line
        capital = f.text(line, r, "capital")
        # Afghanistan lies within 29-39 N, 60-75 E.
        lat, lon = f.number(line, r, "lat", 29.0, 39.0), f.number(line, r, "lon", 60.0, 75.0)
        fell_on = f.date(line, r, "fell_on", WINDOW_FIRST, WINDOW_LAST, required=False)
        out.append(
            Province(
                name=name,
                capital=capital,
                lat=lat,
                lon=lon,
                fell_on=fell_on,
                date_confidence=f.text(line, r, "date_confidence", DATE_CONFIDENCE),
                fell_how=f.text(line, r, "fell_how", FELL_HOW),
                source=f.text(line, r, "source"),
                reported_on=f.reported(line, r, "reported_on", fell_on, "fall", WINDOW_FIRST, WINDOW_LAST),
                # Empty where there is no fall to report.
                reported_confidence=f.text(line, r, "reported_confidence",
                                           EVENT_CONFIDENCE if fell_on is not None else ("",), required=False),
                reported_source=f.text(line, r, "reported_source", required=False),
            )
        )
    if len(out) != 34:
        raise DataError(path, f"expected the 34 provinces of 2021, found {len(out)}")
    capitals = [p.capital for p in out]
    if len(set(capitals)) != len(capitals):
        raise DataError(path, "capital names are not unique", field="capital")
    if "Kabul" not in seen:
        raise DataError(path, "the province 'Kabul' is missing", field="province")
    return tuple(out)


def _load_roads(path: Path, provinces: dict[str, int]) -> tuple[Road, ...]:
    f = _Rows(path, ("link_id", "from_province", "to_province", "road", "km", "km_basis", "quality", "source"))
    out, ids, pairs = [], {}, {}
    for line, r in f.rows:
        link = f.text(line, r, "link_id")
        if link in ids:
            f.fail(line, "link_id", f"'{link}' appears twice (first on line {ids[link]})")
        ids[link] = line
        a = f.text(line, r, "from_province", allowed=provinces)
        b = f.text(line, r, "to_province", allowed=provinces)
        if a == b:
            f.fail(line, "to_province", "a road must join two different provinces")
        pair = frozenset((a, b))
        if pair in pairs:
            f.fail(line, "to_province", f"{a}-{b} duplicates the link on line {pairs[pair]}")
        pairs[pair] = line
        out.append(
            Road(
                link_id=link,
                a=a,
                b=b,
                road=f.text(line, r, "road"),
                km=f.number(line, r, "km", 1.0, 1000.0),
                km_basis=f.text(line, r, "km_basis", KM_BASIS),
                quality=f.text(line, r, "quality", ROAD_QUALITY),
                source=f.text(line, r, "source"),
            )
        )
    g = nx.Graph()
    g.add_nodes_from(provinces)
    g.add_edges_from((r.a, r.b) for r in out)
    if not nx.is_connected(g):
        parts = sorted((sorted(c) for c in nx.connected_components(g)), key=len)
        raise DataError(path, f"the road graph is not connected; cut off from the rest: {parts[0]}")
    return tuple(out)


def _load_events(path: Path) -> tuple[Event, ...]:
    f = _Rows(path, ("on", "kind", "value", "description", "confidence", "source", "basis", "reported_on",
                     "planned_end", "reported_confidence", "reported_source"))
    out, lines, seen = [], [], {}
    for line, r in f.rows:
        e = Event(
            on=f.date(line, r, "on"),
            kind=f.text(line, r, "kind", EVENT_KINDS),
            value=f.number(line, r, "value", 0.0, None, required=False),
            description=f.text(line, r, "description"),
            confidence=f.text(line, r, "confidence", EVENT_CONFIDENCE),
            source=f.text(line, r, "source"),
            basis=f.text(line, r, "basis", EVENT_BASIS),
            reported_on=f.date(line, r, "reported_on"),
            planned_end=f.date(line, r, "planned_end", required=False),
            reported_confidence=f.text(line, r, "reported_confidence", EVENT_CONFIDENCE),
            reported_source=f.text(line, r, "reported_source", required=False),
        )
        if (e.kind, e.on) in seen:
            f.fail(line, "on", f"'{e.kind}' on {e.on} appears twice (lines {seen[e.kind, e.on]} and {line}): "
                               "give one row per kind and date")
        seen[e.kind, e.on] = line
        if e.basis == "observed" and e.reported_on < e.on:
            f.fail(line, "reported_on", f"{e.reported_on} is before {e.on}: an observed event is reported on or after "
                                        "its day (a plan announced earlier is basis 'planned')")
        if e.basis == "planned" and e.reported_on > e.on:
            f.fail(line, "reported_on", f"{e.reported_on} is after {e.on}: a plan is announced before the day it plans")
        if e.planned_end is not None and e.planned_end < e.reported_on:
            f.fail(line, "planned_end", f"{e.planned_end} is before the announcement ({e.reported_on})")
        out.append(e)
        lines.append(line)
    of_kind = {kind: [(ln, e) for ln, e in zip(lines, out) if e.kind == kind] for kind in EVENT_KINDS}
    for kind, needs_value, exactly_one in TIMELINE_KINDS:
        rows = of_kind[kind]
        if not rows:
            raise DataError(path, f"no '{kind}' event: the model's withdrawal timeline needs it", field="kind")
        if exactly_one and len(rows) > 1:
            raise DataError(path, f"'{kind}' appears on lines {', '.join(str(ln) for ln, _ in rows)}: the model's "
                                  "withdrawal timeline needs exactly one", field="kind")
        for ln, e in rows:
            if needs_value and e.value is None:
                f.fail(ln, "value", f"every '{kind}' event needs a value")
    progress = [e.value for _, e in sorted(of_kind["withdrawal_progress"], key=lambda x: x[1].on)]
    if any(v > 1 for v in progress) or progress != sorted(progress):
        raise DataError(path, "withdrawal_progress values must rise over time within [0, 1]", field="value")
    ln, april = min(of_kind["contractors"], key=lambda x: x[1].on)
    if april.value <= 0:  # the reference level the later censuses are divided by (world.py)
        f.fail(ln, "value", "the earliest 'contractors' census must be above 0: it is the reference level")
    (_, bagram), (ln, end) = of_kind["bagram_handover"][0], of_kind["mission_end"][0]
    if end.on < bagram.on:
        f.fail(ln, "on", f"mission_end ({end.on}) comes before bagram_handover ({bagram.on})")
    # A run from 1 May follows the plan as announced before it (world.build_world on Record.known_on).
    if not any(e.planned_end is not None and e.reported_on < WINDOW_FIRST for e in out):
        raise DataError(path, f"no withdrawal plan (a planned_end) announced before {WINDOW_FIRST}: a run from then "
                              "follows the plan known on its first morning", field="planned_end")
    for kind in ("withdrawal_progress", "contractors"):
        if not any(e.reported_on < WINDOW_FIRST for _, e in of_kind[kind]):
            raise DataError(path, f"no '{kind}' row reported before {WINDOW_FIRST}: a run from then needs one",
                            field="reported_on")
    return tuple(out)


def _load_district_series(path: Path) -> tuple[DistrictObservation, ...]:
    f = _Rows(path, ("as_of", "reported_on", "taliban", "contested", "government", "total", "date_approx", "confidence",
                     "source", "reported_confidence", "reported_source"))
    out, seen = [], {}
    for line, r in f.rows:
        as_of = f.date(line, r, "as_of")
        o = DistrictObservation(
            as_of=as_of,
            taliban=f.number(line, r, "taliban", 0, 500, integer=True),
            contested=f.number(line, r, "contested", 0, 500, integer=True, required=False),
            government=f.number(line, r, "government", 0, 500, integer=True, required=False),
            total=f.number(line, r, "total", 300, 500, integer=True, required=False),
            date_approx=f.flag(line, r, "date_approx"),
            confidence=f.text(line, r, "confidence", EVENT_CONFIDENCE),
            source=f.text(line, r, "source"),
            reported_on=f.reported(line, r, "reported_on", as_of, "figure"),
            reported_confidence=f.text(line, r, "reported_confidence", EVENT_CONFIDENCE),
            reported_source=f.text(line, r, "reported_source", required=False),
        )
        if o.as_of in seen:
            f.fail(line, "as_of", f"{o.as_of} appears twice (lines {seen[o.as_of]} and {line}): one figure per date")
        seen[o.as_of] = line
        parts = o.taliban + (o.contested or 0) + (o.government or 0)
        if o.total is not None and parts > o.total:
            f.fail(line, "total", f"taliban + contested + government = {parts} is more than the total {o.total}")
        out.append(o)
    return tuple(sorted(out, key=lambda o: o.as_of))


def _load_covariates(path: Path, names: tuple[str, ...]) -> tuple[Covariates, ...]:
    f = _Rows(
        path,
        ("province", "region", "population_2021", "population_imputed", "districts_total", "districts_csvmap",
         "districts_taliban_jun15", "districts_taliban_jul15", "districts_taliban_jun15_reported_on",
         "districts_taliban_jul15_reported_on", "has_corps_hq", "ana_corps", "borders_pakistan", "has_border_crossing",
         "first_crossing_taken_on", "first_crossing_reported_on", "majority_ethnic_group", "is_pashtun_majority",
         "has_power_broker", "capital_attacked_before_aug", "capital_attacked_reported_on", "held_against_taliban_2001",
         "surrounded_feb_2021", "surrounded_feb_2021_reported_on"),
    )
    by_name = {}
    for line, r in f.rows:
        name = f.text(line, r, "province", allowed=names)
        if name in by_name:
            f.fail(line, "province", f"'{name}' appears twice")
        n_csv = f.number(line, r, "districts_csvmap", 1, 40, integer=True)
        crossing = f.date(line, r, "first_crossing_taken_on", required=False)
        attacked = f.date(line, r, "capital_attacked_before_aug", required=False)
        by_name[name] = Covariates(
            province=name,
            region=f.text(line, r, "region", REGIONS),
            population=f.number(line, r, "population_2021", 10_000, 10_000_000, integer=True),
            population_imputed=f.flag(line, r, "population_imputed"),
            n_districts=f.number(line, r, "districts_total", 1, 40, integer=True),
            n_districts_csvmap=n_csv,
            districts_taliban_jun15=f.number(line, r, "districts_taliban_jun15", 0, n_csv, integer=True),
            districts_taliban_jul15=f.number(line, r, "districts_taliban_jul15", 0, n_csv, integer=True),
            has_corps_hq=f.flag(line, r, "has_corps_hq"),
            ana_corps=f.text(line, r, "ana_corps", ANA_CORPS + ("",), required=False) or None,
            borders_pakistan=f.flag(line, r, "borders_pakistan"),
            has_border_crossing=f.flag(line, r, "has_border_crossing"),
            first_crossing_taken_on=crossing,
            majority_ethnic_group=f.text(line, r, "majority_ethnic_group"),
            is_pashtun_majority=f.flag(line, r, "is_pashtun_majority"),
            has_power_broker=f.flag(line, r, "has_power_broker"),
            capital_attacked_on=attacked,
            held_2001=f.text(line, r, "held_against_taliban_2001", HELD_2001),
            surrounded_feb_2021=f.flag(line, r, "surrounded_feb_2021"),
            districts_taliban_jun15_reported_on=f.reported(line, r, "districts_taliban_jun15_reported_on",
                                                           DISTRICTS_JUN15, "count"),
            districts_taliban_jul15_reported_on=f.reported(line, r, "districts_taliban_jul15_reported_on",
                                                           DISTRICTS_JUL15, "count"),
            first_crossing_reported_on=f.reported(line, r, "first_crossing_reported_on", crossing, "capture"),
            capital_attacked_reported_on=f.reported(line, r, "capital_attacked_reported_on", attacked, "assault"),
            # The list describes February 2021 (before the record's window); only its report date is checked.
            surrounded_feb_2021_reported_on=f.date(line, r, "surrounded_feb_2021_reported_on"),
        )
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DataError(path, f"no row for province(s) {missing}", field="province")
    return tuple(by_name[n] for n in names)


def load_record(data_dir: Path | str | None = None) -> Record:
    """Load and validate every data file. Raises DataError naming the file, line and field of the first problem."""
    d = Path(data_dir) if data_dir is not None else DATA_DIR
    provinces = _load_provinces(d / "provinces.csv")
    names = tuple(p.name for p in provinces)
    index = {n: i for i, n in enumerate(names)}
    return Record(
        provinces=provinces,
        roads=_load_roads(d / "roads.csv", index),
        events=_load_events(d / "events.csv"),
        district_series=_load_district_series(d / "district_control.csv"),
        covariates=_load_covariates(d / "province_covariates.csv", names),
        data_dir=str(d),
    )
