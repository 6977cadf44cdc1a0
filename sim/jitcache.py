"""numba's on-disk cache, made safe across the files the compiled rules are built from.

numba keeps a compiled function's machine code beside its source (cache=True) and reuses it while the source
file's modification time and size are unchanged. It does not look at the other files whose code it inlined: after
an edit of sim/f32math.py, sim/streams.py or a constant of sim/rules.py, sim/kernels.py's cache would still serve
the old code. `stamp_caches` ties every compiled function's cache to a hash of all those files, so an edit of
any one of them recompiles everything that may have inlined it (tests/test_kernels.py checks this on a copy).

It sets the stamp numba compares (IndexDataCacheFile._source_stamp), numba's own mechanism, through attributes
that are not public API; if a numba release renames them, `stamp_caches` turns caching off for those functions
rather than risk stale code.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

_SOURCES = ("kernels.py", "f32math.py", "streams.py", "rules.py")


def sources_digest() -> str:
    """sha256 of the sources the compiled rules are built from."""
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((Path(__file__).with_name(name)).read_bytes())
    return h.hexdigest()


def stamp_caches(namespace: dict) -> None:
    """Tie the on-disk cache of every numba function in `namespace` (a module's globals()) to sources_digest()."""
    digest = sources_digest()
    for obj in list(namespace.values()):
        cache = getattr(obj, "_cache", None)
        if cache is None or not hasattr(obj, "py_func") or type(cache).__name__ == "NullCache":
            continue
        try:
            index = cache._cache_file
            index._source_stamp = (index._source_stamp, digest)
        except AttributeError:  # numba changed its internals: no cache beats a stale one
            from numba.core.caching import NullCache

            obj._cache = NullCache()
            warnings.warn(f"numba's cache layout changed: {obj.py_func.__name__} is compiled on every run",
                          RuntimeWarning, stacklevel=2)


_ANNOUNCED: set = set()


def announce_compiling(dispatcher, what: str = "the model's rules") -> None:
    """Say on stderr, once per process, when `dispatcher` is about to compile because its cache holds nothing
    usable (the first run after an install, or after an edit): that takes 20 to 60 seconds with no other output."""
    if dispatcher in _ANNOUNCED or dispatcher.signatures:
        return
    _ANNOUNCED.add(dispatcher)
    try:
        cached = bool(dispatcher._cache._cache_file._load_index())
    except Exception:  # numba's internals changed: say nothing rather than something wrong
        return
    if not cached:
        import sys

        print(f"compiling {what} (once after an install or an edit; up to a minute) ...", file=sys.stderr,
              flush=True)
