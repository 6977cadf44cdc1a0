"""The compiled rules (sim/kernels.py) are the reference rules (sim/rules.py), bit for bit; their math and their
random streams are what they claim; an edit of any source they are built from is recompiled, not served stale."""

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import REPO
from sim import kernels, rules
from sim.f32math import exp_f32, expm1_f32, pow_f32
from sim.interventions import Intervention, compile_schedule
from sim.params import Params
from sim.rules import NOT_FALLEN, initial_state, make_drivers
from sim.seeding import observed_fall_days
from sim.streams import replicate_keys, uniforms
from sim.world import day_index

F = np.float32
SWITCHES = [f.name for f in dataclasses.fields(Params) if f.metadata.get("group") == "switches"]


def ev(kind, on, **args):
    return Intervention(kind=kind, on=dt.date.fromisoformat(on), args=tuple(args.items()))


EVERY_KIND = (
    ev("us_air_support", "2021-07-10", share=0.3),
    ev("contractors", "2021-06-01", share=0.5),
    ev("reinforce", "2021-08-01", province="Kandahar", troops=3000),
    ev("road", "2021-07-01", link="maidan_shar-ghazni", action="hold", until=dt.date(2021, 8, 10)),
    ev("road", "2021-07-15", link="kandahar-lashkar_gah", action="cut"),
    ev("morale_shock", "2021-07-20", province="all", amount=0.05),
    ev("morale_shock", "2021-08-02", province="Balkh", amount=-0.1),
    ev("withdrawal_pace", "2021-06-01", pace=0.7),
    ev("ceasefire", "2021-07-20", province="Herat", until=dt.date(2021, 7, 30)),
)


def same_run(world, p, schedule=None, n=48, seed=7, d=None):
    """Run the reference and the kernels side by side from one state on the kernels' own uniforms; fail at the
    first day on which any field of the state differs in any bit."""
    d = d or make_drivers(world, p, schedule)
    ref = initial_state(world, p, d, n, 0, np.random.default_rng(seed))
    run = ref.copy()
    n_slots = kernels.n_slots(world.n_provinces, world.n_roads)
    for day in range(129):
        falls_ref = rules.advance_day(ref, world, p, d, day, uniforms(ref.stream, day, n_slots))
        falls_run = kernels.advance_day(run, world, p, d, day)
        assert (falls_ref is None) == (falls_run is None), day
        if falls_ref is not None:
            assert np.array_equal(falls_ref, falls_run), day
        for f in dataclasses.fields(ref):
            a, b = getattr(ref, f.name), getattr(run, f.name)
            assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), (day, f.name)
    return ref


def test_the_kernels_are_the_reference_rules_bit_for_bit(world):
    s = same_run(world, Params())
    assert (s.fall_day != NOT_FALLEN).sum() > 0.5 * s.fall_day.size  # the runs went through the whole campaign


@pytest.mark.parametrize("switch", SWITCHES)
def test_every_switch_flipped_still_matches(world, switch):
    p = Params()
    same_run(world, p.replace(**{switch: not getattr(p, switch)}), n=24)


def test_every_intervention_and_every_trial_mechanism_matches(world):
    p = Params().replace(**{s: True for s in SWITCHES})
    same_run(world, p, compile_schedule(world, EVERY_KIND), n=32)


def test_the_spin_up_of_a_seeded_start_matches(world):
    p = Params()
    start = day_index(dt.date(2021, 8, 10))
    forced = np.where(observed_fall_days(world) < start, observed_fall_days(world), NOT_FALLEN).astype(np.int16)
    d = dataclasses.replace(make_drivers(world, p), seed_fall_days=forced, seed_until=start)
    s = same_run(world, p, d=d, n=24)
    assert (s.fall_how == rules.SEEDED).any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), covered=st.floats(0.0, 12.0), levels=st.integers(1, 4),
       besieged=st.floats(0.0, 1.0))
def test_air_cover_by_rank_is_the_reference_partial_sort(world, seed, covered, levels, besieged):
    """The compiled air allocation (ranks counted across the lanes) against rules.allocate_air_support (a partial
    sort), where the whole runs rarely go: threats from a few levels, so ties and zero threats are common, with
    whole and partial cover from none to more than the sieges. 70 replicates: a block of 64 lanes and one of 6."""
    p = Params()
    d = make_drivers(world, p)
    d = dataclasses.replace(d, air_capacity=np.full_like(d.air_capacity, covered * p.strikes_per_capital))
    rng = np.random.default_rng(seed)
    s = initial_state(world, p, d, 70, 0, rng)
    s.is_besieged[:] = rng.random(s.is_besieged.shape) < besieged
    s.effort[:] = rng.integers(0, levels + 1, s.effort.shape).astype(F)
    s.garrison[:] = F(1.0)
    ref = s.copy()
    rules.allocate_air_support(ref, world, p, d, 0)
    ln, wk = kernels.lanes(s, world)
    state, inputs = kernels.kstate(s), kernels.pack(world, p, d)
    for r0 in (0, 64):
        nb = min(64, s.n - r0)
        kernels._load(state, ln, r0, nb)
        kernels._allocate_air(ln, inputs, 0, nb, wk)
        kernels._store(ln, state, r0, nb)
    assert np.array_equal(ref.air_cover.view(np.uint32), s.air_cover.view(np.uint32))


def test_the_ensemble_and_the_one_day_kernel_give_the_same_runs(world):
    """run_days (a whole run at a time) and advance_day (a day at a time) are the same rules."""
    p = Params()
    d = make_drivers(world, p)
    a = initial_state(world, p, d, 20, 0, np.random.default_rng(3))
    b = a.copy()
    held = np.empty((20, 129), np.int16)
    share = np.empty((20, 129), np.float32)
    kernels.run_days(a, world, p, d, 0, 128, held, share)
    for day in range(129):
        kernels.advance_day(b, world, p, d, day)
        assert np.array_equal(held[:, day], b.is_held.sum(axis=1))
    assert np.array_equal(a.fall_day, b.fall_day) and np.array_equal(a.control, b.control)


def test_the_runs_do_not_depend_on_how_many_replicates_share_a_block(world):
    p = Params()
    d = make_drivers(world, p)
    start = initial_state(world, p, d, 70, 0, np.random.default_rng(5))
    states = []
    for width in (1, 7, 64, 128):
        s = start.copy()
        kernels.run_days(s, world, p, d, 0, 128, None, np.empty((70, 129), np.float32), width=width)
        states.append(s)
    for s in states[1:]:
        for f in dataclasses.fields(s):
            assert np.array_equal(getattr(s, f.name), getattr(states[0], f.name)), f.name


def test_f32_math_is_within_a_float32_unit_and_the_power_within_its_stated_error():
    """The accuracy sim/f32math.py's docstring states, over the functions' whole ranges."""
    ulp = lambda a, b: np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32))  # noqa: E731
    x = np.linspace(-87, 88, 400_001, dtype=F)
    assert ulp(exp_f32(x), np.exp(x.astype(float)).astype(F)).max() <= 1
    small = np.concatenate([-np.logspace(-30, 1.9, 20_001), np.logspace(-30, 1.9, 20_001), x]).astype(F)
    assert ulp(expm1_f32(small), np.expm1(small.astype(float)).astype(F)).max() <= 1
    assert expm1_f32(F(0.0)) == 0.0 and expm1_f32(F(-100.0)) == -1.0 and exp_f32(F(0.0)) == 1.0
    base = np.concatenate([np.linspace(0, 1, 100_001), np.logspace(-37, 0, 10_001)]).astype(F)
    for y in (0.0, 0.5, 1.0, 2.0, 3.9, 5.0):
        exact = np.power(base.astype(float), float(F(y)))
        error = np.abs(pow_f32(base, F(y)) - exact) / np.maximum(exact, 1e-300)
        assert error[base >= 1e-4].max() < 5e-6 and error[exact > 1e-30].max() < 1e-5, y
    assert pow_f32(F(0.0), F(0.0)) == 1.0 and pow_f32(F(0.0), F(2.0)) == 0.0 and pow_f32(F(1.0), F(3.9)) == 1.0
    assert np.array_equal(pow_f32(base, F(2.0)), base * base)  # the square is a product


def test_each_replicate_has_its_own_uniform_stream():
    keys = replicate_keys(np.uint64(12345), 200)
    assert len(set(keys.tolist())) == 200
    u = uniforms(keys, 40, 108)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 0.02  # neighbouring replicates
    assert abs(np.corrcoef(u.ravel(), uniforms(keys, 41, 108).ravel())[0, 1]) < 0.02  # consecutive days
    assert np.array_equal(uniforms(keys[7:8], 40, 108)[0], u[7])  # a replicate's draws do not depend on the rest


def test_an_edit_of_an_inlined_source_is_recompiled_not_served_from_the_cache(tmp_path):
    """numba alone would reuse kernels.py's cached code after an edit of f32math.py, whose exp it inlined. On a
    copy of the package: a small compiled function is added to kernels.py (as a rule calling exp32 would be),
    run and cached; then f32math.py alone is edited, and the function must run the edited code."""
    shutil.copytree(REPO / "sim", tmp_path / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    kernels_py = tmp_path / "sim" / "kernels.py"
    kernels_py.write_text(kernels_py.read_text() + textwrap.dedent("""

        from .f32math import exp32


        @njit(**_JIT)
        def probe(x):
            return exp32(x)


        stamp_caches(globals())
    """))
    script = "import numpy as np; from sim import kernels; print(repr(float(kernels.probe(np.float32(1.0)))))"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)

    def run():
        out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return float(out.stdout)

    assert run() == pytest.approx(np.e, rel=1e-6)
    assert list((tmp_path / "sim" / "__pycache__").glob("kernels.probe*.nbi")), "nothing was cached"
    assert run() == pytest.approx(np.e, rel=1e-6)  # from the cache
    source = tmp_path / "sim" / "f32math.py"
    text = source.read_text()
    line = "return (_expm1_reduced(r) + _ONE) * _two_to(k)"
    assert line in text
    source.write_text(text.replace(line, line.replace("_ONE)", "_ONE) * F(2.0)")))
    assert run() == pytest.approx(2 * np.e, rel=1e-6)
