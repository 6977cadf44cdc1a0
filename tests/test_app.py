"""The app (python run.py app) serves offline and renders the map: loaded in headless Chromium, screenshotted."""

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from conftest import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = [m for m in ("solara", "solara_assets", "altair", "playwright") if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"),
    pytest.mark.skipif(bool(MISSING), reason=f"the app extras are not installed (missing {MISSING}): "
                                             "pip install -e '.[app,app-test]'"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_renders_the_map_offline(tmp_path):
    from playwright.sync_api import sync_playwright
    from PIL import Image

    port = free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "run.py"), "app", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_serving(url)
        shot = tmp_path / "app.png"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            blocked = []
            # Offline: any request that leaves the machine is recorded and refused.
            page.route("**/*", lambda route: (blocked.append(route.request.url), route.abort())
                       if not route.request.url.startswith(f"http://127.0.0.1:{port}") else route.continue_())
            page.goto(url)
            page.wait_for_selector("img", timeout=90_000)  # the matplotlib figures arrive as images
            page.wait_for_timeout(1500)
            assert page.get_by_text("Model Parameters").count() >= 1
            page.get_by_text("STEP").first.click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(shot))
            n_images = page.locator("img").count()
            browser.close()
        assert n_images >= 2, "the map and the chart"
        pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
        # The map colours capitals on a green-to-red scale: a blank page or a loading splash has none of them.
        greenish = (pixels[..., 1] > 120) & (pixels[..., 0] < 140) & (pixels[..., 2] < 140)
        assert greenish.sum() > 500, "no map markers in the screenshot"
        assert not [u for u in blocked if "solara" in u or "cdn" in u], f"assets fetched from the internet: {blocked}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


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


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_the_server_stops_with_run_py(how):
    import os
    import signal

    port = free_port()
    parent = subprocess.Popen([sys.executable, str(REPO / "run.py"), "app", "--port", str(port), "--host", "0.0.0.0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_serving(f"http://127.0.0.1:{port}/")
        os.kill(parent.pid, getattr(signal, how))
        _, err = parent.communicate(timeout=30)
        assert "the app has no authentication" in err.splitlines()[0]
        deadline = time.time() + 20
        while time.time() < deadline and not _port_closed(port):
            time.sleep(0.3)
        assert _port_closed(port), "the solara server outlived run.py"
    finally:
        if parent.poll() is None:
            parent.kill()
