"""The parameter table in docs/ODD.md is the one Params generates, so documentation and code cannot drift."""

from conftest import REPO

from sim.report import params_markdown


def test_odd_parameter_table_matches_params():
    text = (REPO / "docs" / "ODD.md").read_text()
    start = text.index("<!-- params:start")
    block = text[text.index("\n", start) + 1:text.index("<!-- params:end -->")].strip()
    assert block == params_markdown().strip(), "regenerate it with: python run.py params --markdown"


def test_readme_commands_are_the_ci_commands():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest" in readme and "python -m pytest          # the README's test command" in ci
    # CI installs the README's editable install with its extras (with uv, or pip where uv cannot be had).
    assert 'pip install -e ".[test]"' in readme
    assert 'local extras=".[test,' in ci and 'uv pip install --quiet -e "$extras"' in ci
    assert 'pip install --quiet -e "$extras"' in ci.split("else", 1)[1]
