"""results/<name>/: the manifest and tables of a run or a sweep, written so that they can be trusted.

The safety rules (whose folders may be written, one writer, atomic files and swaps) live in sim/folders.py.
Here: what goes into a folder and how it is read back. A manifest records who wrote the folder and what kind of
result it holds, the full definition of the run (so that a stored result is reused only for the very same
run), and the SHA-256 of every table, checked before a table is trusted (`load_run`, `verify_sweep`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import folders
from .ensemble import EnsembleResult
from .resources import checkout
from .rules import FALL_HOW_NAMES, NOT_FALLEN
from .world import DAY0, World, day_date

# This project's own version first: outside a checkout (an installed copy) it is what identifies the code.
PACKAGES = ("afghan2021-abm", "mesa", "numpy", "scipy", "networkx", "pyarrow", "matplotlib", "tqdm")
ROWS_PER_GROUP_RUNS = 10_000  # runs per Parquet row group: memory stays flat in the number of runs


class ResultProblem(Exception):
    """A stored result cannot be trusted or used: the reason, in one line."""


def git_commit() -> str | None:
    """The checkout's commit, with '-dirty' if files differ from it; None for an installed copy (whose version is in
    package_versions) or a checkout without git."""
    repo = checkout()
    if repo is None:  # not asked of git: an installed copy may sit inside someone else's repository
        return None
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_checksums(world: World) -> dict[str, str]:
    d = Path(world.record.data_dir)
    return {f.name: sha256(f) for f in sorted(d.glob("*.csv"))}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, (dt.date,)):
        return o.isoformat()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, default=_json_default, allow_nan=True) + "\n"


def write_json(path: Path, obj) -> None:
    """Write JSON atomically (a temporary file renamed into place)."""
    folders.write_text(Path(path), to_json(obj))


def stamp(kind: str) -> dict:
    """The fields every manifest starts with: who wrote it, what it holds, with which code."""
    return {"written_by": folders.OWNER, "kind": kind,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "git_commit": git_commit(), "packages": package_versions()}


# ------------------------------------------------------------------------------------------------- runs


def run_definition(scenario, n_runs: int, seed: int, chunk_size: int, engine: str, world: World) -> dict:
    """Everything that determines a run's results: equal definitions (and equal code) give equal results."""
    return {"scenario_text": scenario.text, "n_runs": int(n_runs), "seed": int(seed), "chunk_size": int(chunk_size),
            "start": scenario.start.isoformat(), "end": scenario.end.isoformat(), "engine": engine,
            "params": scenario.params.to_dict(), "data_sha256": data_checksums(world)}


def manifest(name: str, result: EnsembleResult, world: World, extra: dict | None = None,
             definition: dict | None = None) -> dict:
    return {
        **stamp("run"),
        "name": name,
        "definition": definition,
        "start": day_date(result.start_day).isoformat(),
        "end": day_date(result.end_day).isoformat(),
        "n_runs": result.n_runs,
        "seed": result.seed,
        "chunk_size": result.chunk_size,
        "chunk_seeds": sorted({int(s) for s in result.run_seed}),
        "random_streams": "np.random.SeedSequence(seed).spawn(n_chunks); run_id // chunk_size picks the chunk",
        "params": result.params.to_dict(),
        "params_changed_from_defaults": result.params.changed(),
        "seeding": getattr(result, "seeding", None),
        "data_dir": str(world.record.data_dir),
        "data_sha256": data_checksums(world),
        **(extra or {}),
    }


# The Parquet tables' columns, each with its description in the Arrow field metadata ("description"), which
# pyarrow, polars and duckdb show with the schema. A date is stored as timestamp[ms] at midnight, without a time
# zone: pandas reads it as datetime64[ms] (date32, the natural type, comes back as Python objects, on which
# .median() fails), polars as Datetime("ms") and duckdb as TIMESTAMP_MS; `.dt.date` gives the date. Milliseconds,
# not seconds, because Parquet has no timestamp in seconds and would store seconds as milliseconds anyway.
DATE_TYPE = pa.timestamp("ms")
_MS_PER_DAY = 86_400_000
DAY_INDEX_NOTE = f"a day index: days since {DAY0.isoformat()} (day 0)"


def described(name: str, type_: pa.DataType, description: str) -> pa.Field:
    """A schema field carrying its description in the field metadata."""
    return pa.field(name, type_, metadata={"description": description})


def description(field: pa.Field) -> str:
    """A field's description ("" if it has none)."""
    return (field.metadata or {}).get(b"description", b"").decode()


RUN_ID_FIELD = described("run_id", pa.int64(), "the run, 0 to n_runs - 1 in a run folder; in a sweep, point_id x "
                                               "replicates + the replicate's number within its point")
SEED_FIELD = described(
    "seed", pa.int64(),
    "the seed that replays this run: the integer seed of the chunk of runs it was simulated in (the manifest's "
    "chunk_size runs a chunk; in a sweep 1000). sim.ensemble.run_chunk(world, params, n, seed, start_day, end_day, "
    "interventions=..., initial=...) with n the chunk's size gives the chunk again, and this run is its row "
    "run_id % chunk_size (in a sweep, the replicate's number % 1000). With chunk_size 1 (the Mesa engine) it is "
    "the run's own seed: TerritoryModel(params, seed=seed, start=..., end=...) replays it")
POINT_ID_FIELD = described("point_id", pa.int64(), "the sweep point (a row of points.parquet)")
FALL_DAYS_SCHEMA = pa.schema([
    RUN_ID_FIELD,
    SEED_FIELD,
    described("province", pa.string(), "the province, named as in data/provinces.csv and in that order"),
    described("fell_on", DATE_TYPE, "the day its capital fell (midnight, no time zone); null where it held to the "
                                    "run's end"),
    described("fall_how", pa.string(), "how it fell: " + ", ".join(
        f"'{v}'" for k, v in sorted(FALL_HOW_NAMES.items()) if v != "held") + "; 'held' where it held"),
], metadata={"description": "one row per run and province: when and how its capital fell",
             "day0": DAY0.isoformat()})
_HOW_NAMES = np.array([FALL_HOW_NAMES[k] for k in sorted(FALL_HOW_NAMES)], dtype=object)
_EPOCH = (DAY0 - dt.date(1970, 1, 1)).days


def day_timestamps(days: np.ndarray, held: np.ndarray) -> pa.Array:
    """Day indices as DATE_TYPE (midnight of each day), null where `held`."""
    days = np.asarray(days, dtype=np.int64)
    return pa.array(np.where(held, 0, (days + _EPOCH) * _MS_PER_DAY), type=pa.int64(), mask=held).cast(DATE_TYPE)


def timestamp_days(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(day index, is null) of a DATE_TYPE column; raises ValueError where a value is not at midnight."""
    ms = values.cast(pa.int64())
    null = np.asarray(ms.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    raw = np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if (raw % _MS_PER_DAY).any():
        raise ValueError("a date is not at midnight")
    return raw // _MS_PER_DAY - _EPOCH, null


def _fall_days_block(run_ids: np.ndarray, seeds: np.ndarray, names, fall_day: np.ndarray,
                     fall_how: np.ndarray) -> pa.Table:
    n, n_p = fall_day.shape
    days = fall_day.astype(np.int64).ravel()
    return pa.table({
        "run_id": pa.array(np.repeat(run_ids.astype(np.int64), n_p)),
        "seed": pa.array(np.repeat(seeds.astype(np.int64), n_p)),
        "province": pa.array(np.tile(np.array(names, dtype=object), n), type=pa.string()),
        "fell_on": day_timestamps(days, days == NOT_FALLEN),
        "fall_how": pa.array(_HOW_NAMES[fall_how.astype(int).ravel()], type=pa.string()),
    }, schema=FALL_DAYS_SCHEMA)


def fall_days_table(result: EnsembleResult) -> pa.Table:
    """Long form: one row per run and province: run_id, seed, province, fell_on (null when held), fall_how."""
    return _fall_days_block(np.arange(result.n_runs), result.run_seed, result.names, result.fall_day,
                            result.fall_how)


def write_fall_days(path: Path, result: EnsembleResult) -> None:
    """fall_days.parquet, one row group per ROWS_PER_GROUP_RUNS runs, so a million runs need little memory."""
    with pq.ParquetWriter(path, FALL_DAYS_SCHEMA) as writer:
        for a in range(0, result.n_runs, ROWS_PER_GROUP_RUNS):
            b = min(a + ROWS_PER_GROUP_RUNS, result.n_runs)
            writer.write_table(_fall_days_block(np.arange(a, b), result.run_seed[a:b], result.names,
                                                result.fall_day[a:b], result.fall_how[a:b]))


def write_run(folder: Path, name: str, result: EnsembleResult, world: World, scorecard: dict,
              figures: dict | None = None, extra_manifest: dict | None = None, definition: dict | None = None) -> Path:
    """Write a run's files into `folder` (a fresh temporary folder from folders.new_folder): the figures
    {filename: matplotlib Figure}, fall_days.parquet, metrics.json, and last manifest.json with their checksums."""
    folder = Path(folder)
    for filename, fig in (figures or {}).items():
        folders.save_figure(fig, folder / filename, dpi=130, bbox_inches="tight")
    write_fall_days(folder / "fall_days.parquet", result)
    write_json(folder / "metrics.json", scorecard)
    meta = manifest(name, result, world, extra_manifest, definition)
    meta["files_sha256"] = {f: sha256(folder / f) for f in ("fall_days.parquet", "metrics.json")}
    write_json(folder / "manifest.json", meta)
    return folder


def verify_files(folder: Path, meta: dict) -> None:
    """Raise ResultProblem unless every file the manifest lists has the checksum it was written with."""
    for f, digest in (meta.get("files_sha256") or {}).items():
        path = Path(folder) / f
        if not path.is_file():
            raise ResultProblem(f"{path}: missing (the manifest lists it)")
        if sha256(path) != digest:
            raise ResultProblem(f"{path}: changed since it was written (its checksum differs from the manifest's)")


def load_run(folder: Path, world: World) -> tuple[dict, EnsembleResult]:
    """The manifest and fall days of a run folder, checked: written by this project for a run, every table's
    checksum as written, every row in place, and the same data files as `world`. Raises ResultProblem with the
    reason otherwise. Held counts and district shares are not stored: they come back empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultProblem(f"{folder}: no such results folder")
    meta = folders.read_manifest(folder)
    if meta is None:
        raise ResultProblem(f"{folder}: no manifest.json written by this project; not a results folder")
    if meta["kind"] != "run":
        raise ResultProblem(f"{folder}: holds {folders.KIND_NAMES[meta['kind']]}, not a scenario run")
    if "files_sha256" not in meta:
        raise ResultProblem(f"{folder}: written by an earlier version without checksums; run it again to use it")
    verify_files(folder, meta)
    if meta.get("data_sha256") != data_checksums(world):
        raise ResultProblem(f"{folder}: made with other data files ({meta.get('data_dir')}) than these "
                            f"({world.record.data_dir}); pass --data with the folder it was made with")
    n, n_p = int(meta["n_runs"]), world.n_provinces
    path = folder / "fall_days.parquet"
    try:
        pf = pq.ParquetFile(path)
        if "fell_on" in pf.schema_arrow.names and pf.schema_arrow.field("fell_on").type == pa.date32():
            raise ResultProblem(f"{path}: written by an earlier version (fell_on stored as date32, now "
                                f"{DATE_TYPE}); run it again to use it")
        if not pf.schema_arrow.equals(FALL_DAYS_SCHEMA, check_metadata=False) or pf.metadata.num_rows != n * n_p:
            raise ResultProblem(f"{path}: not the table of {n:,} runs x {n_p} provinces the manifest describes")
        fall_day = np.empty((n, n_p), np.int16)
        fall_how = np.empty((n, n_p), np.int8)
        run_seed = np.empty(n, np.int64)
        how_names = pa.array(list(FALL_HOW_NAMES.values()), type=pa.string())
        how_codes = np.array(list(FALL_HOW_NAMES), np.int8)
        names = pa.array(world.names, type=pa.string())
        row = 0
        for batch in pf.iter_batches(batch_size=n_p * ROWS_PER_GROUP_RUNS):
            k = batch.num_rows // n_p
            if batch.num_rows % n_p:
                raise ResultProblem(f"{path}: a row group does not hold whole runs")
            runs = slice(row // n_p, row // n_p + k)
            ids = batch.column("run_id").to_numpy().reshape(k, n_p)
            if not (ids == np.arange(runs.start, runs.stop)[:, None]).all():
                raise ResultProblem(f"{path}: rows are not in run order (run_id); the table was altered")
            prov = batch.column("province")
            if not prov.equals(pa.concat_arrays([names] * k) if k else prov):
                raise ResultProblem(f"{path}: provinces are not in the order of the data files; the table was altered")
            seeds = batch.column("seed").to_numpy().reshape(k, n_p)
            if not (seeds == seeds[:, :1]).all():
                raise ResultProblem(f"{path}: a run has more than one seed; the table was altered")
            run_seed[runs] = seeds[:, 0]
            try:
                days, held = timestamp_days(batch.column("fell_on"))
            except ValueError as exc:
                raise ResultProblem(f"{path}: fell_on: {exc}; the table was altered") from None
            fall_day[runs] = np.where(held, NOT_FALLEN, days).reshape(k, n_p)
            how = pc.index_in(batch.column("fall_how"), value_set=how_names)
            if how.null_count:
                raise ResultProblem(f"{path}: a fall_how is not one of {how_names.to_pylist()}")
            fall_how[runs] = how_codes[how.to_numpy()].reshape(k, n_p)
            row += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        raise ResultProblem(f"{path}: cannot be read ({exc})") from None
    from .params import Params, ParamsError

    try:
        params = Params.from_dict(meta["params"])
    except (ParamsError, KeyError, TypeError) as exc:
        raise ResultProblem(f"{folder / 'manifest.json'}: {exc}") from None
    result = EnsembleResult(
        names=world.names, params=params, seed=meta["seed"],
        start_day=(dt.date.fromisoformat(meta["start"]) - DAY0).days,
        end_day=(dt.date.fromisoformat(meta["end"]) - DAY0).days, chunk_size=meta["chunk_size"],
        run_seed=run_seed, fall_day=fall_day, fall_how=fall_how,
        held_count=np.zeros((n, 0), dtype=np.int16), district_share=np.zeros((n, 0), dtype=np.float32))
    return meta, result


def read_result(folder: Path, world: World) -> tuple[dict, EnsembleResult] | None:
    """load_run, or None where the folder holds no trustworthy run."""
    try:
        return load_run(folder, world)
    except ResultProblem:
        return None


# ----------------------------------------------------------------------------------------------------- sweeps
#
# results/<sweep>/ holds points.parquet and manifest.json (written once, before any point runs, the manifest last),
# and two datasets, runs.parquet/ and fall_days.parquet/, each a folder of part files that pyarrow and pandas read
# as one table. Every flush of finished points writes one part to each, under the same name: first fall_days,
# then runs, each atomically. A point counts as stored once its runs part exists; a fall_days part without its
# runs part (a kill between the two renames) is removed when the sweep starts again. When every point is stored,
# the manifest is rewritten with complete = true and the checksum of every part.

RUNS, FALLS = "runs.parquet", "fall_days.parquet"


def _atomic_parquet(table: pa.Table, path: Path) -> None:
    with folders.atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def prepare_sweep_folder(out: Path, sweep, kind: str = "sweep", force: bool = False, world: World | None = None) -> None:
    """Create the folder with its points and manifest, or check that it holds this very sweep (same file, same
    data) to resume. Call with the folder's writer lock held (folders.writer_lock)."""
    from .world import default_world

    out = Path(out)
    world = world or default_world()
    exists = folders.check_target(out, kind, force)
    meta = folders.read_manifest(out) if exists else None
    if meta is not None:
        same = (meta["kind"] == kind and meta.get("sweep_text") == sweep.text
                and meta.get("data_sha256") == data_checksums(world))
        if not same and not force:
            what = "data files" if meta.get("sweep_text") == sweep.text else f"{kind} definition"
            raise folders.FolderError(f"--out {out}: holds the results of a different {what}; use another --out "
                                      "folder, or --force to replace them")
        if not same:
            folders.clear_folder(out)
            meta = None
    elif exists:
        folders.clear_folder(out)  # an empty folder, or another kind replaced with --force
    if meta is None:
        out.mkdir(parents=True, exist_ok=True)
        _atomic_parquet(points_table(sweep), out / "points.parquet")
        write_json(out / "manifest.json", {
            **stamp(kind), "name": sweep.name, "sweep_file": sweep.path, "sweep_text": sweep.text,
            "root_seed": sweep.seed,
            "seeding": "point k: np.random.SeedSequence(root_seed).spawn(n_points)[k]; its replicates run "
                       "in chunks of 1000 seeded as in ensemble.chunk_seeds(point seed)",
            "design": sweep.method, "parameters": list(sweep.parameters), "n_points": len(sweep.points),
            "replicates": sweep.replicates, "base_scenario": sweep.scenario.name,
            "base_scenario_text": sweep.scenario.text, "base_params": sweep.scenario.params.to_dict(),
            "data_dir": str(world.record.data_dir), "data_sha256": data_checksums(world),
            "points_sha256": sha256(out / "points.parquet"), "complete": False,
        })
    for name in (RUNS, FALLS):
        (out / name).mkdir(exist_ok=True)
    # A kill between the two renames of a flush leaves a fall_days part without its runs part: drop it.
    runs = {p.name for p in (out / RUNS).glob("part-*.parquet")}
    for p in (out / FALLS).glob("part-*.parquet"):
        if p.name not in runs:
            p.unlink()


def points_table(sweep) -> pa.Table:
    """points.parquet: one row per sweep point, its seed and the value of each swept parameter, described."""
    from .params import Params

    spec = Params.spec()
    fields = [POINT_ID_FIELD, described(
        "seed", pa.int64(), "the point's seed: np.random.SeedSequence(root_seed).spawn(n_points)[point_id] as an "
                            "integer; its replicates run in chunks of 1000 seeded by sim.ensemble.chunk_seeds(seed, "
                            "replicates), the seeds in runs.parquet")]
    columns = [list(range(len(sweep.points))), list(sweep.point_seeds)]
    for name in sweep.parameters:
        values = pa.array([p[name] for p in sweep.points])
        fields.append(described(name, values.type, f"the parameter {name} ({spec[name]['unit']}); `python run.py "
                                                    "params` gives its bounds and source"))
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _run_fields() -> list[pa.Field]:
    """runs.parquet's columns after run_id, point_id and seed: the per-run metrics (sweep.RUN_METRICS), described."""
    from .sweep import RUN_METRICS

    about = {
        "tau_b": "Kendall tau-b between the run's fall days and the observed ones (the capitals scored)",
        "spearman": "Spearman rank correlation between the run's fall days and the observed ones",
        "mae_days": "mean absolute error of the fall days, in days (a capital that held counts as the day after "
                    "the end)",
        "curve_error": "mean absolute difference, in capitals, between the run's and the observed count of capitals "
                       "held, over the days of the run",
        "kabul_error_days": "Kabul's simulated minus observed fall day, in days (NaN where Kabul is not scored)",
        "kabul_fall_day": f"Kabul's fall day, {DAY_INDEX_NOTE}; the day after the run's end where it held "
                          "(kabul_fell_on gives the date)",
        "held_aug31": "capitals government-held at the end of 31 August 2021",
        "fallen_by_aug15": "capitals fallen by the end of 15 August 2021",
    }
    return [described(m, pa.float64(), about.get(m, m)) for m in RUN_METRICS]


def runs_schema() -> pa.Schema:
    return pa.schema([RUN_ID_FIELD, POINT_ID_FIELD, SEED_FIELD, *_run_fields(),
                      described("kabul_fell_on", DATE_TYPE, "the day Kabul fell (midnight, no time zone), the date of "
                                                            "kabul_fall_day; null where it held")],
                     metadata={"description": "one row per run of the sweep: its point, seed and metrics",
                               "day0": DAY0.isoformat()})


def sweep_fall_days_schema() -> pa.Schema:
    """fall_days.parquet/ in a sweep: FALL_DAYS_SCHEMA with point_id after run_id."""
    return FALL_DAYS_SCHEMA.insert(1, POINT_ID_FIELD)


def stored_point_ids(out: Path) -> set[int]:
    parts = sorted((Path(out) / RUNS).glob("part-*.parquet"))
    ids: set[int] = set()
    for p in parts:
        ids.update(pq.read_table(p, columns=["point_id"]).column("point_id").unique().to_pylist())
    return ids


def append_sweep_part(out: Path, sweep, results: list[dict], names=None) -> None:
    """Write one flush of finished points: a fall_days part, then the runs part of the same name."""
    from .sweep import RUN_METRICS, part_name
    from .world import day_index

    out = Path(out)
    names = names if names is not None else _province_names()
    name = part_name()
    runs_cols: dict[str, list] = {"run_id": [], "point_id": [], "seed": []}
    for m in RUN_METRICS:
        runs_cols[m] = []
    fall_tables = []
    for r in results:
        n = r["fall_day"].shape[0]
        run_ids = r["point_id"] * sweep.replicates + np.arange(n)
        runs_cols["run_id"].append(run_ids)
        runs_cols["point_id"].append(np.full(n, r["point_id"]))
        runs_cols["seed"].append(r["run_seed"])
        for m in RUN_METRICS:
            runs_cols[m].append(r["metrics"][m])
        block = _fall_days_block(run_ids, r["run_seed"], names, r["fall_day"], r["fall_how"])
        fall_tables.append(block.add_column(1, POINT_ID_FIELD, pa.array(np.full(block.num_rows, r["point_id"]))))
    _atomic_parquet(pa.concat_tables(fall_tables).cast(sweep_fall_days_schema()), out / FALLS / name)
    columns = {k: np.concatenate(v) for k, v in runs_cols.items()}
    kabul = columns["kabul_fall_day"]
    columns["kabul_fell_on"] = day_timestamps(np.nan_to_num(kabul).astype(np.int64),
                                              ~(kabul <= day_index(sweep.scenario.end)))
    _atomic_parquet(pa.table(columns, schema=runs_schema()), out / RUNS / name)


def _province_names():
    from .world import default_world

    return default_world().names


def write_failures(out: Path, failed: dict) -> None:
    path = Path(out) / "failed.json"
    if failed:
        write_json(path, {str(k): v for k, v in sorted(failed.items())})
    elif path.exists():
        path.unlink()  # a restart that succeeded where a point had failed


def _parts(out: Path) -> dict[str, Path]:
    return {f"{d}/{p.name}": p for d in (RUNS, FALLS) for p in sorted((Path(out) / d).glob("part-*.parquet"))}


def finish_sweep(out: Path, n_points: int) -> bool:
    """Mark the sweep complete in its manifest, with every part's checksum, if every point is stored."""
    out = Path(out)
    if len(stored_point_ids(out)) != n_points or (out / "failed.json").exists():
        return False
    meta = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    meta.update(complete=True, finished_utc=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                parts_sha256={k: sha256(p) for k, p in _parts(out).items()})
    write_json(out / "manifest.json", meta)
    return True


def sweep_status(out: Path) -> dict:
    """{'n_points', 'stored', 'complete'} of a sweep folder; 'note' says 'incomplete: k of n points' if so."""
    meta = folders.read_manifest(out) or {}
    n = int(meta.get("n_points", 0))
    stored = len(stored_point_ids(out)) if (Path(out) / RUNS).is_dir() else 0
    complete = bool(meta.get("complete", stored == n and n > 0))
    note = "" if complete and stored == n else f"incomplete: {stored:,} of {n:,} points"
    return {"n_points": n, "stored": stored, "complete": complete and stored == n, "note": note}


def verify_sweep(out: Path) -> dict:
    """The manifest of a sweep folder, checked: ours, its points as written, and, for a finished sweep, every
    part as written and no other. Raises ResultProblem with the reason."""
    out = Path(out)
    meta = folders.read_manifest(out)
    if meta is None or meta["kind"] not in ("sweep", "sensitivity"):
        raise ResultProblem(f"{out}: not a sweep folder written by this project")
    if not (out / "points.parquet").is_file() or not (out / RUNS).is_dir():
        raise ResultProblem(f"{out}: points.parquet or runs.parquet/ is missing")
    if "points_sha256" in meta and sha256(out / "points.parquet") != meta["points_sha256"]:
        raise ResultProblem(f"{out / 'points.parquet'}: changed since it was written (checksum differs)")
    if meta.get("complete"):
        expected, found = meta.get("parts_sha256", {}), _parts(out)
        if set(found) != set(expected):
            extra = sorted(set(found) ^ set(expected))
            raise ResultProblem(f"{out}: parts added or removed since the sweep finished ({extra[0]}, ...)")
        for k, p in found.items():
            if sha256(p) != expected[k]:
                raise ResultProblem(f"{p}: changed since it was written (checksum differs)")
    try:
        runs = pq.read_table(out / RUNS, columns=["run_id", "point_id"])
    except (OSError, pa.ArrowException) as exc:
        raise ResultProblem(f"{out / RUNS}: cannot be read ({exc})") from None
    ids = runs.column("run_id").to_numpy()
    points = runs.column("point_id").to_numpy()
    if len(np.unique(ids)) != len(ids):
        raise ResultProblem(f"{out / RUNS}: a run is stored more than once")
    if len(points) and (points.min() < 0 or points.max() >= int(meta.get("n_points", 0))
                        or not (ids // int(meta["replicates"]) == points).all()):
        raise ResultProblem(f"{out / RUNS}: run and point ids do not match the manifest")
    return meta


def read_sweep(out: Path):
    """(points, runs) as pyarrow tables."""
    out = Path(out)
    return pq.read_table(out / "points.parquet"), pq.read_table(out / RUNS)
