"""The README's settings table is generated from the model, and no doc names a setting the model
does not read (a user following one would get exit 2, or a setting silently ignored)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lobstream import settings
from lobstream.devtools import settings_table

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    REPO / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "charts/lobstream/README.md",
    REPO / "charts/lobstream/values.yaml",
    *sorted((REPO / "charts/lobstream/templates").glob("*")),
]
REFUSED = {
    "LOBSTREAM_METRICS__PREFIX": "Extra inputs are not permitted",
    "LOBSTREAM_KAFKA__TOPIC_PARTITIONS": "RAW_TOPIC_PARTITIONS and FEATURES_TOPIC_PARTITIONS",
}
"""Removed settings the docs name on purpose, to say that they are refused."""
VARIABLE = re.compile(r"LOBSTREAM_[A-Z_]+__(?:[A-Z_]+|\*|\.\.\.)")


def test_the_readme_table_is_generated_from_the_model() -> None:
    text = (REPO / "README.md").read_text()
    assert settings_table.with_table(text) == text, (
        "README's settings table is stale: python -m lobstream.devtools.settings_table "
        "--write-readme"
    )


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="markers"):
        settings_table.with_table("# no table here\n")


def test_every_setting_the_docs_name_is_one_the_model_reads() -> None:
    known = {variable for variable, _ in settings_table.variables()}
    unknown = []
    for path in DOCUMENTS:
        for name in set(VARIABLE.findall(path.read_text())):
            if name in REFUSED:
                continue
            if name.endswith(("*", "...")):  # LOBSTREAM_KAFKA__* names a section
                if not any(v.startswith(name.rstrip("*.")) for v in known):
                    unknown.append(f"{path.relative_to(REPO)}: {name}")
            elif name not in known:
                unknown.append(f"{path.relative_to(REPO)}: {name}")
    assert not unknown, f"settings the model does not have: {sorted(unknown)}"


@pytest.mark.parametrize(("variable", "reason"), sorted(REFUSED.items()))
def test_a_removed_setting_the_docs_name_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, reason: str
) -> None:
    monkeypatch.setenv(variable, "x")
    with pytest.raises(settings.SettingsError) as caught:
        settings.load()
    assert caught.value.setting == variable
    assert reason in caught.value.reason


def test_every_variable_in_the_table_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    # A name the model would not map back to its field (a typo in the generator) is ignored
    # silently by pydantic-settings; an invalid value proves the variable reaches the field.
    for variable, field in settings_table.variables():
        if re.search(r"\b(str|SecretStr)\b", str(field.annotation)):
            continue  # free text: no value is invalid
        with monkeypatch.context() as env:
            env.setenv(variable, "[not valid")
            with pytest.raises(settings.SettingsError, match=variable):
                settings.load()
