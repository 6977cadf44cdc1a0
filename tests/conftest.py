import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sim.data import DATA_DIR  # noqa: E402
from sim.world import default_world  # noqa: E402


@pytest.fixture(scope="session")
def world():
    return default_world()


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the shipped data files, for tests that break them."""
    d = tmp_path / "data"
    shutil.copytree(DATA_DIR, d)
    return d


def run_in_process(*args, cwd=None) -> subprocess.CompletedProcess:
    """`python run.py ARGS` as the same `main()` in this process, returned like `subprocess.run`'s result.

    Why: a new interpreter pays ~4 s before any work (numpy, numba, matplotlib, pyarrow, the cached machine code),
    and the suite made ~200 such calls, the largest share of CI's time. Tests that need a process of their own
    keep one: the entry point itself (tests/test_cli.py's end-to-end tests, tests/test_packaging.py), signals and
    kills, file-size limits, a second writer (the writer's lock is re-entrant within one process). An exception
    that escapes main() reaches the test as it is (a subprocess would print a Traceback and exit 1: it fails
    either way)."""
    from sim.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, or a bad option
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
        if "matplotlib.pyplot" in sys.modules:  # what a process's exit would free: figures a refusal left open
            sys.modules["matplotlib.pyplot"].close("all")
    return subprocess.CompletedProcess(["run.py", *argv], code, out.getvalue(), err.getvalue())
