"""Producers within Deribit's 32 connections per address: one Deployment per instrument up to
deribit.connectionBudget, a stable packing beyond it, explicit groups, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import Helm, HelmError, Obj, component
from tests.chart.packing import DEFAULT_BUDGET, expected_producers, many, producer_name
from tests.chart.test_render import check_settings_load, environment

RAW_PARTITIONS = {"kafka": {"topics": {"raw": {"name": "deribit.raw", "partitions": 1000}}}}


def producers(objects: list[Obj]) -> dict[str, Obj]:
    return {d["metadata"]["name"]: d for d in component(objects, "Deployment", "producer")}


def subscribed(deployment: Obj) -> list[str]:
    """The instruments the producer container is told to subscribe."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {v["name"]: v.get("value") for v in container["env"]}
    return env["LOBSTREAM_DERIBIT__INSTRUMENTS"].split(",")


def render(helm: Helm, instruments: list[Any], **values: Any) -> dict[str, Obj]:
    return producers(helm.template({**RAW_PARTITIONS, **values, "instruments": instruments}))


@pytest.mark.parametrize(
    ("count", "deployments"), [(1, 1), (24, 24), (30, 18), (31, 18), (80, 23), (1000, 24)]
)
def test_deployments_per_instrument_count(helm: Helm, count: int, deployments: int) -> None:
    names = many(count)
    rendered = render(helm, names)
    assert len(rendered) == deployments
    assert {name: sorted(subscribed(d)) for name, d in rendered.items()} == expected_producers(
        names
    )
    assert len(rendered) <= DEFAULT_BUDGET
    if count <= DEFAULT_BUDGET:
        # Within the budget: the original shape, one Deployment per instrument.
        assert all(len(subscribed(d)) == 1 for d in rendered.values())
        assert {d["metadata"]["labels"]["instrument"] for d in rendered.values()} == set(names)


def test_adding_one_instrument_to_eighty_changes_exactly_one_deployment(helm: Helm) -> None:
    names = many(81)
    before = render(helm, names[:80])
    after = render(helm, names)
    assert set(before) == set(after)
    changed = [name for name in before if before[name]["spec"] != after[name]["spec"]]
    assert len(changed) == 1
    assert names[80] in subscribed(after[changed[0]])
    assert sorted(subscribed(after[changed[0]])) == sorted(
        [*subscribed(before[changed[0]]), names[80]]
    )


def test_the_list_order_does_not_matter(helm: Helm) -> None:
    names = many(80)
    forward = render(helm, names)
    backward = render(helm, names[::-1])
    assert {n: d["spec"] for n, d in forward.items()} == {n: d["spec"] for n, d in backward.items()}


def test_explicit_groups_win_over_the_packing(helm: Helm) -> None:
    names = many(60)
    majors = ["BTC-PERPETUAL", "ETH-PERPETUAL"]
    instruments: list[Any] = [{"name": n, "group": "majors"} for n in majors]
    instruments += [{"name": "SOL_USDC-PERPETUAL", "group": "sol", "channels": ["book"]}]
    instruments += names
    rendered = render(helm, instruments)
    assert {n: sorted(subscribed(d)) for n, d in rendered.items()} == expected_producers(
        instruments
    )
    assert sorted(subscribed(rendered["lobstream-producer-majors"])) == majors
    assert rendered["lobstream-producer-majors"]["metadata"]["labels"]["producer-group"] == (
        "majors"
    )
    # Two groups leave 22 connections for the 60 others: 22 buckets, none empty here.
    buckets = [n for n in rendered if "-bucket-" in n]
    assert len(buckets) == DEFAULT_BUDGET - 2
    assert len(rendered) == DEFAULT_BUDGET
    (sol,) = rendered["lobstream-producer-sol"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "LOBSTREAM_DERIBIT__CHANNELS", "value": "book"} in sol["env"]


def test_groups_and_singles_within_the_budget(helm: Helm) -> None:
    instruments: list[Any] = [
        {"name": "BTC-PERPETUAL", "group": "majors"},
        {"name": "ETH-PERPETUAL", "group": "majors"},
        *many(3),
    ]
    rendered = render(helm, instruments)
    assert set(rendered) == {"lobstream-producer-majors", *(producer_name(n) for n in many(3))}


def test_a_larger_budget_keeps_one_deployment_per_instrument(helm: Helm) -> None:
    names = many(80)
    rendered = render(helm, names, deribit={"connectionBudget": 96})
    assert len(rendered) == 80
    assert expected_producers(names, budget=96) == {n: subscribed(d) for n, d in rendered.items()}


@pytest.mark.parametrize(
    ("instruments", "budget", "expected"),
    [
        (
            [{"name": n, "group": f"g{i}"} for i, n in enumerate(many(5))],
            4,
            "instruments: the 5 explicit groups would open 5 exchange connections, over "
            "deribit.connectionBudget (4)",
        ),
        (
            [*({"name": n, "group": f"g{i}"} for i, n in enumerate(many(4))), *many(10)[4:]],
            4,
            "instruments: 4 explicit groups leave no connection for the 6 ungrouped instruments "
            "within deribit.connectionBudget (4)",
        ),
        (
            [
                {"name": "BTC-PERPETUAL", "group": "a"},
                {"name": "ETH-PERPETUAL", "group": "a", "channels": ["book"]},
            ],
            24,
            "instruments: BTC-PERPETUAL and ETH-PERPETUAL share one producer connection but ask "
            "for different channels",
        ),
        (
            [{"name": "BTC-PERPETUAL", "group": "bucket-00"}, *many(30)],
            24,
            "both become the producer Deployment lobstream-producer-bucket-00",
        ),
    ],
    ids=["groups-over-budget", "no-room-for-the-rest", "one-connection-two-settings", "name-clash"],
)
def test_values_that_would_open_too_many_connections_are_refused(
    helm: Helm, instruments: list[Any], budget: int, expected: str
) -> None:
    with pytest.raises(HelmError) as refused:
        render(helm, instruments, deribit={"connectionBudget": budget})
    message = str(refused.value)
    # One line says why and what to set (helm adds its own hint below it).
    assert expected in message.splitlines()[0], message


def test_every_producer_joins_one_named_session_whatever_the_deployments(
    helm: Helm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deribit allows 16 sessions per API key: 80 instruments in 23 Deployments stay one."""
    names = many(80)
    objects = helm.template(
        {**RAW_PARTITIONS, "instruments": names, "deribit": {"credentialsSecret": "deribit-key"}}
    )
    sessions = set()
    deployments = component(objects, "Deployment", "producer")
    assert len(deployments) > 16
    for deployment in deployments:
        loaded = check_settings_load(environment(objects, deployment), monkeypatch)
        assert loaded.deribit.client_id == "secret:deribit-key/client_id"
        sessions.add(loaded.deribit.auth_session_name)
    assert sessions == {"lobstream"}
