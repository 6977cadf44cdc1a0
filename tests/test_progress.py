"""Progress when the output is not a terminal: plain periodic lines instead of nothing or a garbled bar."""

import io
import subprocess
import sys

import pytest

from sim import progress
from sim.progress import PlainProgress, duration, progress_bar


class Clock:
    """A hand-moved clock, so the test decides when a line is due."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_pipe_gets_plain_lines_with_count_elapsed_and_time_left():
    out, clock = io.StringIO(), Clock()
    bar = progress_bar(1000, "calibration", "trial", file=out, every=20, clock=clock)
    assert isinstance(bar, PlainProgress)
    clock.now += 5
    bar.update(10)
    assert out.getvalue() == "", "no line before the interval has passed"
    clock.now += 125  # 130 s in, 130 trials done: 1 trial a second, 870 to go
    bar.update(120)
    assert out.getvalue() == "calibration: 130/1,000 trials (13 %), 2 min 10 s elapsed, about 14 min 30 s left\n"
    clock.now += 10
    bar.update(1)
    assert out.getvalue().count("\n") == 1, "at most one line per interval"
    bar.close()
    lines = out.getvalue().splitlines()
    assert lines[-1] == "calibration: 131/1,000 trials (13 %), done in 2 min 20 s"
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_short_work_stays_silent():
    out, clock = io.StringIO(), Clock()
    with progress_bar(50, "ABC", "sample", file=out, every=20, clock=clock) as bar:
        for _ in range(50):
            clock.now += 0.1
            bar.update(1)
    assert out.getvalue() == ""


def test_the_last_step_gets_one_closing_line_not_a_progress_line_too():
    """Seen in `validate`: "7/7 cut-offs (100 %), 46 s elapsed" just before "7/7 cut-offs (100 %), done in 46 s"."""
    out, clock = io.StringIO(), Clock()
    with progress_bar(2, "validate", "cut-off", file=out, every=20, clock=clock) as bar:
        clock.now += 25
        bar.update(1)
        clock.now += 25
        bar.update(1)
    assert out.getvalue().splitlines() == ["validate: 1/2 cut-offs (50 %), 25 s elapsed, about 25 s left",
                                           "validate: 2/2 cut-offs (100 %), done in 50 s"]
    out, clock = io.StringIO(), Clock()
    with progress_bar(1, "one step", "step", file=out, every=20, clock=clock) as bar:
        clock.now += 25  # long, but its only line would have been its last
        bar.update(1)
    assert out.getvalue() == "one step: 1/1 steps (100 %), done in 25 s\n"


def test_a_resumed_study_estimates_from_this_process_only():
    out, clock = io.StringIO(), Clock()
    bar = PlainProgress(100, "study", "trial", initial=90, file=out, every=1, clock=clock)
    clock.now += 30
    bar.update(5)  # 5 trials in 30 s: 5 to go take about 30 s more
    assert out.getvalue().strip() == "study: 95/100 trials (95 %), 30 s elapsed, about 30 s left"


def test_a_terminal_gets_a_tqdm_bar():
    from tqdm import tqdm

    out = Terminal()
    bar = progress_bar(10, "runs", "run", file=out)
    assert isinstance(bar, tqdm)
    bar.update(10)
    bar.close()
    assert "10/10" in out.getvalue()


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (45, "45 s"), (130, "2 min 10 s"), (3725, "1 h 02 min")])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_through_a_real_pipe_the_lines_are_plain():
    code = ("import time\nfrom sim.progress import progress_bar\n"
            "bar = progress_bar(3, 'work', 'step', every=0)\n"
            "for _ in range(3):\n    time.sleep(0.01)\n    bar.update(1)\nbar.close()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("work: 1/3 steps (33 %), ") and "left" in lines[0]
    assert lines[-1].startswith("work: 3/3 steps (100 %), done in ")
    assert "\r" not in r.stderr


def progress_lines(err: str) -> list[str]:
    """stderr without the one-off "compiling the model's rules ..." line of a first call after an edit."""
    return [line for line in err.splitlines() if not line.startswith("compiling ")]


def test_the_ensemble_reports_through_the_helper(monkeypatch, capsys):
    from sim.ensemble import run_ensemble

    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)
    run_ensemble(n_runs=20, seed=1, chunk_size=10, progress=True)
    err = progress_lines(capsys.readouterr().err)
    assert err and all(line.startswith("20 runs: ") for line in err)
    assert err[-1].startswith("20 runs: ") and "done in" in err[-1]


def test_the_mesa_path_reports_through_the_helper(monkeypatch, capsys):
    from sim.model import run_models

    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)
    run_models(n_runs=2, seed=1, progress=True)
    err = progress_lines(capsys.readouterr().err)
    assert err[0].startswith("Mesa models: 1/2 runs (50 %)")
    assert err[-1].startswith("Mesa models: 2/2 runs (100 %), done in ")
