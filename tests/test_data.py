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
    _set(data_copy / filename, line, field, value)
    with pytest.raises(DataError) as err:
        load_record(data_copy)
    text = str(err.value)
    assert filename in text and f"line {line}" in text and f"field '{field}'" in text and message in text


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
    # Line 4 is withdrawal_progress on 2021-05-01; make line 9 (0.90 on 2021-07-05) the same kind and date.
    _set(data_copy / "events.csv", 9, "on", "2021-05-01")
    with pytest.raises(DataError, match=r"events.csv, line 9, field 'on': 'withdrawal_progress' on 2021-05-01 "
                                        r"appears twice \(lines 5 and 9\)"):
        load_record(data_copy)
    _set(data_copy / "events.csv", 9, "on", "2021-07-05")
    _set(data_copy / "district_control.csv", 4, "as_of", "2021-04-30")
    with pytest.raises(DataError, match=r"district_control.csv, line 4, field 'as_of': 2021-04-30 appears twice "
                                        r"\(lines 3 and 4\)"):
        load_record(data_copy)


def test_timeline_events_the_world_reads_once_must_appear_once(data_copy):
    path = data_copy / "events.csv"
    text = path.read_text()
    path.write_text(text + "2021-07-03,bagram_handover,,again,high,test\n")
    with pytest.raises(DataError, match=r"events.csv, field 'kind': 'bagram_handover' appears on lines 8, 16"):
        load_record(data_copy)
    path.write_text(text.replace("2021-08-31,mission_end", "2021-06-30,mission_end"))
    with pytest.raises(DataError, match=r"events.csv, line 15, field 'on': mission_end \(2021-06-30\) comes before"):
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
