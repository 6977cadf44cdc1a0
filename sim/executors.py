"""Where many runs execute: in this process, on a local process pool, or on a Dask cluster.

Every executor here is a concurrent.futures.Executor, so sweeps, calibration and sensitivity analysis submit
work the same way. Worker processes of the local pool die with the command that started them, even when it is
killed with SIGKILL (Linux's parent-death signal, and a watchdog thread elsewhere), and ignore Ctrl-C, which the
command handles: on an interrupt `close(kill=True)` cancels what has not started and stops the workers at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from urllib.parse import urlsplit

DASK_CONNECT_TIMEOUT_S = 10


class ExecutorError(Exception):
    """The executor asked for cannot be used (a bad --scheduler address, an unreachable scheduler): one line."""


class InlineExecutor(Executor):
    """Runs each task when it is submitted, in this process (--workers 1): simplest to debug and profile."""

    def submit(self, fn, /, *args, **kwargs):
        f: Future = Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future, as a pool does
            f.set_exception(exc)
        return f


def _die_with_parent() -> None:
    """Make this worker process exit when its parent does, however the parent ends."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        try:  # PR_SET_PDEATHSIG = 1: the kernel sends SIGKILL when the parent thread exits
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def worker_init() -> None:
    """Initializer of every local worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent decides
    _die_with_parent()


def check_scheduler(address: str | None) -> None:
    """Refuse a --scheduler that is neither 'local' nor a Dask address tcp://HOST:PORT (or tls://)."""
    if address is None or address == "local":
        return
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise ExecutorError(f"--scheduler {address!r}: allowed 'local' (a Dask LocalCluster on this machine) or "
                            "the address of a running Dask scheduler, tcp://HOST:PORT (or tls://HOST:PORT)")


def _pool_processes(ex: ProcessPoolExecutor) -> list:
    """The pool's live worker processes (a private attribute of concurrent.futures; none once it has shut down)."""
    return list((getattr(ex, "_processes", None) or {}).values())


def _kill_pool(ex: ProcessPoolExecutor) -> None:
    procs = _pool_processes(ex)
    manager = getattr(ex, "_executor_manager_thread", None)  # (shutdown drops these references: take them first)
    results = getattr(ex, "_result_queue", None)
    ex.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 3
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
    _release_manager(manager, results)


def _release_manager(manager, results) -> None:
    """Let the pool's manager thread end, so that the interpreter can exit.

    A worker killed halfway through sending a result leaves half a message in the result pipe, and CPython's
    manager thread then waits for the rest for ever: this process holds the pipe's write end too, so no end of
    file comes, and at exit the interpreter joins that thread (seen as a Ctrl-C'd sweep that printed its message
    and never exited, about 1 run in 10 on a loaded machine). Closing our copy of the write end gives the reader
    its end of file; it takes the pool for broken and stops."""
    if manager is None or results is None:
        return
    manager.join(1.0)
    if manager.is_alive():
        writer = getattr(results, "_writer", None)
        if writer is not None:
            writer.close()
        manager.join(3.0)


def local_worker_peaks_mb(executor) -> list[float]:
    """The peak resident set (VmHWM, sim/memory.py) of each live worker process of a local process pool, read
    from outside before the pool closes; [] for any other executor (in this process, or Dask's workers)."""
    from .memory import peak_mb

    if not isinstance(executor, ProcessPoolExecutor):
        return []
    peaks = (peak_mb(p.pid) for p in _pool_processes(executor))
    return [v for v in peaks if v == v]  # NaN: a worker already gone, or no /proc


def make_executor(workers: int | None, scheduler: str | None):
    """(executor, close). Default: a local process pool sized to the machine (workers=1: in this process);
    'local': a Dask LocalCluster on loopback; 'tcp://HOST:PORT': a running Dask scheduler. close(kill=False)
    waits for running tasks; close(kill=True) cancels and stops them (after an interrupt). Dask tasks are
    submitted with pure=False, since a stochastic task must never be merged with another of the same arguments."""
    from .bench import ONE_THREAD

    check_scheduler(scheduler)
    # Worker processes inherit the environment: one BLAS/OpenMP thread each, so N workers use N cores.
    os.environ.update(ONE_THREAD)
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        if n == 1:
            ex = InlineExecutor()
            return ex, lambda kill=False: ex.shutdown()
        import multiprocessing

        # spawn: workers start clean (no threads or state inherited from the parent), on every platform alike.
        pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=worker_init)

        def close(kill: bool = False):
            if kill:
                _kill_pool(pool)
            else:
                pool.shutdown(wait=True)

        return pool, close
    from distributed import Client, LocalCluster

    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)

        def close(kill: bool = False):
            client.close(timeout=2 if kill else None)
            cluster.close(timeout=5 if kill else None)
    else:
        try:
            client = Client(scheduler, timeout=f"{DASK_CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there within "
                                f"{DASK_CONNECT_TIMEOUT_S} s ({exc})") from None

        def close(kill: bool = False):
            client.close(timeout=2 if kill else None)
    return client.get_executor(pure=False), close
