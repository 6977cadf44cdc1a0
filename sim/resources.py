"""Where the shipped files are: the observed record (data/) and the scenarios (scenarios/), and the checkout, if any.

The repository keeps data/ and scenarios/ at its top. pyproject.toml maps them into the package, so a wheel or a
`pip install .` carries them as sim/_data and sim/_scenarios, found here with importlib.resources. Where the
package folder holds no copy (a checkout run as it is, with run.py or PYTHONPATH, or installed editable), the
checkout's own folders are used: the same files, never a second copy to keep in step.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The folder holding the sim package: the checkout, or site-packages (or a --target folder) when installed.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def checkout() -> Path | None:
    """The repository's top folder when this sim package is the checkout's own, else None (an installed copy)."""
    root = PACKAGE_PARENT
    return root if (root / "pyproject.toml").is_file() and (root / "sim" / "resources.py").is_file() else None


def _shipped(folder: str) -> Path:
    inside = files("sim") / f"_{folder}"
    # A package imported from a folder gives a Path; the copy inside wins over the checkout's (an installed copy
    # must not read a checkout that happens to lie beside it).
    if isinstance(inside, Path) and inside.is_dir():
        return inside
    root = checkout()
    if root is not None and (root / folder).is_dir():
        return root / folder
    # Neither: the caller's own message ("no such file ...") names this path.
    return inside if isinstance(inside, Path) else PACKAGE_PARENT / folder


def data_dir() -> Path:
    """The shipped observed record: provinces.csv, roads.csv, events.csv, ..."""
    return _shipped("data")


def scenario_dir() -> Path:
    """The shipped scenarios (NAME.toml), with sweeps/ and ablations/ inside."""
    return _shipped("scenarios")


__all__ = ["PACKAGE_PARENT", "checkout", "data_dir", "scenario_dir"]
