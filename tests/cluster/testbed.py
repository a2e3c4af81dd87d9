"""Clients of the live test bed (k8s/testbed/): kubectl, helm, HTTP and the simulator's RPC.

Every client runs inside the test bed's network namespace (``ip netns exec``): the cluster's
addresses exist only there. Nothing here talks to anything outside that namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
TESTBED = REPO / "k8s" / "testbed"
RPC_CLIENT = Path(__file__).with_name("rpc_client.py")
# Given to pip inside `docker build` (a TLS-intercepting proxy sits before the registries).
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

T = TypeVar("T")

UP_TIMEOUT_SECONDS = 50 * 60  # a cold machine builds Kubernetes and the operators first
# The project's per-test timeout (300 s) also covers fixture set-up: the first test of a
# session brings the test bed up and builds the image.
TEST_TIMEOUT_SECONDS = UP_TIMEOUT_SECONDS + 15 * 60


class CommandError(AssertionError):
    """A command the test needed failed; carries its output."""


def settings() -> dict[str, str]:
    """The test bed's settings, as k8s/testbed/env prints them (lib.sh is the one source)."""
    out = subprocess.run(
        [str(TESTBED / "env")], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def poll(what: str, check: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    """``check()`` until it returns something other than None/False, or fail after ``timeout``.

    Exceptions from ``check`` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if result is not None and result is not False:
                return result
            last = result
        except (CommandError, OSError, ValueError, KeyError, IndexError) as error:
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)


@dataclass(frozen=True)
class Cluster:
    """A running test bed and the clients that reach it."""

    netns: str
    kubeconfig: str
    kubectl_bin: str
    helm_bin: str
    docker_sock: str
    env: Mapping[str, str]

    @classmethod
    def external(cls, kubeconfig: str) -> Cluster:
        """Another cluster (kind): its API server reachable from here, kubectl and helm on PATH."""
        return cls(
            netns="",
            kubeconfig=kubeconfig,
            kubectl_bin="kubectl",
            helm_bin="helm",
            docker_sock="",
            env={},
        )

    @classmethod
    def from_settings(cls, values: Mapping[str, str]) -> Cluster:
        return cls(
            netns=values["NETNS"],
            kubeconfig=values["KUBECONFIG_ADMIN"],
            kubectl_bin=f"{values['KUBE_BIN']}/kubectl",
            helm_bin=values["HELM"],
            docker_sock=values["DOCKER_SOCK"],
            env=dict(values),
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 180.0,
        in_netns: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        inside = in_netns and self.netns
        command = ["ip", "netns", "exec", self.netns, *argv] if inside else list(argv)
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **env} if env else None,
        )
        if check and done.returncode != 0:
            raise CommandError(
                f"{' '.join(argv)} exited {done.returncode}\n"
                f"stdout: {done.stdout[-3000:]}\nstderr: {done.stderr[-3000:]}"
            )
        return done

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run([self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args], **kwargs)

    def helm(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.run([self.helm_bin, "--kubeconfig", self.kubeconfig, *args], **kwargs)

    def docker(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        # Debian's client matches Debian's dockerd; the daemon runs in the host namespace.
        # BuildKit: secret mounts (the CA bundle) need it.
        return self.run(
            ["/usr/bin/docker", "-H", f"unix://{self.docker_sock}", *args],
            in_netns=False,
            env={"DOCKER_BUILDKIT": "1"},
            **kwargs,
        )

    def get(self, *args: str) -> Any:
        """``kubectl get ... -o json``, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def http_get(self, url: str) -> str:
        """GET ``url`` from inside the namespace; raises CommandError unless 2xx."""
        return self.run(["curl", "-sSf", "--max-time", "5", url], timeout=30).stdout

    def rpc(self, url: str, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """One JSON-RPC call over WebSocket to ``url``; returns ``result`` or raises."""
        done = self.run(
            [sys.executable, str(RPC_CLIENT), url, method, json.dumps(params or {})], timeout=60
        )
        reply = json.loads(done.stdout)
        if "error" in reply:
            raise CommandError(f"{method}: {reply['error']}")
        return reply["result"]
