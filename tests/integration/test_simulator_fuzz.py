"""Arbitrary frames at the simulator: every one is answered and the connection survives."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import ClientConnection, connect

from lobstream.simulator.methods import HANDLERS
from tests.plugins.threaded_simulator import RunningSimulator, start_in_thread

pytestmark = pytest.mark.integration

# Methods that end or change the session on purpose are not fuzzed (faults drop connections,
# heartbeats would need answering); everything else is, with arbitrary params.
METHODS = sorted(
    name
    for name in HANDLERS
    if not name.startswith("simulator/") and name != "public/set_heartbeat"
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
PARAM_NAMES = st.sampled_from(
    [
        "channels",
        "instrument_name",
        "depth",
        "currency",
        "kind",
        "grant_type",
        "client_id",
        "client_secret",
        "refresh_token",
        "timestamp",
        "nonce",
        "signature",
        "scope",
        "access_token",
    ]
)
PARAMS = st.dictionaries(PARAM_NAMES | st.text(max_size=8), JSON, max_size=5)
IDS = itertools.count(1_000)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[RunningSimulator, ClientConnection]]:
    with (
        start_in_thread(instruments=["BTC-PERPETUAL"], rate=20.0) as running,
        connect(running.url, max_size=None) as ws,
    ):
        yield running, ws


def answer(ws: ClientConnection, request_id: Any) -> dict[str, Any]:
    while True:  # skip notifications from whatever the fuzzer subscribed to
        doc = orjson.loads(ws.recv(timeout=10))
        if "id" in doc and doc["id"] == request_id:
            assert isinstance(doc, dict)
            return doc


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(method=st.sampled_from(METHODS) | st.text(max_size=30), params=PARAMS | JSON)
def test_any_request_is_answered(
    fuzzed: tuple[RunningSimulator, ClientConnection], method: str, params: Any
) -> None:
    _, ws = fuzzed
    request_id = next(IDS)
    ws.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
    doc = answer(ws, request_id)
    assert ("result" in doc) != ("error" in doc)
    if "error" in doc:
        assert doc["error"]["code"] != -32603, doc  # no internal error


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=st.text(max_size=200) | st.binary(max_size=200))
def test_any_garbage_frame_is_answered_without_an_id(
    fuzzed: tuple[RunningSimulator, ClientConnection], frame: str | bytes
) -> None:
    running, ws = fuzzed
    try:
        doc = orjson.loads(frame)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and ("id" in doc or "method" in doc):
        return  # a real request by chance: covered above
    ws.send(frame)
    reply = answer(ws, None)
    assert reply["error"]["code"] in (-32700, -32600)
    assert running.stats()["internal_errors"] == 0
