"""The app (python run.py app): what it runs (a scenario's whole definition, one model per session), how it is
served (offline, stopped with run.py), and what a browser sees (headless Chromium through playwright)."""

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [m for m in ("solara", "solara_assets", "altair") if importlib.util.find_spec(m) is None]
NO_PLAYWRIGHT = importlib.util.find_spec("playwright") is None

pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"the app extra is not installed (missing {MISSING}): "
                                                      "pip install -e '.[app,app-test]'")
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run "
                                                "installs it"),
    pytest.mark.skipif(NO_PLAYWRIGHT, reason="playwright is not installed: pip install -e '.[app-test]'"),
]


def browser_test(f):
    for mark in BROWSER_MARKS:
        f = mark(f)
    return f


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------- the model, without a browser


def test_the_served_module_is_this_packages_sim_app():
    from sim import cli

    command = cli.app_command("127.0.0.1", 8765)
    assert command[command.index("run") + 1] == "sim.app"
    package_parent = Path(cli.__file__).resolve().parent.parent
    assert cli.app_env()["PYTHONPATH"].split(os.pathsep)[0] == str(package_parent)
    assert Path(importlib.util.find_spec("sim.app").origin) == package_parent / "sim" / "app.py"


def test_the_app_runs_a_scenario_with_its_dated_events(world):
    """hold-the-highway holds four links from 1 May: the app's run is run 1 of `run hold-the-highway --engine
    mesa` (the same fall days), and its held links stay open where the same run without the events loses them."""
    from sim.app import AppModel, run_seed
    from sim.model import TerritoryModel, run_models
    from sim.scenario import load_scenario

    sc = load_scenario("hold-the-highway", world)
    assert sc.events, "the scenario has dated events"
    app = AppModel("hold-the-highway")
    assert app.seed == run_seed(sc.seed)
    plain = TerritoryModel(sc.params, seed=app.seed, start=sc.start, end=sc.end, world=sc.world(world),
                           initial=sc.initial)
    held_links = [i for i, r in enumerate(app.roads) if r.link_id in {e.get("link") for e in sc.events}]
    assert len(held_links) == 4
    cut_with, cut_without = 0, 0
    while app.running:
        app.step()
        plain.step()
        both_ends = [app.roads[i].ends[0].is_held and app.roads[i].ends[1].is_held for i in held_links]
        cut_with += sum(b and not app.roads[i].is_open for i, b in zip(held_links, both_ends))
        cut_without += sum(not plain.roads[i].is_open for i in held_links)
    assert cut_with == 0, "a held link was cut while both its capitals held"
    assert cut_without > 0, "without the events the links are cut: the comparison would show nothing"
    cli_run = run_models(sc.params, 1, sc.seed, sc.start, sc.end, sc.world(world), interventions=sc.events,
                         initial=sc.initial)
    assert np.array_equal(app.fall_days(), cli_run.fall_day[0])


def test_a_scenario_starting_later_starts_there(world):
    from sim.app import AppModel, status_line

    app = AppModel("from-2021-08-12")
    assert status_line(app).startswith("Day 0 of 26: the morning of 12 August 2021")
    assert app.held_at_start < 34, "the capitals fallen by 12 August start fallen"
    app.step()
    assert status_line(app).startswith("Day 1 of 26: the end of 12 August 2021")


def test_reset_passes_the_settings_through_mesa_unchanged():
    """Mesa's Reset builds AppModel(**settings); Mesa 3.5 first sorts them between the model and a mesa Scenario,
    which must leave them as they are. What Reset would change is listed until it is pressed."""
    from mesa.visualization import solara_viz

    from sim.app import AppModel, pending_changes

    model = AppModel()
    settings = {"source": "baseline", "seed": 12345, "overrides": {"cascade_neighbour": 0.2, "air_support": False}}
    assert set(pending_changes(model, settings)) == {"seed 12345", "cascade_neighbour 0.2", "air_support off"}
    build = getattr(solara_viz, "_build_model_init_kwargs", None)  # Mesa >= 3.5
    if build is not None:
        assert build(model, settings, add_scenario_when_empty=True, require_model_accepts_scenario=True) == settings
    new = AppModel(**settings)
    assert new.seed == 12345 and new.params.cascade_neighbour == 0.2 and new.params.air_support is False
    assert pending_changes(new, settings) == []


def test_the_picker_offers_the_shipped_scenarios_and_the_users_files(tmp_path, world):
    from sim.app import check_path, scenario_choices
    from sim.scenario import SCENARIO_DIR, ScenarioError, list_scenarios

    text = (SCENARIO_DIR / "reinforce-kabul.toml").read_text()
    (tmp_path / "mine.toml").write_text(text.replace('name = "reinforce-kabul"', 'name = "my-kabul"'))
    (tmp_path / "settings.toml").write_text('colour = "blue"\n')
    choices, others = scenario_choices(tmp_path)
    shipped = [sc.name for sc in list_scenarios(world) if not isinstance(sc, Exception)]
    assert [v for v in choices.values() if not v.endswith(".toml")] == shipped
    assert [k for k, v in choices.items() if v == str(tmp_path / "mine.toml")] == [
        "mine.toml (my-kabul): What if 10,000 more troops had been concentrated in Kabul on 1 August."]
    assert others == ["settings.toml"]
    assert check_path("mine.toml", tmp_path) == str(tmp_path / "mine.toml")
    with pytest.raises(ScenarioError, match="ends in .toml"):
        check_path("/etc/passwd", tmp_path)


def test_the_pictures_follow_the_model():
    from sim.app import AppModel, HeldPicture, MapPicture

    model = AppModel()
    pictures = MapPicture(model), HeldPicture(model)
    first = [p.frame(model) for p in pictures]
    assert all(f.startswith(b"\x89PNG") for f in first)
    assert [p.frame(model) for p in pictures] == first, "the same day draws the same picture"
    while model.capitals_held == 34:  # until the map and the curve must differ
        model.step()
    assert all(p.frame(model) != f for p, f in zip(pictures, first))


# ----------------------------------------------------------------------------------------------------- the server


def _wait_serving(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=5).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the app did not start within {seconds} s")


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text() or not status.exists()  # a zombie no longer runs
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process tree from /proc")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_server_stops_with_run_py(how):
    """SIGTERM: run.py stops the server itself. SIGKILL: the kernel does (PR_SET_PDEATHSIG)."""
    port = free_port()
    parent = subprocess.Popen([sys.executable, str(REPO / "run.py"), "app", "--port", str(port), "--host", "0.0.0.0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_serving(f"http://127.0.0.1:{port}/")
        children = _children(parent.pid)
        assert len(children) == 1, "the solara server"
        t0 = time.time()
        os.kill(parent.pid, getattr(signal, how))
        _, err = parent.communicate(timeout=30)
        assert "the app has no authentication" in err.splitlines()[0]
        while time.time() < t0 + 10 and not (_port_closed(port) and _gone(children[0])):
            time.sleep(0.2)
        assert _port_closed(port), "the solara server outlived run.py"
        assert _gone(children[0]), "the solara process outlived run.py"
        if how == "SIGTERM":
            assert parent.returncode == 143 and "terminated" in err.splitlines()[-1]
    finally:
        if parent.poll() is None:
            parent.kill()


# ---------------------------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the browser tests, started in a folder holding a user's scenario file."""
    from sim.scenario import SCENARIO_DIR

    folder = tmp_path_factory.mktemp("user")
    text = (SCENARIO_DIR / "reinforce-kabul.toml").read_text()
    (folder / "mine.toml").write_text(text.replace('name = "reinforce-kabul"', 'name = "my-kabul"')
                                      .replace("troops = 10000", "troops = 20000"))
    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "run.py"), "app", "--port", str(port)], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_serving(url)
        yield url, port, folder
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def _open(browser, url: str, port: int, blocked: list | None = None):
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    # Offline: any request that leaves the machine is recorded and refused.
    page.route("**/*", lambda route: ((blocked if blocked is not None else []).append(route.request.url),
                                      route.abort()) if not route.request.url.startswith(f"http://127.0.0.1:{port}")
               else route.continue_())
    page.goto(url)
    page.wait_for_selector("text=/Day 0 of/", timeout=90_000)
    return page


def _day(page) -> int:
    return int(re.search(r"Day (\d+) of", page.get_by_text(re.compile(r"^Day \d+ of")).first.inner_text()).group(1))


def _wait_day(page, day: int, seconds: float = 20) -> int:
    deadline = time.time() + seconds
    while _day(page) != day and time.time() < deadline:
        page.wait_for_timeout(100)
    return _day(page)


def _step(page):
    page.get_by_role("button", name="Step", exact=True).click()


@browser_test
def test_the_page_shows_the_map_offline_and_counts_the_first_step(served, browser, tmp_path):
    from PIL import Image

    url, port, _ = served
    blocked = []
    page = _open(browser, url, port, blocked)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(tmp_path / "day0.png"))
    _step(page)  # the first click after the page opens
    assert _wait_day(page, 1) == 1, "the first Step click was lost"
    page.wait_for_timeout(1000)
    shot = tmp_path / "day1.png"
    page.screenshot(path=str(shot))
    assert page.locator("img").count() >= 2, "the map and the chart"
    assert page.get_by_text("Day 1 of 129: the end of 01 May 2021").count() >= 1
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # The map colours capitals on a green-to-red scale: a blank page or a loading splash has none of them.
    greenish = (pixels[..., 1] > 120) & (pixels[..., 0] < 140) & (pixels[..., 2] < 140)
    assert greenish.sum() > 500, "no map markers in the screenshot"
    assert not blocked, f"requests left the machine: {blocked}"
    page.close()


@browser_test
def test_two_sessions_have_a_model_each(served, browser):
    url, port, _ = served
    a = _open(browser, url, port)
    for k in range(3):
        _step(a)
        assert _wait_day(a, k + 1) == k + 1
    b = _open(browser, url, port)
    assert _day(b) == 0, "a new tab opened at another tab's day"
    _step(b)
    assert _wait_day(b, 1) == 1
    a.wait_for_timeout(500)
    assert _day(a) == 3, "a step in one tab moved the other"
    a.close()
    b.close()


@browser_test
def test_play_runs_faster_than_a_day_a_second(served, browser):
    url, port, _ = served
    page = _open(browser, url, port)
    assert page.get_by_text("Play: a day every 100 ms").count() == 1
    page.locator("button:has-text('▶')").first.click()
    t0 = time.time()
    page.wait_for_timeout(4000)
    page.locator("button:has-text('❚❚')").first.click()
    seconds = time.time() - t0
    page.wait_for_timeout(500)
    days = _day(page)
    assert days > 1.5 * seconds, f"{days} days in {seconds:.1f} s"
    page.close()


@browser_test
def test_the_picker_runs_a_scenario_with_its_events_and_reset_applies_changes(served, browser, tmp_path):
    from playwright.sync_api import expect

    url, port, _ = served
    page = _open(browser, url, port)
    # Collapsed parameter groups: no parameter input until a group is opened.
    assert page.get_by_label(re.compile(r"^cascade_neighbour")).count() == 0
    page.get_by_text(re.compile(r"^morale \(\d+\)")).click()
    page.get_by_label(re.compile(r"^cascade_neighbour")).first.wait_for(timeout=10_000)

    def pick(label_start: str):
        page.locator(".v-select").first.click()
        page.get_by_role("option", name=re.compile("^" + re.escape(label_start))).click()

    pick("reinforce-kabul:")
    page.get_by_text("Scenario reinforce-kabul · run seed").wait_for(timeout=20_000)
    assert page.get_by_text("01 Aug: reinforce (province Kabul, troops 10,000)").count() == 1
    assert page.get_by_text("0 of 1 dated events applied").count() == 1
    page.screenshot(path=str(tmp_path / "reinforce-kabul.png"))

    pick("mine.toml (my-kabul)")  # the user's file, found in the folder the app was started from
    page.get_by_text("Scenario my-kabul · run seed").wait_for(timeout=20_000)
    assert page.get_by_text("01 Aug: reinforce (province Kabul, troops 20,000)").count() == 1

    pick("baseline:")
    page.get_by_text("Scenario baseline · run seed").wait_for(timeout=20_000)
    path = page.get_by_label("or a scenario file (path)")
    path.fill("mine.toml")  # relative to the working folder
    page.get_by_role("button", name="Open").click()
    page.get_by_text("Scenario my-kabul · run seed").wait_for(timeout=20_000)
    path.fill("notes.txt")
    page.get_by_role("button", name="Open").click()
    page.get_by_text("a scenario file's name ends in .toml").wait_for(timeout=10_000)

    pick("from-2021-08-12:")
    page.get_by_text("Day 0 of 26: the morning of 12 August 2021").wait_for(timeout=20_000)

    # A seed typed in applies on Reset, which is Mesa's ModelController building AppModel(**settings).
    seed = page.get_by_label("run seed (empty: the scenario's first run)")
    seed.fill("12345")
    seed.press("Enter")
    page.get_by_text("Reset runs with: seed 12345").wait_for(timeout=10_000)
    page.get_by_role("button", name="Reset").click()
    page.get_by_text("Scenario from-2021-08-12 · run seed 12345").wait_for(timeout=20_000)
    expect(page.get_by_text("Reset runs with")).to_have_count(0)
    page.close()
