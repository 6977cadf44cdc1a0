"""`run.py plot` writes every figure and the report from stored results, without running the model."""

import pytest

from conftest import run_in_process as run_cli


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("stored")
    for name in ("baseline", "no-cascade"):
        assert run_cli("run", name, "--runs", "40", "--out", str(root / name), "--quiet").returncode == 0
    assert run_cli("sweep", "north-and-cascade", "--out", str(root / "sweep"), "--quiet", "--workers", "1").returncode == 0
    return root


@pytest.mark.slow
def test_plot_reads_only_stored_results(stored, monkeypatch, world):
    import sim.ensemble
    import sim.model
    from sim.figures import plot_comparison, plot_folder

    def forbidden(*a, **k):
        raise AssertionError("plot must not run the model")

    monkeypatch.setattr(sim.ensemble, "run_ensemble", forbidden)
    monkeypatch.setattr(sim.ensemble, "run_chunk", forbidden)
    monkeypatch.setattr(sim.model.TerritoryModel, "__init__", forbidden)
    paths, note = plot_folder(stored / "baseline", world)
    names = {p.name for p in paths}
    assert note == ""
    for stem in ("fall_days", "held", "map_median", "map_p15", "map_control_by_date", "metrics"):
        assert f"{stem}.png" in names and f"{stem}.svg" in names
    assert "report.html" in names
    page = (stored / "baseline" / "report.html").read_text()
    assert "data:image/png;base64," in page and "hops from Kabul" in page and "Zaranj" in page
    assert "-0.00" not in page and 'alt="map_control_by_date"' in page
    # The nulls' Kabul errors carry signs as the model's do (a signed metric), the timed nulls their mark.
    kabul_row = page.split("Kabul: simulated minus observed (days)</td>")[1].split("</tr>")[0]
    cells = [c.split("</td>")[0] for c in kabul_row.split("<td>")[1:]]
    assert cells and all(c[0] in "+-" for c in cells) and all(c.endswith("*") for c in cells[1:])
    sweep = {p.name for p in plot_folder(stored / "sweep", world)[0]}
    assert "sweep_response.png" in sweep and any(n.startswith("sweep_heatmap_") for n in sweep)
    assert "sweep_tradeoff.png" in sweep
    sweep_page = (stored / "sweep" / "report.html").read_text()
    assert "Pareto front" in sweep_page and "Which parameters matter" in sweep_page
    cmp = {p.name for p in plot_comparison([stored / "baseline", stored / "no-cascade"], stored / "cmp", world)}
    assert {"comparison.png", "comparison.svg", "report.html"} <= cmp


@pytest.mark.slow
def test_plot_command_and_a_wrong_folder(stored, tmp_path):
    r = run_cli("plot", str(stored / "baseline"), str(stored / "no-cascade"), "--out", str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c" / "comparison.png").exists()
    r = run_cli("plot", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no such results folder" in r.stderr
    (tmp_path / "empty").mkdir()
    r = run_cli("plot", str(tmp_path / "empty"))
    assert r.returncode == 2 and "not a results folder of this project" in r.stderr
    assert list((tmp_path / "empty").iterdir()) == []
