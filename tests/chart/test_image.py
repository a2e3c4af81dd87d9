"""The Dockerfile and the chart agree (the live build is tested on the cluster test bed):
the image's user is the pods' user, the build context holds what the build copies, and the CA
given to the build cannot end up in the image."""

from __future__ import annotations

import fnmatch
import re

import yaml

from tests.chart.helm import CHART, REPO

DOCKERFILE = (REPO / "services" / "Dockerfile").read_text()
STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def instructions(stage: str, name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", stage, flags=re.MULTILINE)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes (parents match too)."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            result = not negate
    return result


def test_image_user_is_the_pods_user() -> None:
    (user,) = instructions(STAGES[-1], "USER")
    uid, _, gid = user.partition(":")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert uid.isdigit(), "a numeric USER lets the kubelet check runAsNonRoot"
    assert (
        int(uid)
        == values["podSecurityContext"]["runAsUser"]
        == values["securityContext"]["runAsUser"]
    )
    assert int(gid) == values["podSecurityContext"]["runAsGroup"]


def test_entrypoint_is_lobstream_in_exec_form() -> None:
    (entrypoint,) = instructions(STAGES[-1], "ENTRYPOINT")
    assert entrypoint.startswith("[")
    assert entrypoint.endswith('/lobstream"]')


def test_build_context_holds_what_the_build_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        src
        for stage in STAGES[:-1]
        for line in instructions(stage, "COPY")
        for src in line.split()[:-1]
    ]
    assert copied
    for source in copied:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), f"{source} is excluded from the build context"
    assert ignored(".git", patterns)
    assert ignored("tests/chart/test_image.py", patterns)


def test_ca_is_a_build_secret_only() -> None:
    assert "--mount=type=secret,id=ca" in STAGES[0]
    assert "ca-certificates.crt" not in DOCKERFILE.split("ARG BASE_IMAGE", 1)[1]
    # The run stage takes only the virtualenv from the build stage.
    assert instructions(STAGES[-1], "COPY") == ["--from=build /opt/lobstream /opt/lobstream"]
    assert "RUN " not in STAGES[-1]
