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
