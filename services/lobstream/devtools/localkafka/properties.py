"""The local broker's configuration files, rendered from ports and paths (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
NODE_ID = 1
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule required;"

# One node: every internal topic has one replica, and a consumer group forms at once. The
# internal topics get few partitions because creating 50 of them delays the first group join.
SINGLE_NODE: dict[str, str] = {
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "num.partitions": "1",
    "group.initial.rebalance.delay.ms": "0",
    # The cleaner's default 128 MiB buffer would take a third of the small heap.
    "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
    # After a SIGKILL the restarted controller keeps the dead broker's registration until
    # this session times out (default 9 s); a short one makes restart() quick.
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    "num.network.threads": "2",
    "num.io.threads": "4",
}


@dataclass(frozen=True)
class Ports:
    """The broker's listener ports; ``secure`` is the SASL_SSL listener, if any."""

    plaintext: int
    controller: int
    secure: int | None = None


def server_properties(ports: Ports, data_dir: Path, keystore: Path | None = None) -> dict[str, str]:
    """server.properties of a combined broker+controller KRaft node."""
    listeners = [f"PLAINTEXT://{HOST}:{ports.plaintext}", f"CONTROLLER://{HOST}:{ports.controller}"]
    advertised = [f"PLAINTEXT://{HOST}:{ports.plaintext}"]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{ports.controller}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        **SINGLE_NODE,
    }
    if ports.secure is not None:
        if keystore is None:
            raise ValueError("a secure listener needs a keystore")
        listeners.append(f"SASL_SSL://{HOST}:{ports.secure}")
        advertised.append(f"SASL_SSL://{HOST}:{ports.secure}")
        protocols.append("SASL_SSL:SASL_SSL")
        prefix = "listener.name.sasl_ssl."
        props.update(
            {
                "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                prefix + "sasl.enabled.mechanisms": SCRAM_MECHANISM,
                prefix + SCRAM_MECHANISM.lower() + ".sasl.jaas.config": SCRAM_LOGIN_MODULE,
                prefix + "ssl.keystore.type": "PEM",
                prefix + "ssl.keystore.location": str(keystore),
            }
        )
    props["listeners"] = ",".join(listeners)
    props["advertised.listeners"] = ",".join(advertised)
    props["listener.security.protocol.map"] = ",".join(protocols)
    return props


def render(props: Mapping[str, str]) -> str:
    """A Java properties file (values here never need escaping: no backslashes)."""
    return "".join(f"{key}={value}\n" for key, value in props.items())


def log4j2_properties(log_file: Path) -> str:
    """A log4j2 configuration writing every broker log line to ``log_file`` only."""
    return (
        "status = error\n"
        "appender.file.type = File\n"
        "appender.file.name = file\n"
        f"appender.file.fileName = {log_file}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = file\n"
    )


def scram_arguments(users: Mapping[str, str]) -> list[str]:
    """kafka-storage format arguments creating one SCRAM-SHA-512 credential per user."""
    arguments: list[str] = []
    for name, password in users.items():
        if any(ch in name + password for ch in ',=[]"') or not name:
            raise ValueError(f'SCRAM user {name!r}: name and password must avoid , = [ ] "')
        arguments += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
    return arguments
