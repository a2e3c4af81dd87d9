"""The one "log once per burst" rule, in its three shapes, and the CLI's log set-up."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from lobstream.logs import LIBRDKAFKA_LOGGER, Burst, BurstFilter, BurstLog, Tally, install


def test_a_burst_logs_its_first_line_and_the_next_burst_says_how_many_were_held() -> None:
    burst = Burst(quiet_seconds=10)
    assert burst.occur(0.0) == 0
    assert [burst.occur(t) for t in (1.0, 5.0, 14.0)] == [None, None, None]
    # Quiet is measured from the latest occurrence, not the first.
    assert burst.occur(24.5) == 3
    assert burst.held == 0


def test_burst_log_appends_the_suppressed_count(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.burst")
    burst = BurstLog(logger, quiet_seconds=1)
    with caplog.at_level(logging.WARNING, logger="test.burst"):
        assert burst.log(0.0, logging.WARNING, "problem %s", "a")
        assert not burst.log(0.5, logging.WARNING, "problem %s", "b")
        assert burst.suppressed == 1
        assert burst.log(2.0, logging.WARNING, "problem %s", "c")
    assert [r.getMessage() for r in caplog.records] == [
        "problem a",
        "problem c (1 similar suppressed before)",
    ]


def _librdkafka_record(facility: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(
        LIBRDKAFKA_LOGGER,
        logging.WARNING,
        "",
        0,
        "%s [%s] %s",
        (facility, "rdkafka#1", message),
        None,
    )


def test_burst_filter_is_per_facility() -> None:
    flt = BurstFilter(quiet_seconds=60)
    assert flt.filter(_librdkafka_record("FAIL", "connect refused"))
    assert not flt.filter(_librdkafka_record("FAIL", "connect refused"))
    assert flt.filter(_librdkafka_record("ERROR", "all brokers down"))


def test_burst_filter_reports_what_it_held_back() -> None:
    now = [0.0]
    flt = BurstFilter(quiet_seconds=10, clock=lambda: now[0])
    first = _librdkafka_record("FAIL", "one")
    assert flt.filter(first)
    assert first.getMessage() == "FAIL [rdkafka#1] one"
    for now[0] in (1.0, 2.0):
        assert not flt.filter(_librdkafka_record("FAIL", "x"))
    now[0] = 30.0
    record = _librdkafka_record("FAIL", "again")
    assert flt.filter(record)
    assert record.getMessage() == "FAIL [rdkafka#1] again (2 similar held back before)"


def test_tally_keeps_the_first_example_of_each_burst() -> None:
    tally = Tally()
    assert tally.add("not_json", 0, 5)
    assert not tally.add("wrong_key", 1, 9)
    assert tally.take() == (2, ("not_json", 0, 5))
    assert tally.take() == (0, ())
    assert tally.add("bad_data", 2, 1)


def test_importing_installs_nothing_and_install_is_idempotent() -> None:
    code = (
        "import logging, lobstream.logs, lobstream.producer.service as s\n"
        "from lobstream.logs import LIBRDKAFKA_LOGGER, install\n"
        "lg = logging.getLogger(LIBRDKAFKA_LOGGER)\n"
        "assert lg.filters == [], lg.filters\n"
        "install(); install()\n"
        "assert len(lg.filters) == 1, lg.filters\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_install_keeps_one_filter_in_this_process() -> None:
    logger = logging.getLogger(LIBRDKAFKA_LOGGER)
    install()
    install()
    assert sum(isinstance(f, BurstFilter) for f in logger.filters) == 1
