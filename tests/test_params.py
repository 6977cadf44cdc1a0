import pytest

from sim.params import Params, ParamsError


def test_round_trip():
    p = Params().replace(rural_rate=0.05, morale_cascade=False)
    assert Params.from_dict(p.to_dict()) == p
    assert p.changed() == {"rural_rate": 0.05, "morale_cascade": False}


def test_every_parameter_is_documented():
    for name, spec in Params.spec().items():
        assert spec["unit"] and spec["source"] and spec["group"], name
        if not isinstance(spec["default"], bool):
            assert spec["lo"] <= spec["default"] <= spec["hi"], name


def test_unknown_parameter_names_the_allowed_ones():
    with pytest.raises(ParamsError, match=r"unknown parameter\(s\) \['rurl_rate'\]; allowed: .*rural_rate"):
        Params.from_dict({"rurl_rate": 0.1})


def test_out_of_bounds_and_wrong_types():
    with pytest.raises(ParamsError, match=r"'surrender_rate' = 1.5 is out of bounds: allowed 0.0 to 1.0"):
        Params(surrender_rate=1.5)
    with pytest.raises(ParamsError, match="must be a number"):
        Params(surrender_rate="high")
    with pytest.raises(ParamsError, match="must be true or false"):
        Params(air_support=1)
    with pytest.raises(ParamsError, match="out of bounds"):
        Params(rural_rate=float("nan"))
