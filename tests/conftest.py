"""Shared test set-up: every module in tests/plugins/ is a pytest plugin of fixtures."""

import pkgutil
from pathlib import Path

import pytest

pytest_plugins = [
    f"tests.plugins.{module.name}"
    for module in pkgutil.iter_modules([str(Path(__file__).parent / "plugins")])
]
# Plugins import one another; registered up front, every one keeps its asserts rewritten.
pytest.register_assert_rewrite(*pytest_plugins)
