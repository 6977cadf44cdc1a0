import shutil
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
