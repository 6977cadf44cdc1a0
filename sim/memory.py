"""Resident memory of a process, as Linux counts it in /proc/PID/status, for the benchmark and the sweep's report.

Why not getrusage's ru_maxrss: a process started by fork (and exec, as multiprocessing's "spawn" does) inherits
the parent's high-water mark, so a worker of a 527 MB process reports 527 MB against its own 13 MB (measured).
VmHWM is the process's own peak; RssAnon and RssFile split the resident set now into its own arrays and heap, and
the file-backed pages (the code of shared libraries, numba's LLVM among them) that processes share and the system
can drop and reread. Off Linux there is no /proc: the figures are NaN (the sweep then leaves the workers' peak
out of its report), but for this process's own peak, which falls back to getrusage.
"""

from __future__ import annotations

import math
import resource
import sys

__all__ = ["peak_mb", "resident_mb"]


def resident_mb(field: str = "VmRSS", pid: int | str = "self") -> float:
    """The `field` line of /proc/PID/status in MB (VmRSS, VmHWM, RssAnon, RssFile), NaN if it cannot be read
    (no /proc, or the process has ended)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return math.nan


def peak_mb(pid: int | str = "self") -> float:
    """The peak resident set of a process (VmHWM). For this process without /proc, getrusage's ru_maxrss (which
    macOS gives in bytes, other systems in KiB)."""
    peak = resident_mb("VmHWM", pid)
    if math.isnan(peak) and pid == "self":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024.0)
    return peak
