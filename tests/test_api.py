"""The Python API (sim/api.py) and the Parquet tables' dtypes: run -> save -> read_results gives the same Results,
dates are datetime64 in pandas, every column is described, and a run is replayed from its stored seed."""

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sim
from sim import folders
from sim.api import held_from_fall_days
from sim.ensemble import chunk_seeds
from sim.params import ParamsError
from sim.store import FALL_DAYS_SCHEMA, ResultProblem, description


@pytest.fixture(scope="module")
def small():
    """25 runs in chunks of 10 (so the last chunk is partial), one parameter changed."""
    return sim.run("baseline", runs=25, seed=5, chunk_size=10, cascade_neighbour=0.1)


def test_run_gives_tidy_frames_with_real_dates(small, world):
    falls, daily = small.falls, small.daily
    assert list(falls.columns) == ["run_id", "seed", "province", "fell_on", "fall_how"]
    assert falls["fell_on"].dtype.kind == "M" and daily["date"].dtype.kind == "M"
    assert isinstance(falls["fell_on"].median(), pd.Timestamp)
    assert len(falls) == 25 * 34 and falls["province"].iloc[:34].tolist() == list(world.names)
    held = falls["fell_on"].isna()
    assert (falls.loc[held, "fall_how"] == "held").all() and (falls.loc[~held, "fall_how"] != "held").all()
    # the seed column is each run's chunk seed, as the ensemble drew them
    assert (falls.groupby("run_id")["seed"].first().to_numpy() == np.repeat(chunk_seeds(5, 25, 10), [10, 10, 5])).all()
    assert list(daily.columns) == ["run_id", "date", "day", "capitals_held", "district_share"]
    assert len(daily) == 25 * 129 and daily["date"].iloc[0] == pd.Timestamp("2021-05-01")
    assert (daily["date"] - pd.Timestamp("2021-05-01")).dt.days.equals(daily["day"])
    last = daily[daily["day"] == 128].set_index("run_id")["capitals_held"]
    assert last.equals(held.groupby(falls["run_id"]).sum().rename("capitals_held"))
    assert daily["district_share"].between(0, 1).all()
    assert small.params.cascade_neighbour == 0.1 and small.params.changed() == {"cascade_neighbour": 0.1}
    assert small.scores["n_runs"] == 25 and "tau_b" in small.metrics.index
    assert small.capitals["observed_on"].dtype.kind == "M"


def test_save_and_read_results_round_trip(small, tmp_path):
    out = small.save(tmp_path / "run")
    assert sorted(p.name for p in out.iterdir()) == ["fall_days.parquet", "manifest.json", "metrics.json"]
    back = sim.read_results(out)
    assert back.equals(small)
    pd.testing.assert_frame_equal(back.falls, small.falls)
    pd.testing.assert_frame_equal(back.daily.drop(columns="district_share"), small.daily.drop(columns="district_share"))
    assert back.daily["district_share"].isna().all()  # a run folder does not store it
    assert back.params == small.params and back.scenario.name == "baseline" and back.n_runs == 25
    assert back.replay(23).equals(small.replay(23))
    # the stored table, read by pandas directly, has the same dtypes and a median date
    direct = pd.read_parquet(out / "fall_days.parquet")
    pd.testing.assert_frame_equal(direct, small.falls)
    assert direct["fell_on"].median() == small.falls["fell_on"].median()
    # save again over its own folder is allowed; over a folder holding someone's file is not
    small.save(out)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    with pytest.raises(folders.FolderError):
        small.save(notes)
    assert (notes / "mine.txt").read_text() == "keep"


@pytest.mark.parametrize("run_id", [0, 13, 24])
def test_replay_a_run_from_its_seed(small, run_id):
    rows = small.falls[small.falls["run_id"] == run_id].reset_index(drop=True)
    assert small.replay(run_id).equals(rows)


def test_with_chunks_of_one_the_seed_replays_the_run_as_a_mesa_model(world):
    from sim.model import TerritoryModel

    res = sim.run("baseline", runs=3, seed=11, chunk_size=1)
    for i in range(3):
        rows = res.falls[res.falls["run_id"] == i]
        m = TerritoryModel(res.params, seed=int(rows["seed"].iloc[0]), world=world)
        m.run()
        days = (rows["fell_on"] - pd.Timestamp("2021-05-01")).dt.days.fillna(-1).astype(int).to_numpy()
        assert np.array_equal(m.fall_days(), days)
    mesa = sim.run("baseline", runs=3, seed=11, engine="mesa")
    pd.testing.assert_frame_equal(mesa.falls, res.falls)


def test_held_counts_from_fall_days_equal_the_recorded_ones():
    for res in (sim.run("baseline", runs=20, seed=2), sim.run("baseline", runs=20, seed=2, start="2021-08-12")):
        r = res.ensemble
        assert np.array_equal(held_from_fall_days(r.fall_day, r.start_day, r.end_day), r.held_count)


def test_bad_arguments_say_what_is_allowed():
    with pytest.raises(ParamsError, match="did you mean cascade_neighbour"):
        sim.run("baseline", runs=2, cascade_neighbor=0.1)
    with pytest.raises(ParamsError, match="out of bounds"):
        sim.run("baseline", runs=2, cascade_neighbour=5.0)
    with pytest.raises(ValueError, match="runs must be a whole number"):
        sim.run("baseline", runs=0)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        sim.run("baseline", runs=2, seed=-1)
    with pytest.raises(ValueError, match="engine must be one of"):
        sim.run("baseline", runs=2, engine="netlogo")
    with pytest.raises(ValueError, match="shipped scenarios"):
        sim.run("no-such-scenario", runs=2)
    with pytest.raises(ValueError, match="outside the window"):
        sim.run("baseline", runs=2, start="2021-04-01")


def test_every_parquet_column_is_described():
    assert all(description(f) for f in FALL_DAYS_SCHEMA)
    assert FALL_DAYS_SCHEMA.field("fell_on").type == pa.timestamp("ms")


def test_a_folder_from_before_the_dtype_change_is_refused_with_the_reason(small, tmp_path):
    out = small.save(tmp_path / "old")
    path = out / "fall_days.parquet"
    t = pq.read_table(path)
    pq.write_table(t.set_column(3, "fell_on", t.column("fell_on").cast(pa.date32())), path)  # as written before
    meta = json.loads((out / "manifest.json").read_text())
    meta["files_sha256"]["fall_days.parquet"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(meta))
    with pytest.raises(ResultProblem, match="earlier version .*date32"):
        sim.read_results(out)


def test_sweep_tables_have_dates_and_descriptions(tmp_path, world):
    from sim.sweep import InlineExecutor, parse_sweep, run_sweep

    text = """
name = "tiny"
description = "Two points."
scenario = "baseline"
replicates = 8
seed = 5
[axes]
cascade_neighbour = [0.03, 0.2]
"""
    out = tmp_path / "tiny"
    run_sweep(parse_sweep(text, "tiny.toml", world), out, InlineExecutor(), progress=False)
    falls = pd.read_parquet(out / "fall_days.parquet")
    runs = pd.read_parquet(out / "runs.parquet")
    assert falls["fell_on"].dtype.kind == "M" and isinstance(falls["fell_on"].median(), pd.Timestamp)
    assert runs["kabul_fell_on"].dtype.kind == "M"
    kabul = falls[falls["province"] == "Kabul"].set_index("run_id")["fell_on"].sort_index()
    assert kabul.equals(runs.set_index("run_id")["kabul_fell_on"].sort_index().rename("fell_on"))
    fell = runs["kabul_fell_on"].notna()
    assert ((runs.loc[fell, "kabul_fell_on"] - pd.Timestamp("2021-05-01")).dt.days
            == runs.loc[fell, "kabul_fall_day"]).all()
    assert (runs.loc[~fell, "kabul_fall_day"] == 129).all()
    for name in ("fall_days.parquet", "runs.parquet", "points.parquet"):
        path = out / name
        schema = pq.read_schema(next(path.glob("*.parquet")) if path.is_dir() else path)
        assert all(description(f) for f in schema), name
