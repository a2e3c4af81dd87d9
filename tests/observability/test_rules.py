"""The alert rules: promtool-clean, unit-tested alert by alert, complete for an operator."""

import functools
import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.observability.families import known_families, series_names
from tests.observability.sources import (
    ALERTS_DOC,
    RULES_FILE,
    RULES_TEST_FILE,
    alert_rules,
    metric_names,
    recorded_names,
    rule_groups,
)
from tests.plugins.prometheus import promtool

SEVERITIES = {"critical", "warning", "info"}


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_check_rules_is_clean() -> None:
    result = run_promtool("check", "rules", str(RULES_FILE))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output
    assert "WARNING" not in output.upper(), output


def test_promtool_unit_tests_pass() -> None:
    # rule_files in the test file are relative to it, so the chart's copy is the one tested.
    result = run_promtool("test", "rules", str(RULES_TEST_FILE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@functools.cache
def unit_cases() -> dict[str, dict[str, list[list[dict[str, Any]]]]]:
    """alertname -> {"fires": [expected alerts...], "quiet": [[]...]} from the promtool tests."""
    cases: dict[str, dict[str, list[list[dict[str, Any]]]]] = {}
    document = yaml.safe_load(RULES_TEST_FILE.read_text())
    for group in document["tests"]:
        for case in group.get("alert_rule_test", []):
            expected = case.get("exp_alerts") or []
            kind = "fires" if expected else "quiet"
            cases.setdefault(case["alertname"], {"fires": [], "quiet": []})[kind].append(expected)
    return cases


def test_the_unit_tests_read_the_charts_rule_file() -> None:
    document = yaml.safe_load(RULES_TEST_FILE.read_text())
    rule_files = [(RULES_TEST_FILE.parent / name).resolve() for name in document["rule_files"]]
    assert rule_files == [RULES_FILE.resolve()]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_firing_and_a_quiet_unit_test(rule: dict[str, Any]) -> None:
    cases = unit_cases().get(rule["alert"], {"fires": [], "quiet": []})
    assert cases["fires"], f"no promtool case in which {rule['alert']} fires"
    assert cases["quiet"], f"no promtool case in which {rule['alert']} must stay silent"


def runbook_anchors() -> set[str]:
    """GitHub-style anchors of the headings of docs/alerts.md."""
    anchors = set()
    for line in ALERTS_DOC.read_text().splitlines():
        heading = re.match(r"#+\s+(.*)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_says_how_bad_what_and_where_to_look(rule: dict[str, Any]) -> None:
    assert rule.get("labels", {}).get("severity") in SEVERITIES
    annotations = rule.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), f"{rule['alert']} has no {key}"
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page == "docs/alerts.md"
    assert anchor in runbook_anchors(), f"docs/alerts.md has no section #{anchor}"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_descriptions_name_the_instrument_whenever_the_alert_has_one(rule: dict[str, Any]) -> None:
    # The firing unit tests show which labels an alert really carries: one with an instrument
    # must name it; one without must not print an empty name.
    fired = [alert for alerts in unit_cases()[rule["alert"]]["fires"] for alert in alerts]
    has_instrument = any("instrument" in alert["exp_labels"] for alert in fired)
    names_it = "$labels.instrument" in rule["annotations"]["description"]
    assert names_it == has_instrument, (
        f"{rule['alert']}: instrument label {has_instrument}, description names it {names_it}"
    )


def test_rule_expressions_use_only_exported_families() -> None:
    allowed = series_names(known_families()) | recorded_names()
    unknown = {
        (rule.get("alert") or rule["record"], name)
        for group in rule_groups()
        for rule in group["rules"]
        for name in metric_names(rule["expr"])
        if name not in allowed
    }
    assert not unknown, f"metric names outside the contract: {sorted(unknown)}"


def test_alert_names_are_unique() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))
