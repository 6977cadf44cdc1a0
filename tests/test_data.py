"""The shipped record loads, is consistent, and a broken file is reported with its file, line and field."""

import csv
import datetime as dt

import networkx as nx
import pytest

from sim.data import WINDOW_FIRST, WINDOW_LAST, DataError, load_record


def test_record_is_complete_and_consistent():
    rec = load_record()
    assert len(rec.provinces) == 34
    assert len(set(rec.names)) == 34
    assert len(rec.roads) == 40
    assert {r.a for r in rec.roads} | {r.b for r in rec.roads} <= set(rec.names)
    assert nx.is_connected(rec.graph())
    assert all(WINDOW_FIRST <= p.fell_on <= WINDOW_LAST for p in rec.provinces)
    assert [c.province for c in rec.covariates] == list(rec.names)
    # The headline facts of the record.
    first = min(rec.provinces, key=lambda p: p.fell_on)
    assert first.capital == "Zaranj" and first.fell_on == dt.date(2021, 8, 6)
    assert rec.provinces[rec.kabul].fell_on == dt.date(2021, 8, 15)
    assert sum(p.fell_how == "surrender" for p in rec.provinces) == 13
    assert sum(p.fell_how == "negotiated" for p in rec.provinces) == 6
    assert [o.taliban for o in rec.district_series if o.as_of >= dt.date(2021, 4, 30)][:4] == [73, 106, 204, 224]


def _rewrite(path, edit):
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    edit(rows)
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _set(path, line, column, value):
    def edit(rows):
        rows[line - 1][rows[0].index(column)] = value
    _rewrite(path, edit)


@pytest.mark.parametrize(
    "filename, line, field, value, message",
    [
        ("provinces.csv", 3, "fell_on", "2021-13-01", "is not a date"),
        ("provinces.csv", 3, "fell_on", "2021-04-20", "outside the window"),
        ("provinces.csv", 3, "province", "Badakhshan", "appears twice"),
        ("provinces.csv", 5, "lat", "north", "is not a number"),
        ("provinces.csv", 5, "lat", "51.5", "outside the allowed range"),
        ("provinces.csv", 4, "fell_how", "stormed", "is not one of"),
        ("roads.csv", 2, "to_province", "Atlantis", "is not one of"),
        ("roads.csv", 2, "km", "-3", "outside the allowed range"),
        ("roads.csv", 6, "quality", "terrible", "is not one of"),
        ("events.csv", 2, "on", "2022-01-01", "outside the window"),
        ("district_control.csv", 3, "taliban", "lots", "is not an integer"),
        ("province_covariates.csv", 7, "held_against_taliban_2001", "maybe", "is not one of"),
        ("province_covariates.csv", 7, "population_2021", "", "must not be empty"),
    ],
)
def test_bad_field_names_file_line_and_field(data_copy, filename, line, field, value, message):
    assert_one_data_error(data_copy, filename, line, field, value, message)


def assert_one_data_error(data_copy, filename, line, field, value, message):
    """Set one field of a copy of the data; loading it must fail naming the file, line, field and the problem."""
    _set(data_copy / filename, line, field, value)
    with pytest.raises(DataError) as err:
        load_record(data_copy)
    text = str(err.value)
    assert filename in text and f"line {line}" in text and f"field '{field}'" in text and message in text, text


def test_disconnected_road_graph_is_reported(data_copy):
    # Charikar-Bazarak is Panjshir's only link.
    _rewrite(data_copy / "roads.csv", lambda rows: rows.remove(next(r for r in rows if r[0] == "charikar-bazarak")))
    with pytest.raises(DataError, match=r"roads.csv: the road graph is not connected; cut off from the rest: \['Panjshir'\]"):
        load_record(data_copy)


def test_missing_province_row_is_reported(data_copy):
    _rewrite(data_copy / "provinces.csv", lambda rows: rows.pop(5))
    with pytest.raises(DataError, match="expected the 34 provinces of 2021, found 33"):
        load_record(data_copy)


def test_missing_column_and_ragged_row(data_copy):
    path = data_copy / "roads.csv"
    text = path.read_text().replace("km_basis", "basis", 1)
    path.write_text(text)
    with pytest.raises(DataError, match=r"roads.csv, line 1: missing column\(s\) \['km_basis'\]"):
        load_record(data_copy)


def test_ragged_row(data_copy):
    path = data_copy / "events.csv"
    path.write_text(path.read_text() + "2021-08-20,extra\n")
    with pytest.raises(DataError, match=r"events.csv, line \d+: wrong number of fields"):
        load_record(data_copy)


def test_missing_file(data_copy):
    (data_copy / "roads.csv").unlink()
    with pytest.raises(DataError, match="roads.csv: file not found"):
        load_record(data_copy)


def test_not_utf8(data_copy):
    (data_copy / "events.csv").write_bytes(b"on,kind\n\xff\xfe\xfa\n")
    with pytest.raises(DataError, match="events.csv: not a readable CSV file"):
        load_record(data_copy)


@pytest.mark.parametrize("filename, line, field, value", [
    ("roads.csv", 2, "km", "nan"),  # used to reach the simulation and fail there with an IndexError
    ("provinces.csv", 2, "lat", "nan"),  # NaN passes every range check
    ("provinces.csv", 2, "lon", "-inf"),
    ("events.csv", 3, "value", "nan"),
    ("events.csv", 3, "value", "inf"),
    ("events.csv", 3, "value", "1e400"),  # reads as inf
    ("district_control.csv", 2, "taliban", "nan"),
])
def test_non_finite_numbers_are_rejected(data_copy, filename, line, field, value):
    _set(data_copy / filename, line, field, value)
    with pytest.raises(DataError) as err:
        load_record(data_copy)
    text = str(err.value)
    assert filename in text and f"line {line}" in text and f"field '{field}'" in text, text
    assert "is not a finite number" in text or "is not an integer" in text, text


@pytest.mark.parametrize("filename, line, field, value, message", [
    ("province_covariates.csv", 2, "population_2021", "1_000_000", "is not an integer"),  # int() accepts it
    ("province_covariates.csv", 2, "population_2021", "١٠٠٠٠٠", "is not an integer"),  # so do Arabic-Indic digits
    ("province_covariates.csv", 2, "population_2021", "9" * 5000, "is not an integer of a sensible size"),
    ("roads.csv", 2, "km", "1_0", "is not a number"),
    ("provinces.csv", 2, "fell_on", "20210811", "is not a date YYYY-MM-DD"),  # fromisoformat accepts it
    ("events.csv", 2, "kind", "airlift", "is not one of ['withdrawal_progress', 'contractors'"),
    ("events.csv", 3, "value", "0", "the earliest 'contractors' census must be above 0"),
    ("district_control.csv", 5, "total", "400", "taliban + contested + government = 407 is more than the total 400"),
])
def test_odd_values_are_rejected(data_copy, filename, line, field, value, message):
    _set(data_copy / filename, line, field, value)
    with pytest.raises(DataError) as err:
        load_record(data_copy)
    text = str(err.value)
    assert filename in text and f"line {line}" in text and f"field '{field}'" in text and message in text, text
    assert len(text) < 400, "a long value is cut short in the message"


def test_byte_order_mark_is_accepted(data_copy):
    for name in ("roads.csv", "events.csv"):
        path = data_copy / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_record(data_copy).roads == load_record().roads


def test_duplicate_event_and_district_dates_name_both_lines(data_copy):
    # Line 4 is withdrawal_progress on 2021-05-01; make line 10 (0.90 on 2021-07-05) the same kind and date.
    _set(data_copy / "events.csv", 10, "on", "2021-05-01")
    with pytest.raises(DataError, match=r"events.csv, line 10, field 'on': 'withdrawal_progress' on 2021-05-01 "
                                        r"appears twice \(lines 5 and 10\)"):
        load_record(data_copy)
    _set(data_copy / "events.csv", 10, "on", "2021-07-05")
    _set(data_copy / "district_control.csv", 4, "as_of", "2021-04-30")
    with pytest.raises(DataError, match=r"district_control.csv, line 4, field 'as_of': 2021-04-30 appears twice "
                                        r"\(lines 3 and 4\)"):
        load_record(data_copy)


def test_timeline_events_the_world_reads_once_must_appear_once(data_copy):
    path = data_copy / "events.csv"
    text = path.read_text()
    path.write_text(text + "2021-07-03,bagram_handover,,again,high,test,observed,2021-07-03,,high,\n")
    with pytest.raises(DataError, match=r"events.csv, field 'kind': 'bagram_handover' appears on lines 9, 17"):
        load_record(data_copy)
    path.write_text(text.replace("2021-08-31,mission_end", "2021-06-30,mission_end"))
    with pytest.raises(DataError, match=r"events.csv, line 16, field 'on': mission_end \(2021-06-30\) comes before"):
        load_record(data_copy)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text(""), "line 1: missing column(s)"),
    (lambda p: p.write_text(p.read_text().splitlines()[0] + "\n"), "no data rows"),
    (lambda p: p.write_bytes(bytes(range(256)) * 4), "not a readable CSV file"),
    (lambda p: (p.unlink(), p.mkdir()), "is a folder; expected a CSV file"),
    (lambda p: p.write_text(p.read_text().replace("link_id,", "link_id,km,", 1)), "line 1: column(s) 'km' appear more"),
    (lambda p: p.write_text(p.read_text() + "x" * 200_000 + "\n"), "not a readable CSV file"),
    (lambda p: p.write_bytes(b"x" * 10_000_001), "too large (10,000,001 bytes); at most 10,000,000"),
])
def test_broken_files_give_one_data_error(data_copy, make, message):
    make(data_copy / "roads.csv")
    with pytest.raises(DataError) as err:
        load_record(data_copy)
    assert "roads.csv" in str(err.value) and message in str(err.value), str(err.value)


def test_line_numbers_count_blank_lines_and_quoted_newlines(data_copy):
    path = data_copy / "events.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace('"Biden announces', '"Biden\nannounces')  # row 2 now spans lines 2-3
    lines.insert(3, "")  # a blank line 5
    path.write_text("\n".join(lines).replace(",withdrawal_start,", ",airlift,") + "\n")  # on line 6
    with pytest.raises(DataError, match=r"events.csv, line 6, field 'kind': 'airlift' is not one of"):
        load_record(data_copy)


# ----------------------------------------------------------------------------------------------- report dates


def test_every_observation_carries_a_report_date_never_before_what_it_reports():
    rec = load_record()
    for p in rec.provinces:
        assert p.reported_on is not None and p.fell_on <= p.reported_on <= p.fell_on + dt.timedelta(days=1), p.name
        assert p.reported_confidence in ("high", "medium", "low")
    for o in rec.district_series:
        assert o.reported_on >= o.as_of
    for e in rec.events:
        assert e.reported_on >= e.on if e.basis == "observed" else e.reported_on <= e.on, e
    for c in rec.covariates:
        assert (c.first_crossing_taken_on is None) == (c.first_crossing_reported_on is None)
        assert (c.capital_attacked_on is None) == (c.capital_attacked_reported_on is None)
        assert c.surrounded_feb_2021_reported_on == dt.date(2021, 5, 18)  # the Lead IG report
    # The plan a run from 1 May follows was announced before it: Biden, 14 April, all out by 11 September.
    (plan,) = [e for e in rec.events if e.planned_end is not None and e.reported_on < WINDOW_FIRST]
    assert plan.planned_end == dt.date(2021, 9, 11)


@pytest.mark.parametrize("filename, line, field, value, message", [
    ("provinces.csv", 2, "reported_on", "2021-08-10", "2021-08-10 is before 2021-08-11, the fall it reports"),
    ("provinces.csv", 2, "reported_on", "", "must not be empty: the day the fall (2021-08-11) was first reported"),
    ("provinces.csv", 2, "reported_confidence", "sure", "is not one of"),
    ("district_control.csv", 5, "reported_on", "2021-07-09", "2021-07-09 is before 2021-07-10, the figure it reports"),
    ("events.csv", 10, "reported_on", "2021-07-04", "an observed event is reported on or after its day"),
    ("events.csv", 5, "reported_on", "2021-05-02", "a plan is announced before the day it plans"),
    ("events.csv", 11, "planned_end", "2021-07-01", "is before the announcement (2021-07-08)"),
    ("events.csv", 11, "basis", "rumoured", "is not one of ['observed', 'planned']"),
    ("province_covariates.csv", 2, "first_crossing_reported_on", "2021-07-04", "is before 2021-07-05, the capture"),
    ("province_covariates.csv", 2, "first_crossing_reported_on", "", "must not be empty"),
    ("province_covariates.csv", 3, "first_crossing_reported_on", "2021-07-04", "must be empty: there is no capture"),
    ("province_covariates.csv", 3, "capital_attacked_reported_on", "2021-07-06", "is before 2021-07-07, the assault"),
    ("province_covariates.csv", 3, "districts_taliban_jul15_reported_on", "2021-07-01", "is before 2021-07-14"),
    ("province_covariates.csv", 4, "surrounded_feb_2021_reported_on", "May 2021", "is not a date"),
])
def test_bad_report_dates_name_file_line_and_field(data_copy, filename, line, field, value, message):
    assert_one_data_error(data_copy, filename, line, field, value, message)


def test_a_fall_reported_without_a_fall_is_refused(data_copy):
    _set(data_copy / "provinces.csv", 2, "fell_on", "")
    with pytest.raises(DataError, match=r"provinces.csv, line 2, field 'reported_on': must be empty: there is no fall"):
        load_record(data_copy)
    _set(data_copy / "provinces.csv", 2, "reported_on", "")
    _set(data_copy / "provinces.csv", 2, "reported_confidence", "")
    assert load_record(data_copy).provinces[0].fell_on is None  # a capital that never fell


def test_the_plan_a_1_may_run_follows_must_be_announced_before_it(data_copy):
    _set(data_copy / "events.csv", 2, "planned_end", "")
    with pytest.raises(DataError, match=r"events.csv, field 'planned_end': no withdrawal plan \(a planned_end\) "
                                        r"announced before 2021-05-01"):
        load_record(data_copy)
    _set(data_copy / "events.csv", 2, "planned_end", "2021-09-11")
    _set(data_copy / "events.csv", 3, "reported_on", "2021-05-03")
    with pytest.raises(DataError, match=r"no 'contractors' row reported before 2021-05-01"):
        load_record(data_copy)
