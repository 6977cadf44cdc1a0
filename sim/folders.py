"""Results folders that never lose a user's data: ownership, one writer at a time, atomic files and swaps.

Rules every command that writes follows (see README, "Your files are safe"):

- **Only our own folders.** A folder is replaced or added to only when it is absent, empty, or holds a
  `manifest.json` that this project wrote (`written_by`) for the same kind of result (a run, a sweep, ...). Another
  kind is replaced only with `--force`; a folder holding anything else (a user's files, a file or device where
  a folder should be, a symbolic link) is never touched, `--force` or not.
- **One writer.** A writer holds an exclusive `flock` on a lock file beside the folder (`.NAME.lock`) for its
  whole life, so a second writer refuses at once. The kernel drops the lock when the process dies, even by
  SIGKILL, so a stale lock never blocks anyone.
- **Atomic.** A file is written under a temporary name in its own folder and renamed over the target. A whole
  folder (a scenario run) is built beside the target and swapped in with one `renameat2(RENAME_EXCHANGE)` on
  Linux; elsewhere with two renames that `recover` completes or undoes on the next start.
- **Tidy.** Temporaries carry the target's name; whoever next holds the target's lock removes the stale ones
  (no live writer can own them then), so a kill leaks nothing for long.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import errno
import fnmatch
import json
import os
import re
import secrets
import shutil
import socket
import sys
from contextlib import contextmanager
from pathlib import Path

OWNER = "afghan2021-abm"  # manifest["written_by"] of every folder this project writes

# What this project writes in each kind of folder (glob patterns, relative paths). Only these are ever removed,
# and a folder holding anything else is not ours to replace.
_PLOTS_RUN = ["fall_days.png", "fall_days.svg", "held.svg", "map_median.png", "map_median.svg", "map_p15.png",
              "map_p15.svg", "map_control_by_date.png", "map_control_by_date.svg", "metrics.png", "metrics.svg",
              "report.html"]
_SWEEP = ["points.parquet", "runs.parquet", "runs.parquet/part-*.parquet", "fall_days.parquet",
          "fall_days.parquet/part-*.parquet", "failed.json", "sweep_response.png", "sweep_response.svg",
          "sweep_heatmap_*.png", "sweep_heatmap_*.svg", "sweep_tradeoff.png", "sweep_tradeoff.svg", "report.html"]
OWNED = {
    "run": ["manifest.json", "fall_days.parquet", "metrics.json", "held.png", *_PLOTS_RUN],
    "sweep": ["manifest.json", *_SWEEP],
    "sensitivity": ["manifest.json", *_SWEEP, "indices.csv", "indices.png", "indices.svg"],
    "calibration": ["manifest.json", "study.db", "study.db-journal", "study.db-wal", "study.db-shm",
                    "calibrated.toml", "calibration.json", "abc_samples.parquet", "abc.png", "abc.svg",
                    "abc_marginals.png", "abc_marginals.svg", "abc_pairs.png", "abc_pairs.svg", "calibration_loss.png",
                    "calibration_loss.svg", "report.html"],
    "comparison": ["manifest.json", "comparison.png", "comparison.svg", "report.html", "compare.txt", "comparison.csv",
                   "per_run.parquet"],
    "validation": ["manifest.json", "study.db", "study.db-journal", "study.db-wal", "study.db-shm", "cutoffs",
                   "cutoffs/*.json", "cutoffs/*.npz", "validation.json", "validation.csv", "validation.png", "validation.svg",
                   "report.html"],
}
KIND_NAMES = {"run": "a scenario run", "sweep": "a sweep", "sensitivity": "a sensitivity analysis",
              "calibration": "a calibration", "comparison": "a comparison of runs",
              "validation": "a rolling-origin validation"}


class FolderError(Exception):
    """A results folder cannot be used as asked: reported in one line, exit code 2, nothing changed."""


class FolderBusy(FolderError):
    """Another process is writing the folder."""


# ------------------------------------------------------------------------------------------------- ownership


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and (".tmp-" in name or name.endswith(".lock"))


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest.json if this project wrote it (today's or an earlier version's), else None."""
    try:
        meta = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("written_by") == OWNER and meta.get("kind") in OWNED:
        return meta
    # Folders written before manifests carried written_by/kind: recognise them by their keys.
    if {"git_commit", "packages", "data_sha256"} <= set(meta):
        if "sweep_text" in meta:
            kind = "sensitivity" if str(meta.get("name", "")).startswith("sensitivity-") else "sweep"
            return {**meta, "kind": kind, "legacy": True}
        if "n_runs" in meta and "params" in meta:
            return {**meta, "kind": "run", "legacy": True}
    return None


def folder_kind(folder: Path) -> str | None:
    """The kind of result a folder holds, None if it is not (or not yet) one of ours."""
    meta = read_manifest(folder)
    if meta is not None:
        return meta["kind"]
    folder = Path(folder)
    # A calibration from before calibrations had a manifest: study.db and the files it writes, nothing else.
    if (folder / "study.db").is_file() and not foreign_files(folder, "calibration"):
        return "calibration"
    return None


def _files(folder: Path) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            out.append(str(rel / name) if str(rel) != "." else name)
    return sorted(out)


def foreign_files(folder: Path, kind: str) -> list[str]:
    """Files in the folder that this project does not write for `kind` (a user's notes, say)."""
    patterns = OWNED[kind]
    return [f for f in _files(Path(folder)) if not _is_temporary(Path(f).name)
            and not any(fnmatch.fnmatchcase(f, p) for p in patterns)]


def check_target(target: Path, kind: str, force: bool = False, what: str = "--out") -> bool:
    """Refuse (FolderError) unless `target` may receive a result of `kind`. Returns True if it exists already.

    Allowed: an absent path, an empty folder, or a folder of ours of the same kind (another kind with force),
    which holds nothing but what this project writes there."""
    target = _named(target)
    if os.path.islink(target):
        raise FolderError(f"{what} {target}: is a symbolic link; give the folder itself. Nothing was changed")
    if not os.path.lexists(target):
        return False
    if not target.is_dir():
        raise FolderError(f"{what} {target}: is not a folder (a file or a device); it is left untouched. "
                          "Give a new or a results folder")
    entries = [e for e in os.listdir(target) if not _is_temporary(e)]
    if not entries:
        return True
    found = folder_kind(target)
    if found is None:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise FolderError(f"{what} {target}: holds files this project did not write ({shown}); it is left "
                          "untouched. Give a new folder or one that an earlier run of this command wrote")
    if found != kind and not force:
        raise FolderError(f"{what} {target}: holds the results of {KIND_NAMES[found]}, not of "
                          f"{KIND_NAMES[kind]}; use another folder, or --force to replace them")
    foreign = foreign_files(target, found)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise FolderError(f"{what} {target}: besides its results, holds files this project did not write "
                          f"({shown}); move them elsewhere first. Nothing was changed")
    return True


def same_definition(out: Path, kind: str, meta: dict | None, wanted: dict, force: bool) -> bool:
    """True if the folder's manifest (meta) holds a `kind` whose recorded definition is exactly `wanted`, so its
    work may be resumed; False if there is nothing of that kind to resume. Another definition is refused (one line
    naming the keys that differ) unless force, which lets the caller replace it."""
    if meta is None or meta.get("kind") != kind:
        return False
    stored = meta.get("definition") or {}
    differs = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if not differs:
        return True
    if not force:
        raise FolderError(f"--out {out}: holds a {kind} with another {', '.join(differs)}; use another --out "
                          "folder, or --force to replace it")
    return False


def clear_folder(folder: Path) -> None:
    """Remove the results of the kind the folder holds (after check_target): only files this project writes."""
    folder = Path(folder)
    kind = folder_kind(folder)
    if kind is None:
        if any(not _is_temporary(e) for e in os.listdir(folder)):
            raise FolderError(f"{folder}: not a results folder of this project; it is left untouched")
        return
    patterns = OWNED[kind]
    for f in _files(folder):
        if any(fnmatch.fnmatchcase(f, p) for p in patterns) or _is_temporary(Path(f).name):
            (folder / f).unlink()
    for root, dirs, _ in sorted(os.walk(folder), key=lambda t: -len(t[0])):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass


# ------------------------------------------------------------------------------------------------- the lock


def _named(target: Path) -> Path:
    """The absolute path of a results folder, refusing the file system's root (which has no name)."""
    target = Path(os.path.abspath(target))
    if not target.name:
        raise FolderError(f"--out {target}: the root folder cannot be a results folder; give a folder inside it")
    return target



def _describe_holder(text: str) -> str:
    try:
        info = json.loads(text)
        return f"pid {info['pid']} on {info['host']}, `{info['command']}`, since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "another process"


_HELD: set[str] = set()  # lock files this process holds


@contextmanager
def writer_lock(target: Path, command: str | None = None):
    """Hold the exclusive writer's lock of `target` (a results folder) for the duration; refuse at once if
    another process holds it. Stale temporaries of the target are removed once the lock is held."""
    target = _named(target)
    created = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    import fcntl

    path = target.parent / f".{target.name}.lock"
    key = os.path.realpath(path)
    if key in _HELD:  # already ours (a command that runs a sweep, then writes beside it)
        yield target
        return
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 4096).decode("utf-8", "replace")
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderBusy(f"{target}: is being written by {_describe_holder(holder)}; wait for it to "
                                 "finish or use another output folder") from None
            raise
        # The holder before us may have removed the lock file after we opened it: lock the file at the path.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": command or " ".join(["run.py", *sys.argv[1:]])[:300],
                                 "since": dt.datetime.now().isoformat(timespec="seconds")}).encode())
        _HELD.add(key)
        recover(target)
        yield target
    finally:
        _HELD.discard(key)
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
        if not os.path.lexists(target):  # refused or failed: leave no empty folders on the way to it either
            for p in created:
                try:
                    p.rmdir()
                except OSError:
                    break


# ------------------------------------------------------------------------------------------------- atomic files


def _tmp_name(name: str) -> str:
    return f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; once the block has written it, it replaces `path` in one rename.
    On any error (a full disk, a file-size limit, an interrupt) the temporary is removed and `path` is as it was."""
    path = Path(path)
    tmp = path.with_name(_tmp_name(path.name))
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def save_figure(fig, path: Path, **kwargs) -> Path:
    """fig.savefig to `path`, atomically (the format comes from the suffix)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)
    return path


# ------------------------------------------------------------------------------------------------- folder swaps

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2). False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _complete(folder: Path) -> bool:
    return read_manifest(folder) is not None


def recover(target: Path) -> None:
    """Finish or undo what a killed writer of `target` left (call with the target's lock held): a complete new
    folder that never got swapped in is moved into place, a set-aside old one is restored or removed, and
    unfinished temporaries are removed."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return
    pattern = re.compile(r"\." + re.escape(target.name) + r"\.(tmp|old)-\d+-[0-9a-f]{8}")
    found = {"tmp": [], "old": []}
    for p in sorted(parent.iterdir()):
        m = pattern.fullmatch(p.name)
        if m:
            found[m.group(1)].append(p)
    for p in found["tmp"]:  # first the new folders ...
        if p.is_dir() and not os.path.lexists(target) and _complete(p):
            os.rename(p, target)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    for p in found["old"]:  # ... then the old ones, restored only if nothing took their place
        if not os.path.lexists(target):
            os.rename(p, target)
        else:
            _remove_ours(p, target)
    # Temporary files of atomic writes inside one of our folders (figures, parts, manifests).
    if target.is_dir() and not target.is_symlink() and folder_kind(target) is not None:
        for root, _, files in os.walk(target):
            for f in files:
                if f.startswith(".") and ".tmp-" in f:
                    os.unlink(os.path.join(root, f))


def _remove_ours(folder: Path, target: Path) -> None:
    """Remove a set-aside results folder: what we wrote goes; anything else is kept, beside the target under a
    visible name, so nothing a user put there is lost."""
    try:
        clear_folder(folder)
    except FolderError:
        pass
    try:
        folder.rmdir()
    except OSError:
        kept = target.with_name(f"{target.name}.kept-{dt.datetime.now():%Y%m%d-%H%M%S}")
        os.rename(folder, kept)
        print(f"warning: the replaced folder held files that are not results; they are kept in {kept}",
              file=sys.stderr)


@contextmanager
def new_folder(target: Path):
    """Yield an empty temporary folder beside `target`; when the block ends without error it takes the place of
    `target` in one step (the old results, if any, are then removed). On error it is removed. Hold the target's
    writer_lock and call check_target first. Write manifest.json last: it marks the folder complete."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(_tmp_name(target.name))
    tmp.mkdir()
    try:
        yield tmp
        _fsync_dir(tmp)
        if not os.path.lexists(target):
            os.rename(tmp, target)
        elif _exchange(tmp, target):
            _remove_ours(tmp, target)  # now holds the old results
        else:
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.rename(target, old)
            os.rename(tmp, target)  # a kill between the two renames is completed by recover()
            _remove_ours(old, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
