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
    if "n_runs" not in meta:  # e.g. a sweep folder
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


# ----------------------------------------------------------------------------------------------------- sweeps
#
# results/<sweep>/ holds manifest.json and points.parquet (written once, before any point runs), and two
# datasets, runs.parquet/ and fall_days.parquet/, each a folder of part files that pyarrow and pandas read as
# one table. Every flush of finished points writes one part to each, under the same name: first fall_days, then
# runs, each to a temporary name and renamed into place. A point counts as stored once its runs part exists; a
# fall_days part without its runs part (a kill between the two renames) is removed when the sweep starts again.

RUNS, FALLS = "runs.parquet", "fall_days.parquet"


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write_json(tmp, obj)
    os.replace(tmp, path)


def prepare_sweep_folder(out: Path, sweep) -> None:
    """Create the folder with its manifest and points, or check that it belongs to this very sweep file."""
    from .world import default_world

    out = Path(out)
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        stored = json.loads(manifest_path.read_text())
        if stored.get("sweep_text") != sweep.text:
            from .scenario import ScenarioError

            raise ScenarioError(sweep.path, f"{out} holds the results of a different sweep file; "
                                            "use another --out folder or remove it")
    else:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_json(manifest_path, {
            "name": sweep.name, "sweep_file": sweep.path, "sweep_text": sweep.text, "root_seed": sweep.seed,
            "seeding": "point k: np.random.SeedSequence(root_seed).spawn(n_points)[k]; its replicates run "
                       "in chunks of 1000 seeded as in ensemble.chunk_seeds(point seed)",
            "design": sweep.method, "parameters": list(sweep.parameters), "n_points": len(sweep.points),
            "replicates": sweep.replicates, "base_scenario": sweep.scenario.name,
            "base_scenario_text": sweep.scenario.text, "base_params": sweep.scenario.params.to_dict(),
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(), "packages": package_versions(),
            "data_sha256": data_checksums(default_world()),
        })
        points = {"point_id": list(range(len(sweep.points))), "seed": list(sweep.point_seeds)}
        for name in sweep.parameters:
            points[name] = [p[name] for p in sweep.points]
        _atomic_parquet(pa.table(points), out / "points.parquet")
    for name in (RUNS, FALLS):
        (out / name).mkdir(exist_ok=True)
    # A kill between the two renames of a flush leaves a fall_days part without its runs part: drop it.
    runs = {p.name for p in (out / RUNS).glob("part-*.parquet")}
    for p in (out / FALLS).glob("part-*.parquet"):
        if p.name not in runs:
            p.unlink()
    for folder in (out, out / RUNS, out / FALLS):
        for tmp in folder.glob(".*.tmp-*"):
            tmp.unlink()


def stored_point_ids(out: Path) -> set[int]:
    parts = sorted((Path(out) / RUNS).glob("part-*.parquet"))
    ids: set[int] = set()
    for p in parts:
        ids.update(pq.read_table(p, columns=["point_id"]).column("point_id").unique().to_pylist())
    return ids


def append_sweep_part(out: Path, sweep, results: list[dict]) -> None:
    """Write one flush of finished points: a fall_days part, then the runs part of the same name."""
    from .sweep import RUN_METRICS, part_name

    out = Path(out)
    names = np.array(_province_names(), dtype=object)
    name = part_name()
    runs_cols: dict[str, list] = {"run_id": [], "point_id": [], "seed": []}
    for m in RUN_METRICS:
        runs_cols[m] = []
    fall_tables = []
    epoch = (DAY0 - dt.date(1970, 1, 1)).days
    how_names = np.array([FALL_HOW_NAMES[k] for k in sorted(FALL_HOW_NAMES)], dtype=object)
    for r in results:
        n, n_p = r["fall_day"].shape
        run_ids = r["point_id"] * sweep.replicates + np.arange(n)
        runs_cols["run_id"].append(run_ids)
        runs_cols["point_id"].append(np.full(n, r["point_id"]))
        runs_cols["seed"].append(r["run_seed"])
        for m in RUN_METRICS:
            runs_cols[m].append(r["metrics"][m])
        days = r["fall_day"].astype(np.int32).ravel()
        held = days == NOT_FALLEN
        fall_tables.append(pa.table({
            "run_id": pa.array(np.repeat(run_ids, n_p)),
            "point_id": pa.array(np.full(n * n_p, r["point_id"])),
            "seed": pa.array(np.repeat(r["run_seed"].astype(np.int64), n_p)),
            "province": pa.array(np.tile(names, n)),
            "fell_on": pa.array(np.where(held, 0, days + epoch), type=pa.int32(), mask=held).cast(pa.date32()),
            "fall_how": pa.array(how_names[r["fall_how"].astype(int).ravel()]),
        }))
    _atomic_parquet(pa.concat_tables(fall_tables), out / FALLS / name)
    _atomic_parquet(pa.table({k: np.concatenate(v) for k, v in runs_cols.items()}), out / RUNS / name)


def _province_names():
    from .world import default_world

    return default_world().names


def write_failures(out: Path, failed: dict) -> None:
    path = Path(out) / "failed.json"
    if failed:
        _atomic_json(path, {str(k): v for k, v in sorted(failed.items())})
    elif path.exists():
        path.unlink()  # a restart that succeeded where a point had failed


def read_sweep(out: Path):
    """(points, runs) as pyarrow tables."""
    out = Path(out)
    return pq.read_table(out / "points.parquet"), pq.read_table(out / RUNS)
