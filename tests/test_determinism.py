"""Same seed, same result; different seed, different result; chunks independent of how many ran."""

import datetime as dt

import numpy as np
import pytest

from sim.ensemble import chunk_seeds, district_record_days, iter_chunks, run_chunk, run_ensemble
from sim.model import TerritoryModel, run_models
from sim.params import Params


def test_same_seed_identical_different_seed_differs(world):
    a = run_ensemble(Params(), 300, seed=11, world=world)
    b = run_ensemble(Params(), 300, seed=11, world=world)
    c = run_ensemble(Params(), 300, seed=12, world=world)
    for name in ("fall_day", "fall_how", "held_count", "district_share", "run_seed"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.fall_day, c.fall_day)


def test_chunks_do_not_depend_on_how_many_runs(world):
    small = run_ensemble(Params(), 250, seed=5, world=world, chunk_size=100)
    big = run_ensemble(Params(), 700, seed=5, world=world, chunk_size=100)
    assert np.array_equal(small.fall_day[:200], big.fall_day[:200])  # the two full chunks they share
    assert np.array_equal(small.run_seed, big.run_seed[:250])


def test_a_chunk_is_reproduced_from_its_stored_seed(world):
    r = run_ensemble(Params(), 30, seed=3, world=world, chunk_size=10)
    fd, *_ = run_chunk(world, Params(), 10, int(r.run_seed[10]), r.start_day, r.end_day)
    assert np.array_equal(fd, r.fall_day[10:20])


def test_mesa_model_and_ensemble_are_the_same_run(world):
    seed = int(chunk_seeds(99, 1, 1)[0])
    m = TerritoryModel(seed=seed, world=world)
    m.run()
    fd, how, held, share = run_chunk(world, Params(), 1, seed, m.start_day, m.end_day)
    assert np.array_equal(m.fall_days(), fd[0])
    frame = m.datacollector.get_model_vars_dataframe()
    assert np.array_equal(frame["capitals_held"].to_numpy(), held[0])
    assert np.allclose(frame["district_share"].to_numpy(), share[0], atol=1e-6)


def test_mesa_model_and_ensemble_are_the_same_run_from_a_seeded_start(world):
    """Both paths seed through the same start_state: a chunk of one resamples to itself after the same draws."""
    on = dt.date(2021, 8, 8)
    known = world.known_on(on)
    seed = int(chunk_seeds(7, 1, 1)[0])
    m = TerritoryModel(Params(), seed=seed, start=on, world=known)
    m.run()
    parts = run_chunk(known, Params(), 1, seed, m.start_day, m.end_day)
    assert np.array_equal(m.fall_days(), parts[0][0]) and np.array_equal(m.state.fall_how, parts[1])
    assert m.seeding.ess == parts.seeding.ess == 1.0 and m.seeding.beta == 1.0
    a = run_models(Params(), 5, seed=2, start=on, world=known)
    b = run_ensemble(Params(), 5, seed=2, start=on, world=known, chunk_size=1)
    assert np.array_equal(a.fall_day, b.fall_day) and np.array_equal(a.ess, b.ess) and (a.ess == 1).all()


# Every mechanism that ships off (on trial), switched on: the engines must agree with these too.
TRIAL_MECHANISMS = {name: True for name, spec in Params.spec().items()
                    if spec["group"] == "switches" and spec["default"] is False}


@pytest.mark.slow
@pytest.mark.versions
@pytest.mark.parametrize("params", [Params(), Params().replace(**TRIAL_MECHANISMS)], ids=["defaults", "trial-on"])
def test_mesa_engine_equals_ensemble_with_chunks_of_one(world, params):
    a = run_models(params, 12, seed=4, world=world)
    b = run_ensemble(params, 12, seed=4, world=world, chunk_size=1)
    assert np.array_equal(a.fall_day, b.fall_day)
    assert np.array_equal(a.run_seed, b.run_seed)


def test_compact_layout_keeps_the_same_runs_and_the_district_days(world):
    daily = run_ensemble(Params(), 250, seed=11, world=world, chunk_size=100)
    compact = run_ensemble(Params(), 250, seed=11, world=world, chunk_size=100, daily=False)
    for name in ("fall_day", "fall_how", "run_seed"):
        assert np.array_equal(getattr(daily, name), getattr(compact, name)), name
    assert daily.held_count is not None and compact.held_count is None
    assert daily.district_days is None
    assert compact.district_days.tolist() == district_record_days(world, 0, daily.end_day).tolist() == [45, 70, 87, 94]
    assert compact.district_share.shape == (250, 4)
    for d in compact.district_days:
        assert np.array_equal(daily.district_share_on(d), compact.district_share_on(d))
        assert np.array_equal(daily.district_share_on(d), daily.district_share[:, d])
    with pytest.raises(KeyError):
        compact.district_share_on(50)
    _, _, held, share = run_chunk(world, Params(), 100, int(compact.run_seed[100]), 0, daily.end_day, daily=False)
    assert held is None and np.array_equal(share, compact.district_share[100:200])


def test_iter_chunks_streams_the_chunks_of_run_ensemble(world):
    r = run_ensemble(Params(), 250, seed=2, world=world, chunk_size=100, daily=False)
    chunks = list(iter_chunks(Params(), 250, seed=2, world=world, chunk_size=100, daily=False))
    assert [(first, len(parts[0])) for first, _, parts in chunks] == [(0, 100), (100, 100), (200, 50)]
    for first, seed, (fd, how, held, share) in chunks:
        assert (r.run_seed[first:first + len(fd)] == seed).all()
        assert np.array_equal(fd, r.fall_day[first:first + len(fd)]) and held is None
