"""The values the chart is rendered with: instruments x Kafka x monitoring x simulator."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

import yaml

from tests.chart.helm import CHART

FIFTY: list[str] = yaml.safe_load((CHART / "ci" / "fifty-instruments-values.yaml").read_text())[
    "instruments"
]

INSTRUMENTS: dict[int, list[Any]] = {
    1: ["BTC-PERPETUAL"],
    3: [
        "BTC-PERPETUAL",
        "ETH-PERPETUAL",
        {
            "name": "SOL_USDC-PERPETUAL",
            "channels": ["book", "ticker", "trades"],
            "bookInterval": "agg2",
            "resources": {
                "requests": {"cpu": "20m", "memory": "64Mi"},
                "limits": {"cpu": "200m", "memory": "128Mi"},
            },
        },
    ],
    50: FIFTY,
}

EXTERNAL_KAFKA: dict[str, Any] = {
    "create": False,
    "bootstrapServers": "kafka-0.kafka.data.svc:9093,kafka-1.kafka.data.svc:9093",
    "securityProtocol": "SASL_SSL",
    "caSecret": {"name": "kafka-ca", "key": "ca.pem"},
    "users": {
        "producer": {"name": "prod-user", "passwordSecret": "prod-pass", "passwordKey": "pw"},
        "consumer": {"name": "cons-user", "passwordSecret": "cons-pass", "passwordKey": "pw"},
    },
}

MONITORING_ON: dict[str, Any] = {
    "producers": {"enabled": True},
    "consumer": {"enabled": True},
    "kafka": {"enabled": True},
    "rules": {"enabled": True},
    "dashboards": {"enabled": True},
}


@dataclass(frozen=True)
class Case:
    """One combination, with the values it stands for."""

    instruments: int
    kafka_created: bool
    monitoring: bool
    simulator: bool

    @property
    def id(self) -> str:
        return (
            f"{self.instruments}-instruments"
            f"/kafka-{'created' if self.kafka_created else 'external'}"
            f"/monitoring-{'on' if self.monitoring else 'off'}"
            f"/simulator-{'on' if self.simulator else 'off'}"
        )

    @property
    def names(self) -> list[str]:
        return [i if isinstance(i, str) else i["name"] for i in INSTRUMENTS[self.instruments]]

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"instruments": copy.deepcopy(INSTRUMENTS[self.instruments])}
        kafka: dict[str, Any] = {} if self.kafka_created else copy.deepcopy(EXTERNAL_KAFKA)
        if self.instruments > 12:
            kafka["topics"] = {
                "raw": {"name": "deribit.raw", "partitions": 64, "retentionHours": 48}
            }
        if kafka:
            values["kafka"] = kafka
        if self.monitoring:
            values["monitoring"] = copy.deepcopy(MONITORING_ON)
        if self.simulator:
            values["simulator"] = {"enabled": True}
        return values


CASES = [
    Case(n, created, monitoring, simulator)
    for n, created, monitoring, simulator in itertools.product(
        INSTRUMENTS, (True, False), (True, False), (True, False)
    )
]
