"""A user's files are never lost: results folders are ours or untouched, one writer at a time, atomic writes,
stored results checked before they are trusted, partial output marked as such, no orphans, bounded work."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import REPO, run_in_process
from sim import folders, store

from test_sweep import SMALL

SMALL_SWEEP = SMALL.replace('name = "small"', 'name = "{name}"')


def cli(*args, cwd=None, limit_bytes=None, timeout=300, process=False):
    """run.py ARGS: in this process (conftest.run_in_process), or in a new one where the test needs its own
    process (a file-size limit, process=True)."""
    if limit_bytes is None and not process:
        return run_in_process(*args, cwd=cwd)

    def limit():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    # No bytecode written under a file-size limit: CPython does not check for a short write of a .pyc, and a cut
    # one breaks every later import of that module ("marshal data too short"), in this suite and after it.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"} if limit_bytes is not None else None
    return subprocess.run([sys.executable, str(REPO / "run.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, preexec_fn=limit, env=env)


def one_line_error(r, *fragments):
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)


def snapshot(root: Path) -> dict:
    """Every path under root with its content (files) or None (folders): to prove nothing changed."""
    out = {}
    for p in sorted(Path(root).rglob("*")):
        out[str(p.relative_to(root))] = p.read_bytes() if p.is_file() else None
    return out


def write_sweep(tmp_path, name="small", points=4, replicates=10):
    path = tmp_path / f"{name}.toml"
    path.write_text(SMALL_SWEEP.format(name=name, points=points, replicates=replicates))
    return path


# ----------------------------------------------------------------------------------------------- whose folders


@pytest.mark.slow
def test_out_on_a_users_folder_refuses_and_leaves_it_untouched(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("x")
    before = snapshot(tmp_path)
    r = cli("run", "baseline", "--runs", "5", "--out", mine, "--quiet")
    one_line_error(r, "holds files this project did not write (a.txt); it is left untouched")
    r = cli("run", "baseline", "--runs", "5", "--out", mine, "--quiet", "--force")
    one_line_error(r, "holds files this project did not write")
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_out_on_a_file_or_a_link_refuses_and_leaves_it_untouched(tmp_path):
    f = tmp_path / "somefile.txt"
    f.write_text("precious")
    (tmp_path / "link").symlink_to(tmp_path)
    before = snapshot(tmp_path)
    one_line_error(cli("run", "baseline", "--runs", "5", "--out", f, "--quiet", "--force"), "is not a folder")
    one_line_error(cli("sweep", write_sweep(tmp_path), "--out", f, "--workers", "1", "--quiet"), "is not a folder")
    one_line_error(cli("run", "baseline", "--runs", "5", "--out", tmp_path / "link", "--quiet"), "symbolic link")
    before["small.toml"] = (tmp_path / "small.toml").read_bytes()
    assert snapshot(tmp_path) == before


@pytest.mark.slow
def test_a_run_replaces_only_a_run_and_keeps_files_it_did_not_write(tmp_path):
    out = tmp_path / "r"
    assert cli("run", "baseline", "--runs", "5", "--out", out, "--quiet").returncode == 0
    first = (out / "manifest.json").read_text()
    assert json.loads(first)["written_by"] == folders.OWNER and json.loads(first)["kind"] == "run"
    # another run (here another run count) is refused unless asked; the same kind is then replaced
    one_line_error(cli("run", "baseline", "--runs", "6", "--out", out, "--quiet"),
                   "holds the run of `baseline` with runs 1,000 -> 5", "--force")
    assert cli("run", "baseline", "--runs", "6", "--out", out, "--quiet", "--force").returncode == 0
    assert json.loads((out / "manifest.json").read_text())["n_runs"] == 6
    (out / "notes.txt").write_text("my notes")
    one_line_error(cli("run", "baseline", "--runs", "5", "--out", out, "--quiet", "--force"),
                   "holds files this project did not write (notes.txt)")
    assert (out / "notes.txt").read_text() == "my notes"
    sweep = write_sweep(tmp_path)
    (out / "notes.txt").unlink()
    one_line_error(cli("sweep", sweep, "--out", out, "--workers", "1", "--quiet"),
                   "holds the results of a scenario run, not of a sweep", "--force")
    assert cli("sweep", sweep, "--out", out, "--workers", "1", "--quiet", "--force").returncode == 0
    assert json.loads((out / "manifest.json").read_text())["kind"] == "sweep"
    assert not (out / "metrics.json").exists() and not (out / "held.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r", "small.toml"]  # no lock or temporary left


@pytest.mark.slow
def test_path_like_scenario_names_are_refused_before_any_work(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("x")
    base = (REPO / "scenarios" / "baseline.toml").read_text()
    for k, name in enumerate(["../victim", str(victim), ".", "..", "a/b", ".hidden", "x" * 200]):
        bad = tmp_path / "work" / f"bad{k}.toml"
        bad.parent.mkdir(exist_ok=True)
        bad.write_text(base.replace('name = "baseline"', f"name = {json.dumps(name)}"))
        r = cli("run", bad, "--runs", "3", "--quiet", cwd=tmp_path / "work")
        one_line_error(r, f"bad{k}.toml: key 'name'")
    assert (victim / "keep.txt").read_text() == "x"
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == [f"bad{k}.toml" for k in range(7)]


# ----------------------------------------------------------------------------------------------- one writer


@pytest.mark.slow
def test_a_second_writer_refuses_at_once(tmp_path):
    out = tmp_path / "busy"
    with folders.writer_lock(out, command="run.py sweep test"):
        for args in (("run", "baseline", "--runs", "5"), ("sweep", write_sweep(tmp_path)),
                     ("sensitivity", "baseline", "--params", "rural_rate", "--n", "2", "--replicates", "2"),
                     ("calibrate", "baseline", "--trials", "1", "--replicates", "5", "--cv", "0")):
            t0 = time.monotonic()
            # process=True: the lock is re-entrant within a process (folders._HELD), a second process is refused
            r = cli(*args, "--out", out, "--quiet", *(("--workers", "1") if args[0] != "run" else ()), process=True)
            one_line_error(r, f"{out}: is being written by pid {os.getpid()}", "`run.py sweep test`")
            assert time.monotonic() - t0 < 30
    assert not out.exists()
    assert cli("run", "baseline", "--runs", "5", "--out", out, "--quiet").returncode == 0  # released
    with folders.writer_lock(out):
        one_line_error(cli("plot", out, process=True), "is being written by")


@pytest.mark.slow
def test_two_concurrent_sweeps_on_one_folder_never_duplicate_rows(tmp_path):
    sweep = write_sweep(tmp_path, points=30, replicates=40)
    out = tmp_path / "sw"
    cmd = [sys.executable, str(REPO / "run.py"), "sweep", str(sweep), "--out", str(out), "--workers", "1",
           "--quiet", "--flush-seconds", "0"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    refused = [err for p, (_, err) in zip(procs, results) if p.returncode == 2]
    if codes == [0, 2]:
        assert "is being written by" in refused[0]
    else:  # the second started after the first finished: it found every point stored
        assert codes == [0, 0]
    ids = pq.read_table(out / store.RUNS).column("run_id").to_numpy()
    assert len(ids) == 30 * 40 and len(np.unique(ids)) == len(ids)


@pytest.mark.slow
def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "r"
    (tmp_path / ".r.lock").write_text('{"pid": 1, "host": "x", "command": "gone", "since": "then"}')
    assert cli("run", "baseline", "--runs", "5", "--out", out, "--quiet").returncode == 0
    assert not (tmp_path / ".r.lock").exists()


# ----------------------------------------------------------------------------------------------- atomic


def test_recover_completes_or_undoes_a_swap_killed_between_its_two_renames(tmp_path, world):
    from sim.ensemble import run_ensemble

    def result_folder(path, n):
        path.mkdir()
        r = run_ensemble(n_runs=n, seed=1, world=world)
        store.write_run(path, "x", r, world, {"n": n})

    target = tmp_path / "res"
    # Killed after the old folder was set aside and before the new one moved in: the new one is completed.
    result_folder(tmp_path / ".res.old-11-0123abcd", 3)
    result_folder(tmp_path / ".res.tmp-11-89abcdef", 4)
    folders.recover(target)
    assert json.loads((target / "manifest.json").read_text())["n_runs"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    # Killed while the new folder was still being written: it is dropped and the old one restored.
    os.rename(target, tmp_path / ".res.old-12-0123abcd")
    (tmp_path / ".res.tmp-12-89abcdef").mkdir()
    (tmp_path / ".res.tmp-12-89abcdef" / "fall_days.parquet").write_bytes(b"half")
    folders.recover(target)
    assert json.loads((target / "manifest.json").read_text())["n_runs"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    # A folder of the same prefix that belongs to another target is not touched.
    (tmp_path / ".res.tmp-1.tmp-13-0123abcd").mkdir()
    folders.recover(target)
    assert (tmp_path / ".res.tmp-1.tmp-13-0123abcd").exists()


@pytest.mark.slow
def test_the_swap_is_one_step_and_stale_temporaries_are_removed(tmp_path):
    out = tmp_path / "r"
    assert cli("run", "baseline", "--runs", "5", "--out", out, "--quiet").returncode == 0
    (tmp_path / ".r.tmp-999999-deadbeef").mkdir()  # left by a killed writer
    (out / ".held.png.tmp-999999-deadbeef").write_bytes(b"x")
    assert cli("run", "baseline", "--runs", "6", "--out", out, "--quiet", "--force").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert not any(p.name.startswith(".") for p in out.iterdir())


def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("in a")
    (b / "y").write_text("in b")
    if not folders._exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here: the two-rename fallback is used")
    assert [p.name for p in a.iterdir()] == ["y"] and [p.name for p in b.iterdir()] == ["x"]


@pytest.mark.slow
@pytest.mark.parametrize("limit", [3_000, 60_000])
def test_a_file_size_limit_leaves_no_partial_output(tmp_path, limit):
    out = tmp_path / "r"
    assert cli("run", "baseline", "--runs", "20", "--out", out, "--quiet").returncode == 0
    before = snapshot(tmp_path)
    r = cli("run", "baseline", "--runs", "300", "--out", out, "--quiet", "--force", limit_bytes=limit)
    assert r.returncode == 1 and "cannot write the results" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert snapshot(tmp_path) == before  # the earlier results, whole; no temporary left
    r = cli("plot", out, limit_bytes=limit)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (out / "report.html").exists() or (out / "report.html").read_text().rstrip().endswith("</html>")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------------------------- trust


def _twin(tmp_path, name):
    text = (REPO / "scenarios" / "baseline.toml").read_text().replace('name = "baseline"', f'name = "{name}"')
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_compare_reuses_only_the_very_same_run(tmp_path):
    stored = tmp_path / "stored"
    a, b = _twin(tmp_path, "twin-a"), _twin(tmp_path, "twin-b")
    # A run of twin-a with another chunk size: other random numbers, so it must not be reused.
    assert cli("run", a, "--runs", "60", "--seed", "4", "--chunk-size", "7", "--out", stored / "twin-a",
               "--quiet").returncode == 0
    r = cli("compare", a, b, "--runs", "60", "--seed", "4", "--results", stored)
    assert r.returncode == 0, r.stderr
    assert "not reusing" in r.stderr and "chunk_size" in r.stderr
    assert "+0.0 +- 0.0" in r.stdout and "+0.00 +- 0.00" in r.stdout  # identical twins: no difference at all


@pytest.mark.slow
def test_a_swapped_or_shuffled_table_is_detected_by_compare_and_plot(tmp_path):
    import hashlib

    stored = tmp_path / "stored"
    a = _twin(tmp_path, "twin-a")
    out = stored / "twin-a"
    assert cli("run", a, "--runs", "30", "--seed", "4", "--out", out, "--quiet").returncode == 0
    other = tmp_path / "other"
    assert cli("run", "no-cascade", "--runs", "30", "--seed", "4", "--out", other, "--quiet").returncode == 0
    # 1. the table of another scenario copied in
    (out / "fall_days.parquet").write_bytes((other / "fall_days.parquet").read_bytes())
    r = cli("plot", out)
    one_line_error(r, "fall_days.parquet: changed since it was written")
    assert not (out / "report.html").exists()
    r = cli("compare", a, "no-cascade", "--runs", "30", "--seed", "4", "--results", stored)
    assert r.returncode == 0 and "not reusing" in r.stderr and "changed since it was written" in r.stderr
    # 2. the rows shuffled, and the checksum in the manifest patched to match
    assert cli("run", a, "--runs", "30", "--seed", "4", "--out", out, "--quiet").returncode == 0
    t = pq.read_table(out / "fall_days.parquet")
    pq.write_table(t.take(np.random.default_rng(0).permutation(t.num_rows)), out / "fall_days.parquet")
    meta = json.loads((out / "manifest.json").read_text())
    meta["files_sha256"]["fall_days.parquet"] = hashlib.sha256((out / "fall_days.parquet").read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(meta))
    one_line_error(cli("plot", out), "rows are not in run order")


@pytest.mark.slow
def test_plot_refuses_what_it_cannot_trust(tmp_path):
    out = tmp_path / "r"
    assert cli("run", "baseline", "--runs", "5", "--out", out, "--quiet").returncode == 0
    (out / "metrics.json").write_text("{not json")
    one_line_error(cli("plot", out), "metrics.json: changed since it was written")
    (tmp_path / "plain").mkdir()
    one_line_error(cli("plot", tmp_path / "plain"), "not a results folder of this project")
    one_line_error(cli("plot", tmp_path / "nowhere"), "no such results folder")


# ----------------------------------------------------------------------------------------------- partial output


@pytest.mark.slow
def test_an_interrupted_sweep_keeps_what_finished_and_says_it_is_incomplete(tmp_path, world):
    from sim.sweep import InlineExecutor, SweepInterrupted, parse_sweep, run_point, run_sweep, summary

    sweep = parse_sweep(SMALL_SWEEP.format(name="s", points=6, replicates=10), "s.toml", world)

    def interrupted_at_4(task):
        if task[0] == 4:
            raise KeyboardInterrupt
        return run_point(task)

    out = tmp_path / "s"
    with pytest.raises(SweepInterrupted) as info:
        run_sweep(sweep, out, InlineExecutor(), progress=False, point_fn=interrupted_at_4, flush_seconds=1e9)
    assert info.value.stored == 4 and "4 of 6 points are stored" in str(info.value)
    assert store.sweep_status(out)["note"] == "incomplete: 4 of 6 points"
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    assert summary(out, sweep).startswith("incomplete: 4 of 6 points")
    r = cli("plot", out)
    assert r.returncode == 0 and "(incomplete: 4 of 6 points)" in r.stdout, r.stderr
    assert "Incomplete: 4 of 6 points" in (out / "report.html").read_text()
    outcome = run_sweep(sweep, out, InlineExecutor(), progress=False)
    assert outcome.n_skipped == 4 and outcome.complete
    meta = json.loads((out / "manifest.json").read_text())
    assert meta["complete"] is True and len(meta["parts_sha256"]) == 4
    assert store.sweep_status(out)["note"] == ""
    (out / store.RUNS / "part-extra.parquet").write_bytes((out / "points.parquet").read_bytes())
    one_line_error(cli("plot", out), "parts added or removed since the sweep finished")


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("command", ["sweep", "calibrate"])
def test_sigkill_leaves_no_live_worker(tmp_path, command):
    args = (["sweep", str(write_sweep(tmp_path, points=200, replicates=200))] if command == "sweep" else
            ["calibrate", "baseline", "--trials", "400", "--replicates", "200", "--cv", "0"])
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), *args, "--out", str(tmp_path / "out"),
                             "--workers", "2", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    kids: list[int] = []
    while time.time() < deadline and len(kids) < 3:  # two workers and the resource tracker
        time.sleep(0.3)
        kids = _children(proc.pid)
    assert len(kids) >= 2, kids
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.2)
    assert not [k for k in kids if _alive(k)]


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_stop_a_sweep_at_once_and_say_what_is_stored(tmp_path, sig, code, word):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "sweep", str(write_sweep(tmp_path, points=300,
                                                                                           replicates=200)),
                             "--out", str(out), "--workers", "2", "--quiet", "--flush-seconds", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / store.RUNS).glob("part-*"))) < 2:
        time.sleep(0.2)
    t0 = time.monotonic()
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # as Ctrl-C does: the whole process group
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 10
    stored = len(store.stored_point_ids(out))
    assert proc.returncode == code and err.strip().splitlines()[-1] == (
        f"{word}: {stored} of 300 points are stored in {out}; run the same command again to finish the others")
    assert 0 < stored < 300


def test_a_worker_killed_halfway_through_sending_a_result_does_not_hang_the_exit():
    """What a worker killed mid-send leaves: the length of a result and only part of it. CPython's manager thread
    then waits for the rest for ever, and the interpreter joins it at exit (a Ctrl-C'd sweep that never exited,
    about 1 in 10 on a loaded machine); stopping the pool must let it end."""
    import multiprocessing
    import struct
    from concurrent.futures import ProcessPoolExecutor

    from sim.executors import _kill_pool

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    assert pool.submit(int, "7").result() == 7  # the worker and the manager thread are up
    manager, results = pool._executor_manager_thread, pool._result_queue
    os.write(results._writer.fileno(), struct.pack("!i", 1000) + b"x" * 10)
    time.sleep(0.5)
    assert manager.is_alive()
    try:
        _kill_pool(pool)
        assert not manager.is_alive()
    finally:
        if manager.is_alive():  # the fix failed: free the thread anyway, or this test process could not exit
            results._writer.close()


# ----------------------------------------------------------------------------------------------- bounded work


def test_work_beyond_the_machine_is_refused_before_it_starts(tmp_path):
    one_line_error(cli("run", "baseline", "--runs", "1000000000000", "--out", tmp_path / "r"), "at most 10,000,000")
    r = cli("run", "baseline", "--runs", "10000000", "--out", tmp_path / "r")
    one_line_error(r, "10,000,000 runs would take about", "add --yes")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, fragment", [
    (["run", "baseline", "--seed", "-1"], "a seed is a whole number from 0 to 2^63 - 1"),
    (["run", "baseline", "--seed", str(2**70)], "a seed is a whole number from 0 to 2^63 - 1"),
    (["compare", "baseline", "no-cascade", "--seed", "-1"], "a seed is a whole number"),
    (["sensitivity", "baseline", "--seed", "-1"], "a seed is a whole number"),
    (["calibrate", "baseline", "--seed", str(2**64)], "a seed is a whole number"),
    (["calibrate", "baseline", "--abc", "-5"], "must be 0 or more, got -5"),
    (["calibrate", "baseline", "--cv", "-3"], "must be 0 or more, got -3"),
    (["calibrate", "baseline", "--cv", "1", "--out", "{tmp}/c"], "--cv 1: allowed 0 (no cross-validation) or 2 to 34"),
    (["calibrate", "baseline", "--cv", "100", "--out", "{tmp}/c"], "--cv 100: allowed 0"),
    (["calibrate", "baseline", "--abc-accept", "nan"], "allowed strictly between 0 and 1"),
    (["sweep", "north-and-cascade", "--scheduler", "garbage", "--out", "{tmp}/s"], "--scheduler 'garbage': allowed"),
    (["sweep", "north-and-cascade", "--flush-seconds", "nan"], "allowed 0 to 3600 seconds"),
    (["sweep", "north-and-cascade", "--flush-seconds", "-5"], "allowed 0 to 3600 seconds"),
    (["sweep", "north-and-cascade", "--flush-seconds", "inf"], "allowed 0 to 3600 seconds"),
    (["app", "--port", "70000"], "at most 65,535"),
    (["--engine", "mesa", "sweep", "north-and-cascade"], "unrecognized arguments: --engine mesa"),
    (["run", "baseline", "--runs", "0"], "--runs: must be at least 1"),
])
def test_bad_options_give_one_line(tmp_path, args, fragment):
    one_line_error(cli(*[a.replace("{tmp}", str(tmp_path)) for a in args]), fragment)
    assert not [p for p in tmp_path.iterdir()]


@pytest.mark.slow
def test_options_before_the_command_apply_to_it(tmp_path):
    r = cli("--runs", "5", "--seed", "3", "compare", "baseline", "no-cascade", "--rerun", "--quiet")
    assert r.returncode == 0 and "5 runs each, seed 3" in r.stdout, r.stderr
    out = tmp_path / "elsewhere"
    r = cli("--out", out, "sweep", write_sweep(tmp_path), "--workers", "1", "--quiet")
    assert r.returncode == 0 and (out / "manifest.json").exists(), r.stderr


@pytest.mark.slow
def test_data_given_to_a_sweep_reaches_its_workers(tmp_path, data_copy):
    import csv
    import io

    # Every road half as long again: a different world, with different outcomes.
    path = data_copy / "roads.csv"
    table = list(csv.reader(io.StringIO(path.read_text())))
    k = table[0].index("km")
    for row in table[1:]:
        row[k] = str(round(float(row[k]) * 1.5, 1))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(table)
    path.write_text(buf.getvalue())
    sweep = write_sweep(tmp_path, points=3, replicates=20)
    outs = {}
    for label, extra in {"pool": ["--workers", "2", "--data", data_copy], "inline": ["--workers", "1", "--data",
                                                                                      data_copy],
                         "shipped": ["--workers", "1"]}.items():
        outs[label] = tmp_path / label
        r = cli("sweep", sweep, "--out", outs[label], "--quiet", *extra)
        assert r.returncode == 0, r.stderr

    def table_of(out):
        return pq.read_table(out / store.FALLS).sort_by([("run_id", "ascending"), ("province", "ascending")])

    assert table_of(outs["pool"]).equals(table_of(outs["inline"]))
    assert not table_of(outs["pool"]).equals(table_of(outs["shipped"]))
    assert json.loads((outs["pool"] / "manifest.json").read_text())["data_dir"] == str(data_copy.resolve())


@pytest.mark.slow
def test_a_calibration_resumes_only_the_same_study(tmp_path):
    out = tmp_path / "cal"
    base = ["calibrate", "baseline", "--replicates", "10", "--cv", "0", "--workers", "1", "--trials", "2",
            "--out", out, "--quiet"]
    assert cli(*base, "--fit-until", "2021-08-12").returncode == 0
    one_line_error(cli(*base), "holds a calibration with another fit_until", "--force")
    r = cli(*base, "--force")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "calibration.json").read_text())["fit_until"] is None


def test_one_rule_for_seeds_and_run_counts_everywhere():
    import run
    from sim import scenario

    assert run.MAX_SEED == scenario.MAX_SEED and run.MAX_RUNS == scenario.MAX_REPLICATES


def test_a_calibration_that_cannot_write_its_study_says_so_in_one_line(tmp_path):
    r = cli("calibrate", "baseline", "--trials", "3", "--replicates", "5", "--cv", "0", "--workers", "1",
            "--out", tmp_path / "cal", "--quiet", limit_bytes=30_000)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"error: cannot write the calibration study {tmp_path / 'cal' / 'study.db'}: ")


def test_bench_json_never_replaces_a_file_it_did_not_write(tmp_path):
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "numbers"}')
    one_line_error(cli("bench", "--quick", "--json", mine), "exists and was not written by `run.py bench`")
    assert mine.read_text() == '{"my": "numbers"}'
