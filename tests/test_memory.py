"""Memory flat in the number of runs: a compact ensemble keeps 126 bytes a run, and scoring it adds a bounded heap.

Figures (tracemalloc, numpy 2.4): for 200,000 runs, score_ensemble, held_quantiles and compare.outcomes together
peak at about 37 MB of Python heap above the result, against a bound of 80 MB. Before blocks, score_ensemble alone
peaked at 280 MB for 20,000 runs (its (n, 561) float64 tau-b pair arrays), about 2.8 GB for 200,000, and the
ensemble kept (n, days) held counts and district shares (155 MB more for 200,000 runs over 129 days).
"""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from sim.compare import outcomes
from sim.ensemble import run_ensemble
from sim.metrics import held_quantiles, score_ensemble
from sim.params import Params

N_RUNS = 200_000
HEAP_BOUND = 80e6  # bytes of Python heap (tracemalloc peak) above the result, for scoring N_RUNS runs


def test_a_compact_ensemble_keeps_no_daily_arrays(world):
    r = run_ensemble(Params(), 300, seed=1, world=world, chunk_size=100, daily=False)
    assert r.held_count is None
    per_run = sum(a.nbytes for a in (r.fall_day, r.fall_how, r.run_seed, r.district_share)) / r.n_runs
    # 34 fall days (int16), 34 codes (int8), the seed (int64) and the 4 LWJ dates of the window (float32);
    # the daily layout adds 6 bytes a run and day (774 for the 129 days).
    assert per_run == 34 * 2 + 34 + 8 + 4 * 4


@pytest.mark.slow
def test_scoring_memory_does_not_grow_with_the_runs(world):
    small = run_ensemble(Params(), 500, seed=3, world=world, daily=False)
    k = N_RUNS // small.n_runs
    big = replace(small, fall_day=np.tile(small.fall_day, (k, 1)), fall_how=np.tile(small.fall_how, (k, 1)),
                  run_seed=np.tile(small.run_seed, k), district_share=np.tile(small.district_share, (k, 1)))
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        card = score_ensemble(big, world)
        q = held_quantiles(big.fall_day, big.start_day, big.end_day)
        o = outcomes("big", big, world)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert peak < HEAP_BOUND, f"scoring {N_RUNS:,} runs peaked at {peak / 1e6:.0f} MB of heap"
    # Tiling repeats every run k times: the distributions, hence the scores, are those of the small ensemble.
    ref = score_ensemble(small, world)
    assert card["n_runs"] == N_RUNS
    assert card["per_run"]["tau_b"]["median"] == pytest.approx(ref["per_run"]["tau_b"]["median"], abs=1e-12)
    assert np.allclose(q, held_quantiles(small.fall_day, small.start_day, small.end_day), rtol=0, atol=1e-9)
    assert o.tau_b.shape == (N_RUNS,)
