"""LocalKafka and its CLI: jars cache, lifecycle, and that no broker outlives its owner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lobstream.devtools.localkafka import cds, fetch, jars, properties
from lobstream.devtools.localkafka.broker import cluster_id
from tests.plugins.kafka import localkafka_cli

# -- unit ----------------------------------------------------------------------------------


def test_single_node_properties() -> None:
    props = properties.server_properties(properties.Ports(1, 2), Path("/d"))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:2"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["min.insync.replicas"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "sasl.enabled.mechanisms" not in props


def test_secure_listener_properties() -> None:
    props = properties.server_properties(properties.Ports(1, 2, 3), Path("/d"), Path("/k.pem"))
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1,SASL_SSL://127.0.0.1:3"
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/k.pem"
    with pytest.raises(ValueError, match="keystore"):
        properties.server_properties(properties.Ports(1, 2, 3), Path("/d"))


def test_scram_arguments_reject_unparseable_credentials() -> None:
    assert properties.scram_arguments({"u": "p-_x"}) == [
        "--add-scram",
        "SCRAM-SHA-512=[name=u,password=p-_x]",
    ]
    with pytest.raises(ValueError, match="SCRAM user"):
        properties.scram_arguments({"u": "a,b"})


def test_cluster_ids_never_look_like_options() -> None:
    ids = {cluster_id() for _ in range(2000)}  # about 30 would start with "-" unfiltered
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_class_archive_is_published_only_after_a_graceful_exit(tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("")
    archive = cds.archive_path(tmp_path, str(java), "a.jar:b.jar")
    assert archive != cds.archive_path(tmp_path, str(java), "a.jar:c.jar")
    options, partial = cds.dump_options(archive)
    assert options[-1] == f"-XX:ArchiveClassesAtExit={partial}"
    partial.write_bytes(b"dump")
    cds.settle(partial, archive, graceful=False)
    assert not partial.exists()
    assert not archive.exists()
    _, partial = cds.dump_options(archive)
    partial.write_bytes(b"dump")
    cds.settle(partial, archive, graceful=True)
    assert archive.read_bytes() == b"dump"
    assert not partial.exists()


def test_cached_fetch_needs_neither_java_nor_maven(monkeypatch: pytest.MonkeyPatch) -> None:
    first = fetch()
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert fetch() == first
    assert any(jar.name == f"kafka_2.13-{jars.KAFKA_VERSION}.jar" for jar in first)


def test_fetch_without_java_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env |= {"PATH": "/nonexistent", jars.CACHE_ENV: str(tmp_path / "cache")}
    cli = localkafka_cli("fetch", env=env)
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 3
    [line] = err.strip().splitlines()
    assert line.startswith(
        "lobstream.devtools.localkafka: java not found on PATH: install a Java 17+"
    )
