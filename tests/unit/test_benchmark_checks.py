"""The benchmarks' checks of their own answers (benchmarks/checks.py): a wrong answer fails."""

from __future__ import annotations

from typing import Any

from benchmarks.checks import books_disagree, e2e_problems

BOOK = {"best_bid": 100.0, "best_ask": 100.5, "change_id": 42}


def test_equal_books_agree() -> None:
    assert books_disagree({"BTC": BOOK}, {"BTC": dict(BOOK)}) == []


def test_nothing_to_compare_is_a_disagreement() -> None:
    assert books_disagree({}, {}) != []
    assert books_disagree({"BTC": BOOK}, {}) != []
    assert books_disagree({}, {"BTC": BOOK}) != []


def test_a_different_book_or_instrument_set_disagrees() -> None:
    assert books_disagree({"BTC": BOOK}, {"BTC": {**BOOK, "change_id": 41}}) != []
    assert books_disagree({"BTC": BOOK, "ETH": BOOK}, {"BTC": BOOK}) != []


def _e2e(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "throughput": {"records": 10, "applied": 10, "gaps": 0, "bad": 0},
        "latency": {"rate_asked": 2000.0, "rate_seen": 1990, "samples": 5, "gaps": 0, "bad": 0},
    }
    for path, value in changes.items():
        part, key = path.split("__")
        result[part][key] = value
    return result


def test_a_sound_e2e_result_has_no_problems() -> None:
    assert e2e_problems(_e2e()) == []


def test_e2e_gaps_bad_records_and_missing_work_are_problems() -> None:
    assert e2e_problems(_e2e(throughput__gaps=1)) != []
    assert e2e_problems(_e2e(throughput__bad=3)) != []
    assert e2e_problems(_e2e(throughput__applied=9)) != []
    assert e2e_problems(_e2e(latency__gaps=2)) != []
    assert e2e_problems(_e2e(latency__bad=1)) != []
    assert e2e_problems(_e2e(latency__samples=0)) != []
    assert e2e_problems(_e2e(latency__rate_seen=100)) != []


def test_run_counts_a_disagreement_and_a_suites_problems_as_wrong_answers() -> None:
    from benchmarks.run import Row, wrong_answers

    def row(suite: str, **extra: Any) -> Row:
        return Row("raw", suite, suite, 1, 1.0, 1.0, extra)

    agreeing = [row("replay", final={"BTC": BOOK}), row("peer", final={"BTC": BOOK})]
    assert wrong_answers(agreeing) == []
    empty = [row("replay", final={}), row("peer", final={})]
    assert wrong_answers(empty) != []
    differing = [
        row("replay", final={"BTC": BOOK}),
        row("peer", final={"BTC": {**BOOK, "best_bid": 99}}),
    ]
    assert wrong_answers(differing) != []
    assert wrong_answers([row("e2e", problems=["throughput: gaps 1"])]) == [
        "raw/e2e: throughput: gaps 1"
    ]
