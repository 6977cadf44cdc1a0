"""`compare --out DIR` keeps what it printed: the table, each run's outcomes, the differences with their interval
bounds, and a comparison figure; a bad --out is refused before anything runs."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from sim import cli


@pytest.mark.slow
def test_compare_writes_its_table_outcomes_and_figure(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert cli.main(["compare", "baseline", "no-cascade", "hold-the-highway", "--runs", "40", "--rerun", "--quiet",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert (out / "compare.txt").read_text().strip() in printed
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert [r["scenario"] for r in rows] == ["baseline", "no-cascade", "hold-the-highway"]
    assert rows[0]["kabul_day_vs_first"] == ""  # the first is the reference
    for r in rows[1:]:
        lo, mid, hi = (float(r[f"held_aug31_vs_first{s}"]) for s in ("_lo", "", "_hi"))
        assert lo <= mid <= hi
    table = pq.read_table(out / "per_run.parquet")
    assert table.num_rows == 3 * 40 and str(table.schema.field("kabul_fell_on").type) == "date32[day]"
    # the outcomes on disk are those the table summarises: the held means agree
    by = table.to_pandas().groupby("scenario", sort=False)["held_aug31"].mean()
    assert [f"{by[r['scenario']]:.4f}" for r in rows] == [r["held_aug31_mean"] for r in rows]
    assert (out / "comparison.png").stat().st_size > 10_000 and (out / "report.html").is_file()
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["kind"] == "comparison" and [s["name"] for s in meta["scenarios"]][1] == "no-cascade"
    assert {e["kind"] for e in meta["scenarios"][2]["interventions"]} == {"road"}


def test_compare_without_out_writes_nothing_and_a_foreign_out_is_refused_first(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "RESULTS", tmp_path / "results")
    assert cli.main(["compare", "baseline", "no-cascade", "--runs", "10", "--rerun", "--quiet"]) == 0
    assert list(tmp_path.iterdir()) == []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    capsys.readouterr()
    assert cli.main(["compare", "baseline", "no-cascade", "--runs", "10", "--rerun", "--quiet",
                     "--out", str(mine)]) == 2
    captured = capsys.readouterr()
    assert "did not write" in captured.err and captured.out == ""  # refused before running anything
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
