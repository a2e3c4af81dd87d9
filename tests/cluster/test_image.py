"""The image users deploy: built by Docker from services/Dockerfile on a debootstrap base."""

from __future__ import annotations

import json
import re
import tarfile
import tempfile
from pathlib import Path

import pytest

from tests.cluster.testbed import HOST_CA_BUNDLE, TEST_TIMEOUT_SECONDS, Cluster

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(TEST_TIMEOUT_SECONDS)]

PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


def test_image_user_is_numeric_and_not_root(testbed: Cluster, app_image: str) -> None:
    config = json.loads(testbed.docker("image", "inspect", app_image).stdout)[0]["Config"]
    user, _, group = config["User"].partition(":")
    # A name would make the kubelet refuse runAsNonRoot ("image will run as root").
    assert user.isdigit(), config["User"]
    assert int(user) != 0, config["User"]
    assert not group or group.isdigit(), config["User"]


def test_help_works_on_a_read_only_root_without_network(testbed: Cluster, app_image: str) -> None:
    done = testbed.docker(
        "run",
        "--rm",
        "--read-only",
        "--network=none",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        app_image,
        "--help",
    )
    for command in ("producer", "consumer", "simulate"):
        assert command in done.stdout, done.stdout


def test_build_time_ca_bundle_is_not_in_the_image(testbed: Cluster, app_image: str) -> None:
    """Certificates only the host trusts (the TLS-intercepting proxy's) appear in no image file."""
    host = set(PEM.findall(HOST_CA_BUNDLE.read_bytes())) if HOST_CA_BUNDLE.is_file() else set()
    container = testbed.docker("create", app_image).stdout.strip()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            export = Path(tmp) / "rootfs.tar"
            testbed.docker("export", "-o", str(export), container, timeout=300)
            with tarfile.open(export) as tar:
                contents = [
                    tar.extractfile(member).read()  # type: ignore[union-attr]
                    for member in tar.getmembers()
                    if member.isfile() and member.size < 5_000_000
                ]
    finally:
        testbed.docker("rm", container)
    image_bundle = next((data for data in contents if data.count(b"BEGIN CERTIFICATE") > 50), b"")
    # The base's own Debian bundle may share public CAs with the host's; the rest is the proxy's.
    extra = host - set(PEM.findall(image_bundle))
    leaked = [cert[:80] for cert in extra if any(cert in data for data in contents)]
    assert not leaked, f"host-only CA certificates found in the image: {leaked}"
    assert HOST_CA_BUNDLE.read_bytes() not in contents if HOST_CA_BUNDLE.is_file() else True
