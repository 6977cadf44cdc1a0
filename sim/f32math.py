"""exp, expm1 and power of float32 arguments, in float32 arithmetic, written out so that they compile to SIMD code
and give the same bits wherever they are called: in the compiled rules (sim/kernels.py) and, through the ufuncs
at the bottom, in the numpy reference rules (sim/rules.py).

Why not numpy's or the C library's: numpy's float32 exp/expm1 are its own SIMD code and the C library's are
others (they disagree with each other in the last bit for about half of all arguments, measured), and a call to
the C library cannot be vectorised by the compiler. A rule that compares a uniform with a chance computed by one
and replays it with the other would, rarely, decide differently. These are one piece of code for both.

Accuracy, and why float32 is enough: exp and expm1 are within one float32 unit of the correctly rounded value
over their whole range (about 10 % and 4 % of arguments are one unit off; relative error below 1.2e-7); the
power's relative error grows with |y ln x| (the rounding of y ln x itself): below 5e-6 for shares x >= 1e-4 and
the parameters' exponents y <= 5, below 1e-5 for any normal x (tests/test_kernels.py measures all three). The
chances they feed are compared with float32 uniforms, whose own step is 6e-8, and their parameters are known to
a few per cent at best. Until 3 December 2026 they were computed in float64 and rounded once (correctly rounded
nearly always); float32 arithmetic puts eight lanes in an AVX2 vector instead of four and needs no conversions,
and made them 1.8 to 2.9 times faster (a micro-benchmark of a million values; README, "Speed").

The algorithms are the classic single-precision ones (Cephes, S. Moshier): exp by Cody and Waite's reduction
x = k ln2 + r, |r| <= ln2/2, with ln 2 split so that k x LN2_HI is exact, then a polynomial in r and a scaling by
2^k built from its exponent bits; expm1 the same with e^r - 1 as the polynomial, so that small values keep their
relative precision; the logarithm inside the power from the exponent and a polynomial in the mantissa.

No fastmath anywhere (it would let the compiler reorder or fuse the arithmetic differently in different loops).
"""

from __future__ import annotations

import numpy as np
from numba import njit, vectorize

from .jitcache import stamp_caches

F = np.float32
_JIT = dict(cache=True, nogil=True, error_model="numpy")

# Every constant is a float32: numba types a Python float as float64, which would turn the arithmetic to float64.
_ONE, _HALF = F(1.0), F(0.5)
_LOG2E = F(1.4426950408889634)
_LN2_HI = F(0.693359375)  # ln 2 in two parts (Cephes): 9 significant bits, so k x _LN2_HI is exact for |k| < 2^15
_LN2_LO = F(-2.12194440e-4)
_SQRT2 = F(1.4142135623730951)
_X_MIN, _X_MAX = F(-87.0), F(88.0)  # e^x stays a normal float32: 2^-125 .. 2^127 x 1.4
_TINY = F(1.1754944e-38)  # the smallest normal float32: the power's log needs a normal argument
_TWO_23 = F(8388608.0)  # 2^23: a float32 in [2^23, 2^24) holds an integer in its 23 mantissa bits
# e^r - 1 = r + r^2 (1/2 + r/6 + ... + r^6/8!) for |r| <= ln2/2: Taylor to r^8, the first term left out,
# (ln2/2)^9 / 9!, is 2e-10, far below a float32 unit of r^2/2.
_EXPM1_C = tuple(F(1.0 / c) for c in (40320.0, 5040.0, 720.0, 120.0, 24.0, 6.0, 2.0))
# ln(1 + f) = f - f^2/2 + f^3 P(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: Cephes logf's minimax P.
_LOG_C = tuple(F(c) for c in (7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
                              1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
                              3.3333331174e-1))


@njit(**_JIT)
def _two_to(k):
    """2^k for an integer-valued float32 k in [-126, 127], built from its exponent bits: k + 127 lands in the low
    mantissa bits of k + 127 + 2^23, and a shift by 23 moves it into the exponent field (integer shifts, which
    every SIMD unit has)."""
    return np.int32(np.float32((k + F(127.0)) + _TWO_23).view(np.int32) << 23).view(np.float32)


@njit(**_JIT)
def _reduce(x):
    """(k, r) with x = k ln2 + r, k an integer-valued float32 and |r| <= ln2/2 (about: the float32 rounding of
    x log2(e) can move r slightly past it, where the polynomial is still accurate); x clamped to [-87, 88]."""
    x = min(max(x, _X_MIN), _X_MAX)
    k = np.floor(x * _LOG2E + _HALF)
    r = x - k * _LN2_HI
    return k, r - k * _LN2_LO


@njit(**_JIT)
def _horner(c, x):
    """c[0] x^(n-1) + ... + c[n-1] by Horner's rule, c a tuple of float32 (the loop is unrolled: its length is a
    constant)."""
    p = c[0]
    for k in range(1, len(c)):
        p = p * x + c[k]
    return p


@njit(**_JIT)
def _expm1_reduced(r):
    """e^r - 1 for |r| <= ln2/2."""
    return _horner(_EXPM1_C, r) * (r * r) + r


@njit(**_JIT)
def exp32(x):
    """e^x of a float32, within 1 float32 unit of the correctly rounded value; x clamped to [-87, 88]."""
    k, r = _reduce(x)
    return (_expm1_reduced(r) + _ONE) * _two_to(k)


@njit(**_JIT)
def expm1_32(x):
    """e^x - 1 of a float32, within 1 float32 unit of the correctly rounded value, small values included:
    e^x - 1 = 2^k (e^r - 1) + (2^k - 1),
    and for k = 0 it is the polynomial alone. (0 and -0 both give +0.)"""
    k, r = _reduce(x)
    t = _two_to(k)
    return _expm1_reduced(r) * t + (t - _ONE)


@njit(**_JIT)
def _log(x):
    """ln x of a normal float32 x > 0 (no checks: the power's arguments are shares, clamped below)."""
    bits = np.float32(x).view(np.int32)
    e = np.int32((bits >> 23) | 0x4B000000).view(np.float32) - (_TWO_23 + F(127.0))  # the unbiased exponent
    m = np.int32((bits & 0x007FFFFF) | 0x3F800000).view(np.float32)  # the mantissa, in [1, 2)
    big = m > _SQRT2
    m = m * _HALF if big else m  # now in [sqrt(1/2), sqrt(2)]
    e = e + _ONE if big else e
    f = m - _ONE
    z = f * f
    y = _horner(_LOG_C, f) * f * z + e * _LN2_LO
    y = y - _HALF * z
    return (f + y) + e * _LN2_HI


@njit(**_JIT)
def _pow_general(x, y):
    r = exp32(y * _log(max(x, _TINY)))  # at x = 0: e^(-87 y) or less, replaced below; 1 for y = 0
    return r if (x > F(0.0)) | (y == F(0.0)) else F(0.0)


@njit(**_JIT)
def pow32(x, y):
    """x^y of float32 x >= 0 and y >= 0 (a share raised to an exponent): 0^y is 0 (1 for y = 0), else e^(y ln x);
    a square (y = 2, the deals' default exponent) is x * x, exact but for its one rounding and far cheaper."""
    return x * x if y == F(2.0) else _pow_general(x, y)


# The lane loops of the compiled rules (sim/kernels.py), x of shape (rows, lanes) changed in place. In loops of
# their own, not inlined into the day's large loops, they compile to SIMD code over the lanes (measured: 150 ->
# 108 us a run with the branch-free loops).


@njit(**_JIT)
def exp_rows(x, rows, nb):
    for i in range(rows):
        for b in range(nb):
            x[i, b] = exp32(x[i, b])


@njit(**_JIT)
def expm1_rows(x, rows, nb):
    for i in range(rows):
        for b in range(nb):
            x[i, b] = expm1_32(x[i, b])


@njit(**_JIT)
def pow_rows(x, y, rows, nb):
    """x[i, b] = pow32(x[i, b], y), with pow32's test of y made once, outside the loops: inside, it kept the
    compiler from vectorising them (measured: 3.5 -> 21.7 ns a value). With the exponent a constant 2 the
    compiler drops the test from the call."""
    if y == F(2.0):
        for i in range(rows):
            for b in range(nb):
                x[i, b] = pow32(x[i, b], F(2.0))
    else:
        for i in range(rows):
            for b in range(nb):
                x[i, b] = _pow_general(x[i, b], y)


# The same functions as numpy ufuncs, for the reference rules: the ufunc loop calls the very functions above.
# Built on first use (module __getattr__): a ufunc with signatures compiles, or loads its cache, when it is made,
# and nothing but the reference rules (the tests) needs them.
_UFUNCS = {
    "exp_f32": (["float32(float32)"], lambda: exp32),
    "expm1_f32": (["float32(float32)"], lambda: expm1_32),
    "pow_f32": (["float32(float32, float32)"], lambda: pow32),
}


def __getattr__(name: str):
    if name not in _UFUNCS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    signatures, scalar = _UFUNCS[name]
    f = scalar()
    ufunc = vectorize(signatures)((lambda x: f(x)) if len(signatures[0].split(",")) == 1 else (lambda x, y: f(x, y)))
    globals()[name] = ufunc
    return ufunc


stamp_caches(globals())  # an edit of any file the compiled rules are built from recompiles them
