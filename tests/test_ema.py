"""The EMA Workbench adapter (sim/ema.py). The outcome function runs everywhere; the workbench itself (3.x, Python
>= 3.12, `pip install -e ".[ema]"`) is tested where it is installed: 20 experiments through perform_experiments,
then PRIM and feature scoring on them."""

import math

import numpy as np
import pytest

import sim.ema
from sim.params import Params, ParamsError

SMALL = ["cascade_neighbour", "cascade_national", "surrender_threshold", "withdrawal_morale_drop"]


def test_evaluate_gives_every_outcome_with_common_random_numbers():
    a = sim.ema.evaluate(runs=10, cascade_neighbour=0.1)
    assert set(a) == set(sim.ema.OUTCOMES)
    assert all(math.isfinite(v) for v in a.values())
    assert 0 <= a["p_kabul_by_aug31"] <= 1 and 0 <= a["held_aug31"] <= 34 and -1 <= a["tau_b"] <= 1
    assert sim.ema.evaluate(runs=10, cascade_neighbour=np.float64(0.1)) == a  # the same seed: the same draws
    assert sim.ema.evaluate(runs=10, cascade_neighbour=0.25) != a


def test_parameter_names_are_checked():
    assert sim.ema.uncertain_parameters() == [n for n, s in Params.spec().items() if not isinstance(s["default"], bool)]
    with pytest.raises(ParamsError, match="did you mean cascade_neighbour"):
        sim.ema.uncertain_parameters(["cascade_neighbor"])


@pytest.mark.slow
@pytest.mark.versions
def test_perform_experiments_prim_and_feature_scoring():
    ema = pytest.importorskip("ema_workbench", reason="ema-workbench 3.x is not installed (it needs Python >= 3.12; "
                                                      "pip install -e '.[ema]')")
    from ema_workbench.analysis import feature_scoring, prim

    model = sim.ema.model(runs=10, parameters=SMALL)
    spec = Params.spec()
    assert [(u.name, u.lower_bound, u.upper_bound) for u in model.uncertainties] == \
        [(n, spec[n]["lo"], spec[n]["hi"]) for n in SMALL]
    with pytest.raises(ValueError, match="unknown outcome"):
        sim.ema.model(outcome_names=["kabul"])

    experiments, outcomes = ema.perform_experiments(model, 20, uncertainty_sampling=ema.Samplers.LHS,
                                                    uncertainty_sampling_kwargs={"rng": 42})
    assert len(experiments) == 20 and set(outcomes) == set(sim.ema.OUTCOMES)
    x = experiments[SMALL]
    for n in SMALL:
        assert x[n].between(spec[n]["lo"], spec[n]["hi"]).all()
    assert all(len(v) == 20 and np.isfinite(v).all() for v in outcomes.values())
    # each experiment is evaluate() at its point
    row = x.iloc[3].to_dict()
    assert sim.ema.evaluate(runs=10, **row)["held_aug31"] == outcomes["held_aug31"][3]

    held = outcomes["held_aug31"]
    box = prim.Prim(x, held > np.median(held)).find_box()
    assert list(box.box_lims[-1].columns) == SMALL and 0 < box.coverage <= 1
    scores = feature_scoring.get_feature_scores_all(x, outcomes)
    assert sorted(scores.index) == sorted(SMALL) and set(scores.columns) == set(sim.ema.OUTCOMES)
