"""The consumer's /healthz follows its Kafka loop: red within ``alive_seconds`` of the loop
stopping, while the rest of the process (the HTTP thread, librdkafka's threads) runs on.

The loop is stopped as a stuck call or a deadlock would stop it: only its thread (the process's
main thread) is frozen, with ptrace (tests/plugins/freeze.py). SIGSTOP would stop the HTTP
thread too, and a probe that cannot answer says nothing about what it checks.
"""

from __future__ import annotations

import time

import pytest

from lobstream.settings import KafkaSettings
from tests.plugins.consumer import ConsumerFactory, RawWriter
from tests.plugins.freeze import frozen
from tests.plugins.service import ServiceProcess, http_get

pytestmark = pytest.mark.integration

ALIVE_SECONDS = 3.0
FREEZE_TRIES = 10


def _healthz(consumer: ServiceProcess, timeout: float = 5.0) -> int:
    return http_get(consumer.port, "/healthz", timeout=timeout)[0]


def test_a_stuck_kafka_loop_turns_healthz_red_within_its_deadline(
    kafka_settings: KafkaSettings, consumer_env: dict[str, str], consumer_factory: ConsumerFactory
) -> None:
    writer = RawWriter(kafka_settings, ["BTC-PERPETUAL"])
    writer.exchange_snapshots()
    writer.changes(200)
    writer.flush()
    consumer = consumer_factory(
        {**consumer_env, "LOBSTREAM_CONSUMER__ALIVE_SECONDS": str(ALIVE_SECONDS)}
    )
    consumer.wait_until(consumer.ready, 90, "the consumer ready")
    loop_thread = consumer.proc.pid  # the Kafka loop runs on the main thread (tid = pid)

    for _ in range(FREEZE_TRIES):
        with frozen(loop_thread):
            frozen_at = time.monotonic()
            # Frozen between two bytecodes, the thread would hold the GIL and no thread could
            # answer (a probe timeout: the kubelet counts that as a failure too). The loop
            # spends nearly all its time in poll(), outside the GIL; freeze it there.
            if _healthz(consumer, timeout=1.0) != 200:
                continue
            answers: list[tuple[float, int]] = []
            while time.monotonic() - frozen_at < ALIVE_SECONDS + 2.0:
                answers.append((time.monotonic() - frozen_at, _healthz(consumer)))
                if answers[-1][1] == 503:
                    break
                time.sleep(0.1)
            ready_while_stuck = http_get(consumer.port, "/readyz")[0]
        break
    else:
        pytest.fail(f"the loop thread held the GIL at each of {FREEZE_TRIES} freezes")

    red = [after for after, status in answers if status == 503]
    assert red, f"/healthz never went red while the loop was stuck: {answers}"
    # The last tick came at most one poll (0.1 s) before the freeze; one probe period of slack.
    assert ALIVE_SECONDS - 0.5 <= red[0] <= ALIVE_SECONDS + 1.0, answers
    assert all(status == 200 for _, status in answers[:-1]), answers
    assert ready_while_stuck == 503
    # Let go, the loop turns again and the probe says so.
    consumer.wait_until(lambda: _healthz(consumer) == 200, 10, "/healthz green again")
    assert consumer.proc.poll() is None
