"""TerritoryModel with Mesa's own batch_run, on whichever Mesa is installed (3.3 on Python 3.11, 3.5 on 3.12):
parameters as keywords, per-capital fall dates from the agent reporters, fresh seeds for iterations, fixed seeds
that repeat, and Mesa 3.5's rng."""

import inspect
import warnings

import mesa
import numpy as np
import pandas as pd
import pytest

from sim.ensemble import run_chunk
from sim.model import TerritoryModel
from sim.params import Params, ParamsError


def batch(**kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Mesa 3.5 deprecates `iterations` in favour of rng
        rows = mesa.batch_run(TerritoryModel, number_processes=1, data_collection_period=-1, display_progress=False,
                              **kwargs)
    return pd.DataFrame(rows)


def fall_days(frame: pd.DataFrame) -> np.ndarray:
    days = (frame["fell_on"] - pd.Timestamp("2021-05-01")).dt.days
    return days.fillna(-1).astype(int).to_numpy()


def test_keyword_parameters_give_each_capitals_fall_date(world):
    df = batch(parameters={"cascade_neighbour": [0.05, 0.15], "seed": 3})
    assert len(df) == 2 * 34 and df["RunId"].nunique() == 2
    assert df["fell_on"].dtype.kind == "M"
    for (run, value), rows in df.groupby(["RunId", "cascade_neighbour"]):
        assert rows["province"].tolist() == list(world.names)
        assert (rows["seed"] == 3).all()
        assert rows["fall_day"].fillna(-1).astype(int).tolist() == fall_days(rows).tolist()
        assert (rows["fell_on"].isna() == (rows["fall_how"] == "held")).all()
        assert rows["capitals_held"].iloc[0] == rows["fell_on"].isna().sum()  # the model reporter agrees
        # the very run the ensemble gives for that seed and parameter
        fd, *_ = run_chunk(world, Params(cascade_neighbour=value), 1, 3, 0, 128)
        assert np.array_equal(fall_days(rows), fd[0])
    a, b = (fall_days(r) for _, r in df.groupby("cascade_neighbour"))
    assert not np.array_equal(a, b)  # the parameter reached the model


def test_iterations_are_distinct_runs_and_a_fixed_seed_repeats():
    fresh = batch(parameters={"cascade_neighbour": 0.1}, iterations=3)
    seeds = fresh.groupby("RunId")["seed"].first()
    assert seeds.nunique() == 3
    runs = [fall_days(r) for _, r in fresh.groupby("RunId")]
    assert not (np.array_equal(runs[0], runs[1]) and np.array_equal(runs[1], runs[2]))
    fixed = batch(parameters={"cascade_neighbour": 0.1, "seed": 7}, iterations=2)
    one, two = (r.drop(columns=["RunId", "iteration", "AgentID"]).reset_index(drop=True)
                for _, r in fixed.groupby("RunId"))
    pd.testing.assert_frame_equal(one, two)
    # a run's reported seed replays it outside batch_run
    first = fresh[fresh["RunId"] == 0]
    m = TerritoryModel(cascade_neighbour=0.1, seed=int(first["seed"].iloc[0]))
    m.run()
    assert np.array_equal(m.fall_days(), fall_days(first))


@pytest.mark.skipif("rng" not in inspect.signature(mesa.batch_run).parameters,
                    reason=f"Mesa {mesa.__version__}'s batch_run has no rng argument (Mesa 3.5's has)")
def test_mesa_rng_argument_seeds_the_runs():
    df = batch(parameters={"cascade_neighbour": 0.1}, rng=[1, 2])
    assert df.groupby("RunId")["seed"].first().tolist() == [1, 2]
    again = batch(parameters={"cascade_neighbour": 0.1, "seed": [1, 2]})
    assert np.array_equal(fall_days(df), fall_days(again))


def test_model_arguments():
    m = TerritoryModel(cascade_neighbour=0.1, seed=3)
    assert m.params.cascade_neighbour == 0.1 and m.seed == 3
    base = Params(surrender_rate=0.2)
    both = TerritoryModel(base, seed=3, cascade_neighbour=0.1)  # params= still works, keywords on top
    assert both.params == base.replace(cascade_neighbour=0.1)
    assert TerritoryModel(params={"cascade_neighbour": 0.1}, seed=1).params.cascade_neighbour == 0.1
    assert TerritoryModel(rng=5).seed == 5
    assert TerritoryModel(rng=np.random.default_rng(5)).seed == TerritoryModel(rng=np.random.default_rng(5)).seed
    assert TerritoryModel(rng=np.random.SeedSequence(9)).seed == TerritoryModel(rng=np.random.SeedSequence(9)).seed
    assert TerritoryModel().seed != TerritoryModel().seed  # None: a fresh seed each time
    with pytest.raises(ParamsError, match="did you mean cascade_neighbour"):
        TerritoryModel(cascade_neighbor=0.1, seed=1)
    with pytest.raises(ParamsError, match="out of bounds"):
        TerritoryModel(cascade_neighbour=3.0, seed=1)
    with pytest.raises(ValueError, match="not both"):
        TerritoryModel(seed=1, rng=2)
    with pytest.raises(ValueError, match="out of range"):
        TerritoryModel(seed=-1)
    with pytest.raises(TypeError, match="whole number"):
        TerritoryModel(seed=1.5)


def test_province_reporters_are_recorded_once_at_the_end():
    m = TerritoryModel(seed=4)
    m.run()
    agents = m.datacollector.get_agent_vars_dataframe()
    assert len(agents) == 34 and agents.index.get_level_values("Step").nunique() == 1
    assert list(agents.columns) == ["province", "capital", "fell_on", "fall_day", "fall_how", "seed"]
    assert len(m.datacollector.get_model_vars_dataframe()) == 129  # the model reporters: every day


def test_mesa_s_own_scenario_object_is_accepted_as_solaraviz_passes_it_on_reset():
    """Mesa >= 3.4 SolaraViz re-creates a model taking **kwargs with a `scenario=` (Mesa's experimental Scenario,
    not this project's TOML scenarios): the model keeps it, and its rng seeds the run when no seed is given."""
    scenarios = pytest.importorskip("mesa.experimental.scenarios", reason="Mesa < 3.4 has no Scenario")
    m = TerritoryModel(scenario=scenarios.Scenario(rng=5), cascade_neighbour=0.1)
    assert m.seed == 5 and m.scenario.rng == 5
    assert m.run() == TerritoryModel(seed=5, cascade_neighbour=0.1).run()
    # a seed given beside it wins (as a reset with a typed seed does), rather than clashing with the scenario's rng
    assert TerritoryModel(scenario=scenarios.Scenario(rng=5), seed=7).seed == 7
