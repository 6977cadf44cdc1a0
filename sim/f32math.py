"""exp, expm1 and power for float32 arguments, written out so that they compile to SIMD code and give the same
bits wherever they are called: in the compiled rules (sim/kernels.py) and, through the ufuncs at the bottom, in
the numpy reference rules (sim/rules.py).

Why not numpy's or the C library's: numpy's float32 exp/expm1 are its own SIMD code and the C library's are
others (they disagree with each other in the last bit for about half of all arguments, measured), and a call to
the C library cannot be vectorised by the compiler. A rule that compares a uniform with a chance computed by one
and replays it with the other would, rarely, decide differently. These functions work in float64 on a float32
argument and round once at the end: the float64 error (below 1e-10 relative) is far below half a float32 unit
(6e-8), so the result is the correctly rounded value except in rare cases (within 1 unit, tested), identically
everywhere.

No fastmath anywhere (it would let the compiler reorder the arithmetic differently in different loops).
"""

from __future__ import annotations

import numpy as np
from numba import njit, vectorize

from .jitcache import stamp_caches

F = np.float32
_JIT = dict(cache=True, nogil=True, error_model="numpy")

_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split in two (fdlibm): k x LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.90821492927058770002e-10
_SQRT_HALF = 0.7071067811865476


_TWO_52 = 4503599627370496.0  # 2^52: a float64 in [2^52, 2^53) holds an integer in its 52 mantissa bits


@njit(**_JIT)
def _two_to(k: float) -> float:
    """2^k for an integer-valued float64 k in [-1022, 1023], built from its exponent bits: k + 1023 lands in the
    low mantissa bits of k + 1023 + 2^52, and a shift by 52 moves them into the exponent field. No conversion of a
    float to int64: AVX2 has none for SIMD lanes, so `np.int64(k)` ran as four scalar conversions (and shuffles)
    in every vector of the exp loops; these are integer shifts it has."""
    return np.int64(np.float64((k + 1023.0) + _TWO_52).view(np.int64) << 52).view(np.float64)


@njit(**_JIT)
def _exponent(bits) -> float:
    """The unbiased exponent of a normal positive float64 with these bits, as a float64 (the same trick
    backwards: no int64 -> float conversion, which AVX2 also lacks for SIMD lanes)."""
    return np.int64((bits >> 52) | 0x4330000000000000).view(np.float64) - (_TWO_52 + 1023.0)


@njit(**_JIT)
def exp64(x: float) -> float:
    """e^x in float64 to about 1e-11 relative; x is clamped to [-700, 700] (below: about 1e-304; the rules'
    arguments are small)."""
    x = min(max(x, -700.0), 700.0)
    k = np.floor(x * _INV_LN2 + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO  # |r| <= ln2 / 2
    # Taylor to r^9: the first term left out, (ln2/2)^10 / 10!, is 7e-12 relative, far below half a float32 unit.
    p = 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _two_to(k)


@njit(**_JIT)
def log64(x: float) -> float:
    """ln x in float64 to about 1e-12 absolute, for normal x > 0 (no checks: the rules' arguments are shares)."""
    bits = np.float64(x).view(np.int64)
    e = _exponent(bits)
    m = np.int64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)  # mantissa in [1, 2)
    big = m > 2.0 * _SQRT_HALF
    m = m * 0.5 if big else m  # now in [sqrt(1/2), sqrt(2)]
    e = e + 1.0 if big else e
    s = (m - 1.0) / (m + 1.0)  # ln m = 2 atanh s, |s| <= 0.172
    s2 = s * s
    # 2 (s + s^3/3 + ... + s^13/13): the next term, 2 s^15 / 15, is below 5e-13.
    q = 1.0 / 13.0
    q = q * s2 + 1.0 / 11.0
    q = q * s2 + 1.0 / 9.0
    q = q * s2 + 1.0 / 7.0
    q = q * s2 + 1.0 / 5.0
    q = q * s2 + 1.0 / 3.0
    q = q * s2 + 1.0
    return 2.0 * s * q + e * _LN2_HI + e * _LN2_LO


@njit(**_JIT)
def exp32(x):
    """e^x of a float32, correctly rounded to float32 but for rare double roundings."""
    return F(exp64(np.float64(x)))


@njit(**_JIT)
def expm1_32(x):
    """e^x - 1 of a float32 without losing the small values: for |x| < 1e-5 the series x + x^2/2 + x^3/6
    (its error, x^4/24, is 1e-21 relative), above it e^x - 1 (error 1e-16 / |x| < 1e-11 relative)."""
    d = np.float64(x)
    small = d + d * d * (0.5 + d * (1.0 / 6.0))
    return F(small if abs(d) < 1e-5 else exp64(d) - 1.0)


@njit(**_JIT)
def pow32(x, y):
    """x^y of float32 x >= 0 and y >= 0 (a share raised to an exponent): 0^y is 0 (1 for y = 0), else e^(y ln x)."""
    d = np.float64(x)
    r = exp64(np.float64(y) * log64(d if d > 1e-300 else 1e-300))  # at x = 0: e^(-690 y), 1 for y = 0
    return F(r if (d > 0.0) | (y == 0.0) else 0.0)


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
