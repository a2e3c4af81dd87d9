"""Every service refuses a bad setting the same way: exit 2 and one stderr line naming it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOBSTREAM_")}
    return env | extra


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("producer", "LOBSTREAM_DERIBIT__HEARTBEAT_SECONDS", "5"),
        ("producer", "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS", ""),
        ("consumer", "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS", ""),
        ("consumer", "LOBSTREAM_FEATURES__OFI_WINDOWS_SECONDS", "0"),
        ("replay", "LOBSTREAM_FEATURES__IMBALANCE_DEPTHS", "0"),
    ],
)
def test_a_bad_setting_exits_2_with_one_line_naming_it(
    command: str, variable: str, value: str
) -> None:
    extra = {variable: value}
    if command != "replay" and variable != "LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS":
        extra["LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = "127.0.0.1:9"
    args = [sys.executable, "-m", "lobstream", command]
    if command == "replay":
        args.append(os.devnull)
    done = subprocess.run(args, env=_clean_env(**extra), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"lobstream: invalid setting {variable}:")


@pytest.mark.parametrize(
    ("args", "variable"),
    [
        (["consumer", "--metrics-port", "70000"], "LOBSTREAM_METRICS__PORT"),
        (["record", "-", "--duration", "1", "--url", "http://example"], "LOBSTREAM_DERIBIT__URL"),
    ],
)
def test_a_bad_command_line_override_is_named_like_the_setting(
    args: list[str], variable: str
) -> None:
    env = _clean_env(LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:9")
    done = subprocess.run(
        [sys.executable, "-m", "lobstream", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"lobstream: invalid setting {variable}:")
