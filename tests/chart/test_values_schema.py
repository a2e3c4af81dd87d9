"""values.schema.json and the chart's own checks refuse bad values with a message naming them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import Helm, HelmError


def refused(helm: Helm, values: dict[str, Any]) -> str:
    with pytest.raises(HelmError) as caught:
        helm.template(values)
    return str(caught.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"instruments": ["btc-perpetual"]}, ["instruments/0", "does not match pattern"]),
        ({"instruments": ["BTC PERPETUAL"]}, ["instruments/0", "does not match pattern"]),
        ({"instruments": ["BTC.PERPETUAL"]}, ["instruments/0", "does not match pattern"]),
        (
            {"instruments": [{"name": "eth-perpetual"}]},
            ["instruments/0/name", "does not match pattern"],
        ),
        (
            {"instruments": [{"name": "ETH-PERPETUAL", "chanels": ["book"]}]},
            ["instruments/0", "chanels"],
        ),
        ({"instruments": []}, ["instruments", "minItems"]),
        ({"consumer": {"replicas": -1}}, ["consumer/replicas", "minimum"]),
        ({"kafka": {"replicas": 0}}, ["kafka/replicas", "minimum"]),
        ({"replicas": 2}, ["additional properties", "replicas"]),
        ({"kafka": {"bootstrap": "x:9092"}}, ["kafka", "additional properties", "bootstrap"]),
        ({"producer": {"channels": ["orderbook"]}}, ["producer/channels/0"]),
        ({"deribit": {"url": "http://example.org"}}, ["deribit/url"]),
        ({"monitoring": {"consumer": {"kind": "Probe"}}}, ["monitoring/consumer/kind"]),
    ],
    ids=lambda v: str(v)[:60],
)
def test_schema_refuses(helm: Helm, values: dict[str, Any], expected: list[str]) -> None:
    message = refused(helm, values)
    assert "values don't meet the specifications of the schema" in message, message
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"instruments": ["BTC_USDC", "BTC-USDC"]},
            "instruments: BTC_USDC and BTC-USDC both become the Kubernetes name "
            "lobstream-producer-btc-usdc",
        ),
        (
            {"producer": {"shutdownGraceSeconds": 30, "terminationGracePeriodSeconds": 30}},
            "producer.terminationGracePeriodSeconds (30) must be greater than "
            "producer.shutdownGraceSeconds (30)",
        ),
        (
            {"kafka": {"replicationFactor": 3}},
            "kafka.replicationFactor (3) cannot exceed kafka.replicas (1)",
        ),
        (
            {"kafka": {"create": False}},
            "kafka.bootstrapServers is required when kafka.create is false",
        ),
        (
            {
                "kafka": {
                    "create": False,
                    "bootstrapServers": "k:9093",
                    "securityProtocol": "SASL_SSL",
                }
            },
            "kafka.securityProtocol SASL_SSL needs kafka.users.producer.name",
        ),
    ],
    ids=["duplicate-names", "grace", "replication", "bootstrap", "sasl-users"],
)
def test_chart_refuses(helm: Helm, values: dict[str, Any], expected: str) -> None:
    assert expected in refused(helm, values)


def test_long_names_get_a_stable_hash_suffix(helm: Helm) -> None:
    long_a = "BTC_USDC-FS-27DEC26_PERP-" + "X" * 30 + "-A"
    long_b = "BTC_USDC-FS-27DEC26_PERP-" + "X" * 30 + "-B"
    names = []
    for _ in range(2):
        objects = helm.template({"instruments": [long_a, long_b]})
        names.append(
            sorted(
                o["metadata"]["name"]
                for o in objects
                if o["kind"] == "Deployment" and "instrument" in o["metadata"]["labels"]
            )
        )
    assert names[0] == names[1]
    first, second = names[0]
    assert first != second
    assert len(first) <= 63
    assert len(second) <= 63
    assert first[:-9] == second[:-9]  # same cut prefix, told apart by the hash
