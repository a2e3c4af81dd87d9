"""Every benchmark figure in the docs is quoted from one result document
(benchmarks/results/bench.json, via benchmarks/figures.py), and that document is a sound run."""

from __future__ import annotations

import re

import pytest
from benchmarks import figures

UNMARKED = re.compile(r"\d[\d,.]*\s?(?:msgs?/s|messages/s|records/s|µs)|\d[\d,.]*\sms\b")
NOT_MEASURED = {
    "200,000 records/s",  # the throughput target
    "10 ms",  # the latency target
    "100 ms",  # the public feed's interval
    "20 records/s",  # docs/capacity.md: the public feed's ceiling per instrument, an assumption
    "1,600 records/s",  # 80 instruments at that ceiling
    "20,000 records/s",  # 1,000 instruments at that ceiling
}
"""Figures in the docs that are targets or assumptions, not measurements."""


@pytest.fixture(scope="module")
def results() -> figures.Doc:
    return figures.load()


def test_the_result_document_is_a_complete_sound_run(results: figures.Doc) -> None:
    assert results["date"]
    assert results["machine"]
    assert results["complete"], "quote a run of every suite on both profiles (make bench)"
    assert results["problems"] == [], "a run with wrong answers cannot be quoted"


def test_the_docs_figures_are_the_result_documents(results: figures.Doc) -> None:
    assert figures.stale(results) == [], (
        "the docs' benchmark figures differ from benchmarks/results/bench.json: "
        "python benchmarks/figures.py --write"
    )


def test_every_doc_quotes_the_run_it_comes_from() -> None:
    for path in figures.DOCS:
        names = set(figures.MARK.findall(path.read_text()))
        assert names, f"{path.name} quotes no benchmark figure"
        quoted = {name for name, _ in names}
        assert "date" in quoted, f"{path.name} does not say which run its figures are from"


def test_no_doc_states_a_measured_figure_outside_a_quote() -> None:
    loose = []
    for path in figures.DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in UNMARKED.finditer(figures.MARK.sub("", line)):
                if match.group() not in NOT_MEASURED:
                    loose.append(f"{path.name}:{number}: {match.group()!r}")
    assert loose == [], f"figures not quoted from the result document: {loose}"


def test_an_unknown_figure_name_is_refused(results: figures.Doc) -> None:
    with pytest.raises(KeyError, match="nope"):
        figures.fill("<!-- fig:nope -->1<!-- /fig -->", results)
