"""The random numbers of a run's days: one counter-based stream per replicate.

The k-th uniform of day t of a replicate is mix(key + (t S + k + 1) G): SplitMix64's output function (Steele, Lea
and Flood 2014, as in Java's SplittableRandom) applied to a Weyl sequence with the golden-ratio increment G, S
uniforms a day. Any uniform can be computed on its own, in any order and on any thread, and SIMD lanes compute
several at once. A replicate's key (rules.State.stream) is derived from one 64-bit draw of the run's numpy
generator and the replicate's place in its chunk, so a run depends only on its seed, never on how many
replicates are computed together or where.

Uniforms are float32 in [0, 1), the top 24 bits of the mixed word.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .jitcache import stamp_caches

_JIT = dict(cache=True, nogil=True, error_model="numpy")

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # SplitMix64's Weyl increment
KEY_GAMMA = np.uint64(0xD1B54A32D192ED03)  # spreads a chunk's key over its replicates (another odd constant)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S40 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(40)
_UNIT = np.float32(1.0 / 16777216.0)  # 2^-24


@njit(**_JIT)
def mix(z):
    """SplitMix64's output function: a bijection of 64-bit words with full avalanche."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(**_JIT)
def unit(z):
    """A float32 uniform in [0, 1) from a mixed 64-bit word: its top 24 bits. They fit an int32, so they are
    converted from one: AVX2 has SIMD conversions from int32 but none from 64-bit integers (each lane was
    converted on its own), and the value is the same."""
    return np.float32(np.int32(z >> _S40)) * _UNIT


def chunk_key(rng: np.random.Generator) -> np.uint64:
    """One 64-bit draw of the run's generator: the key its replicates' streams derive from."""
    return rng.integers(0, np.iinfo(np.uint64).max, dtype=np.uint64, endpoint=True)


@njit(**_JIT)
def replicate_keys(key, n):
    """(n,) uint64: the stream key of each of n replicates of a chunk with key `key`."""
    keys = np.empty(n, dtype=np.uint64)
    for r in range(n):
        keys[r] = mix(np.uint64(key) + np.uint64(r + 1) * KEY_GAMMA)
    return keys


@njit(**_JIT)
def draw(key, day, u):
    """Fill the float32 array u with the uniforms 0..u.size-1 of `day` of the stream with key `key`."""
    base = np.uint64(day) * np.uint64(u.size)
    for k in range(u.size):
        u[k] = unit(mix(key + (base + np.uint64(k + 1)) * GOLDEN))


@njit(**_JIT)
def uniforms(keys, day, n_slots):
    """(N, n_slots) float32: the uniforms of `day` of each stream in keys."""
    out = np.empty((keys.size, n_slots), dtype=np.float32)
    for r in range(keys.size):
        draw(keys[r], day, out[r])
    return out


stamp_caches(globals())  # an edit of any file the compiled rules are built from recompiles them
