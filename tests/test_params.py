import datetime as dt
import re

import pytest

from sim.params import LATER_SOURCE, PROVENANCES, TUNED_2021, Params, ParamsError

MONTHS = {m: k for k, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                      "dec"), 1)}
MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
START = dt.date(2021, 5, 1)  # the withdrawal began: a prior uses nothing published on or after it


def test_round_trip():
    p = Params().replace(rural_rate=0.05, morale_cascade=False)
    assert Params.from_dict(p.to_dict()) == p
    assert p.changed() == {"rural_rate": 0.05, "morale_cascade": False}


def test_every_parameter_is_documented():
    for name, spec in Params.spec().items():
        assert spec["unit"] and spec["source"] and spec["group"], name
        if not isinstance(spec["default"], bool):
            assert spec["lo"] <= spec["default"] <= spec["hi"], name


def dates_2021(text: str) -> list[dt.date]:
    """Every 2021 date a text cites: 2021-MM-DD, '[day] Month 2021' (also 'mid-July 2021'), and a bare 'day Month'
    with no year after it, which in this model's sources means 2021. A month without a day counts as its 1st."""
    out = [dt.date(2021, int(m), int(d)) for m, d in re.findall(r"\b2021-(\d\d)-(\d\d)\b", text)]
    for day, month in re.findall(rf"(?:\b(\d{{1,2}})\s+)?\b{MONTH}\s+2021\b", text, flags=re.IGNORECASE):
        out.append(dt.date(2021, MONTHS[month.lower()[:3]], int(day or 1)))
    for day, month in re.findall(rf"\b(\d{{1,2}})\s+{MONTH}(?![a-z])(?!\.?\s*,?\s*\d{{4}})", text, flags=re.IGNORECASE):
        out.append(dt.date(2021, MONTHS[month.lower()[:3]], int(day)))
    return out


def test_the_date_parser_reads_the_forms_sources_use():
    assert dates_2021("LWJ 27 Jul 2021; mid-July 2021; 2021-06-15; Bagram (2 Jul); Oct 2020; 28 Sep 2015") == [
        dt.date(2021, 6, 15), dt.date(2021, 7, 27), dt.date(2021, 7, 1), dt.date(2021, 7, 2)]
    assert dates_2021("mid-April 2021, 14 Apr 2021, Feb 2021, 30 Jul 2020, 7 Dec 2001") == [
        dt.date(2021, 4, 1), dt.date(2021, 4, 14), dt.date(2021, 2, 1)]


def test_every_parameter_has_a_provenance_and_no_prior_uses_anything_after_april_2021():
    """A prior names its dated evidence or says 'first principles:'; no clause of its source cites a 2021 date after
    30 April, unless the clause is marked as a later source kept for context only. A fitted default names the data
    and the cut-off date. No source cites the reference record's working files instead of what a reader can open."""
    assert set(TUNED_2021) <= set(Params.names())
    for name, spec in Params.spec().items():
        assert spec["provenance"] in PROVENANCES, name
        source = spec["source"]
        assert not re.search(r"timeline\.md|STRATEGY\.md|PROVINCES\.md|SOURCES\.md|LITERATURE\.md|capitals\.csv",
                             source), f"{name} cites the reference record's files, not the sources: {source}"
        if spec["provenance"] == "fitted":
            assert "fitted on" in source and re.search(r"\b20\d\d-\d\d-\d\d\b", source), \
                f"{name}: a fitted default names its data ('fitted on ...') and cut-off date (YYYY-MM-DD)"
            continue
        assert "first principles" in source or re.search(r"\b(19|20)\d\d\b", source), \
            f"{name}: a prior names its dated source or says 'first principles: <reason>'"
        for clause in source.split(";"):
            if LATER_SOURCE in clause:
                continue
            late = [d for d in dates_2021(clause) if d >= START]
            assert not late, f"{name} cites {late[0]:%d %b %Y}, after the withdrawal began: '{clause.strip()}'"


def test_a_later_date_is_caught():
    text = "LWJ 27 Jul 2021: 224 districts"
    assert [d for d in dates_2021(text) if d >= START]
    assert not [d for c in f"a 2019 figure; {text} {LATER_SOURCE}".split(";") if LATER_SOURCE not in c
                for d in dates_2021(c) if d >= START]


def test_params_and_the_odd_table_show_every_provenance():
    """`python run.py params` and `--markdown` (the ODD table) give each parameter's provenance beside its bounds."""
    from sim.report import params_markdown, params_table

    lines = params_table().splitlines()
    markdown = params_markdown().splitlines()
    assert lines[0].split()[-1] == "provenance" and "| provenance |" in markdown[0]
    for name, spec in Params.spec().items():
        row = next(line for line in lines if line.startswith(f"  {name} "))
        assert row.split()[-1] == spec["provenance"], name
        row = next(line for line in markdown if line.startswith(f"| `{name}` |"))
        assert f"| {spec['provenance']} |" in row, name


def test_unknown_parameter_names_the_allowed_ones():
    with pytest.raises(ParamsError, match=r"unknown parameter\(s\) \['rurl_rate'\]; allowed: .*rural_rate"):
        Params.from_dict({"rurl_rate": 0.1})


def test_out_of_bounds_and_wrong_types():
    with pytest.raises(ParamsError, match=r"'surrender_rate' = 1.5 is out of bounds: allowed 0.0 to 1.0"):
        Params(surrender_rate=1.5)
    with pytest.raises(ParamsError, match="must be a number"):
        Params(surrender_rate="high")
    with pytest.raises(ParamsError, match="must be true or false"):
        Params(air_support=1)
    with pytest.raises(ParamsError, match="out of bounds"):
        Params(rural_rate=float("nan"))
