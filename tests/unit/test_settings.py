"""Settings come from LOBSTREAM_* variables; a bad one names itself."""

from __future__ import annotations

import pytest

from lobstream import settings
from lobstream.settings import SettingsError


def test_lists_accept_commas_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBSTREAM_DERIBIT__INSTRUMENTS", "BTC-PERPETUAL, ETH-PERPETUAL")
    monkeypatch.setenv("LOBSTREAM_DERIBIT__CHANNELS", '["book", "trades"]')
    monkeypatch.setenv("LOBSTREAM_FEATURES__IMBALANCE_DEPTHS", "3,20")
    loaded = settings.load()
    assert loaded.deribit.instruments == ["BTC-PERPETUAL", "ETH-PERPETUAL"]
    assert loaded.deribit.channels == ["book", "trades"]
    assert loaded.features.imbalance_depths == [3, 20]


def test_url_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBSTREAM_DERIBIT__URL", "testnet")
    assert settings.load().deribit.url == "wss://test.deribit.com/ws/api/v2"


def test_raw_book_needs_credentials_and_defaults_to_it_with_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.load().deribit.effective_book_interval == "100ms"
    monkeypatch.setenv("LOBSTREAM_DERIBIT__CLIENT_ID", "id")
    monkeypatch.setenv("LOBSTREAM_DERIBIT__CLIENT_SECRET", "s3cr3t-value")
    loaded = settings.load()
    assert loaded.deribit.effective_book_interval == "raw"
    assert "s3cr3t-value" not in repr(loaded)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LOBSTREAM_DERIBIT__HEARTBEAT_SECONDS", "5"),
        ("LOBSTREAM_DERIBIT__URL", "http://example"),
        ("LOBSTREAM_DERIBIT__CHANNELS", "book,orders"),
        ("LOBSTREAM_KAFKA__SECURITY_PROTOCOL", "TLS"),
        ("LOBSTREAM_METRICS__PORT", "70000"),
        ("LOBSTREAM_FEATURES__OFI_WINDOWS_SECONDS", "1,-3"),
    ],
)
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        settings.load()
    assert caught.value.setting == variable


def test_cross_field_rules_name_the_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SettingsError) as caught:
        settings.load()
    assert caught.value.setting == "LOBSTREAM_KAFKA"
    assert "sasl_username" in caught.value.reason


def test_the_removed_metrics_prefix_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # Metric names are fixed (dashboards and alerts use them): the old knob must not be ignored.
    monkeypatch.setenv("LOBSTREAM_METRICS__PREFIX", "myteam")
    with pytest.raises(SettingsError) as caught:
        settings.load()
    assert caught.value.setting == "LOBSTREAM_METRICS__PREFIX"


def test_the_consumer_liveness_deadline_must_exceed_its_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOBSTREAM_CONSUMER__POLL_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("LOBSTREAM_CONSUMER__ALIVE_SECONDS", "5")
    with pytest.raises(SettingsError, match="alive_seconds must be greater"):
        settings.load()


def test_the_replaced_topic_partitions_is_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    # It used to size both topics; ignoring it now would silently change a deployment's topics.
    monkeypatch.setenv("LOBSTREAM_KAFKA__TOPIC_PARTITIONS", "12")
    with pytest.raises(SettingsError) as caught:
        settings.load()
    assert caught.value.setting == "LOBSTREAM_KAFKA__TOPIC_PARTITIONS"
    assert "RAW_TOPIC_PARTITIONS" in caught.value.reason


def test_each_topic_has_its_own_partitions_and_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOBSTREAM_KAFKA__RAW_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("LOBSTREAM_KAFKA__RAW_TOPIC_RETENTION_HOURS", "24")
    monkeypatch.setenv("LOBSTREAM_KAFKA__FEATURES_TOPIC_PARTITIONS", "3")
    kafka = settings.load().kafka
    assert (kafka.raw_topic_partitions, kafka.raw_topic_retention_hours) == (12, 24.0)
    assert (kafka.features_topic_partitions, kafka.features_topic_retention_hours) == (3, None)
