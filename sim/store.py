"""results/<name>/: the manifest and tables of a run, written atomically.

Everything is first written to a hidden temporary folder beside the target and moved into place only when every
file is complete, so an error or an interrupt never leaves a half-written results folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .ensemble import EnsembleResult
from .rules import FALL_HOW_NAMES, NOT_FALLEN
from .world import DAY0, World, day_date

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("mesa", "numpy", "scipy", "networkx", "pyarrow", "matplotlib", "tqdm")


def git_commit() -> str | None:
    """The checkout's commit, with '-dirty' if files differ from it; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def data_checksums(world: World) -> dict[str, str]:
    d = Path(world.record.data_dir)
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.glob("*.csv"))}


def manifest(name: str, result: EnsembleResult, world: World, extra: dict | None = None) -> dict:
    return {
        "name": name,
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "start": day_date(result.start_day).isoformat(),
        "end": day_date(result.end_day).isoformat(),
        "n_runs": result.n_runs,
        "seed": result.seed,
        "chunk_size": result.chunk_size,
        "chunk_seeds": sorted({int(s) for s in result.run_seed}),
        "seeding": "np.random.SeedSequence(seed).spawn(n_chunks); run_id // chunk_size picks the chunk",
        "params": result.params.to_dict(),
        "params_changed_from_defaults": result.params.changed(),
        "git_commit": git_commit(),
        "packages": package_versions(),
        "data_sha256": data_checksums(world),
        **(extra or {}),
    }


def fall_days_table(result: EnsembleResult) -> pa.Table:
    """Long form: one row per run and province: run_id, seed, province, fell_on (null when held), fall_how."""
    n, n_p = result.fall_day.shape
    days = result.fall_day.astype(np.int32).ravel()
    held = days == NOT_FALLEN
    epoch = (DAY0 - dt.date(1970, 1, 1)).days
    fell_on = pa.array(np.where(held, 0, days + epoch), type=pa.int32(), mask=held).cast(pa.date32())
    how_names = np.array([FALL_HOW_NAMES[k] for k in sorted(FALL_HOW_NAMES)], dtype=object)
    return pa.table({
        "run_id": pa.array(np.repeat(np.arange(n, dtype=np.int64), n_p)),
        "seed": pa.array(np.repeat(result.run_seed.astype(np.int64), n_p)),
        "province": pa.array(np.tile(np.array(result.names, dtype=object), n)),
        "fell_on": fell_on,
        "fall_how": pa.array(how_names[result.fall_how.astype(int).ravel()]),
    })


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (dt.date,)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n")


@contextmanager
def atomic_folder(target: Path):
    """Yield a temporary folder; on success it replaces `target` whole, on any error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; results are ordinary files
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(target: Path, name: str, result: EnsembleResult, world: World, scorecard: dict,
              figures: dict | None = None, extra_manifest: dict | None = None) -> Path:
    """Write manifest.json, fall_days.parquet, metrics.json and the figures {filename: matplotlib Figure}."""
    with atomic_folder(target) as tmp:
        write_json(tmp / "manifest.json", manifest(name, result, world, extra_manifest))
        pq.write_table(fall_days_table(result), tmp / "fall_days.parquet")
        write_json(tmp / "metrics.json", scorecard)
        for filename, fig in (figures or {}).items():
            fig.savefig(tmp / filename, dpi=130, bbox_inches="tight")
    return target


def read_result(folder: Path, world: World) -> tuple[dict, EnsembleResult] | None:
    """The manifest and the fall days stored in `folder` (held counts and district shares are not stored, and
    come back empty). None if the folder holds no complete result."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / "manifest.json").read_text())
        table = pq.read_table(folder / "fall_days.parquet").to_pydict()
    except (OSError, ValueError):
        return None
    n, n_p = meta["n_runs"], world.n_provinces
    if len(table["run_id"]) != n * n_p or list(table["province"][:n_p]) != list(world.names):
        return None
    codes = {name: code for code, name in FALL_HOW_NAMES.items()}
    fell = [NOT_FALLEN if d is None else (d - DAY0).days for d in table["fell_on"]]
    from .params import Params

    result = EnsembleResult(
        names=world.names, params=Params.from_dict(meta["params"]), seed=meta["seed"],
        start_day=(dt.date.fromisoformat(meta["start"]) - DAY0).days,
        end_day=(dt.date.fromisoformat(meta["end"]) - DAY0).days, chunk_size=meta["chunk_size"],
        run_seed=np.array(table["seed"][::n_p], dtype=np.int64),
        fall_day=np.array(fell, dtype=np.int16).reshape(n, n_p),
        fall_how=np.array([codes[h] for h in table["fall_how"]], dtype=np.int8).reshape(n, n_p),
        held_count=np.zeros((n, 0), dtype=np.int16), district_share=np.zeros((n, 0), dtype=np.float32))
    return meta, result
