"""Settings for every lobstream service, read from the environment.

Every field can be set as ``LOBSTREAM_<SECTION>__<FIELD>``, for example
``LOBSTREAM_DERIBIT__INSTRUMENTS=BTC-PERPETUAL,ETH-PERPETUAL`` or
``LOBSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:9092``. Lists accept either a JSON
array or a comma-separated string.

A setting that does not validate raises :class:`SettingsError`, which names the
environment variable; the command line turns it into one line and exit code 2.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "LOBSTREAM_"
ENV_NESTED = "__"

DERIBIT_URLS = {
    "production": "wss://www.deribit.com/ws/api/v2",
    "testnet": "wss://test.deribit.com/ws/api/v2",
    "simulator": "ws://127.0.0.1:8765/ws/api/v2",
}

BookInterval = Literal["100ms", "raw", "agg2"]
ChannelKind = Literal["book", "grouped_book", "ticker", "trades"]


def _split_csv(value: Any) -> Any:
    """Accept ``a,b`` as well as ``["a", "b"]`` for list settings."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


def _default_channels() -> list[ChannelKind]:
    return ["book", "ticker"]


class DeribitSettings(BaseModel):
    """The exchange session: where to connect and what to subscribe to."""

    url: str = Field(
        default=DERIBIT_URLS["production"],
        description="WebSocket URL, or one of: production, testnet, simulator.",
    )
    instruments: CsvList = Field(default_factory=lambda: ["BTC-PERPETUAL"], min_length=1)
    channels: Annotated[list[ChannelKind], NoDecode] = Field(
        default_factory=_default_channels, min_length=1
    )
    book_interval: BookInterval | None = Field(
        default=None,
        description="Incremental book interval; defaults to raw with credentials, else 100ms.",
    )
    grouped_group: str = "none"
    grouped_depth: Literal[1, 10, 20] = 10
    grouped_interval: Literal["100ms", "agg2"] = "100ms"
    ticker_interval: BookInterval = "100ms"
    trades_interval: BookInterval = "100ms"
    heartbeat_seconds: int = Field(default=10, ge=10, le=3600)
    request_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    backoff_initial_seconds: float = Field(default=0.5, gt=0, le=60)
    backoff_max_seconds: float = Field(default=30.0, gt=0, le=3600)
    backoff_rate_limited_seconds: float = Field(
        default=5.0,
        ge=0,
        le=3600,
        description="Minimum wait after 10028 or another retriable exchange error.",
    )
    subscribe_batch_bytes: int = Field(default=16_000, ge=512, le=30_000)
    client_id: str | None = None
    client_secret: SecretStr | None = None
    auth_grant: Literal["client_credentials", "client_signature"] = "client_credentials"
    auth_session_name: str | None = Field(
        default="lobstream", description="Token scope session:NAME, so reconnects reuse it."
    )
    max_queue: int = Field(default=10_000, ge=1, le=10_000_000)

    @field_validator("instruments", "channels", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = DERIBIT_URLS.get(value, value)
        if not value.startswith(("ws://", "wss://")):
            raise ValueError("must be a ws:// or wss:// URL, or production, testnet, simulator")
        return value

    @field_validator("instruments")
    @classmethod
    def _instruments(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or any(ch.isspace() or ch == "." for ch in name):
                raise ValueError(f"{name!r} is not an instrument name")
        if len(set(value)) != len(value):
            raise ValueError("lists an instrument twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DeribitSettings:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_initial_seconds")
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError("client_id and client_secret must be set together")
        if self.book_interval == "raw" and self.client_id is None:
            raise ValueError("book_interval raw needs client_id and client_secret")
        return self

    @property
    def authenticated(self) -> bool:
        return self.client_id is not None

    @property
    def effective_book_interval(self) -> BookInterval:
        if self.book_interval is not None:
            return self.book_interval
        return "raw" if self.authenticated else "100ms"


class KafkaSettings(BaseModel):
    """Broker connection, topics and security; matches what a Strimzi KafkaUser provides."""

    bootstrap_servers: str = ""
    raw_topic: str = "deribit.raw"
    features_topic: str = "lobstream.features"
    group_id: str = "lobstream-consumer"
    client_id: str = "lobstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    # Each topic has its own partitions and retention, used by whichever service creates it
    # (the producer the raw topic, the consumer both). Retention None: the broker's default.
    raw_topic_partitions: int = Field(default=6, ge=1, le=10_000)
    raw_topic_retention_hours: float | None = Field(default=None, gt=0, le=876_000)
    features_topic_partitions: int = Field(default=3, ge=1, le=10_000)
    features_topic_retention_hours: float | None = Field(default=None, gt=0, le=876_000)
    topic_partitions: None = Field(default=None, exclude=True)
    """Replaced by raw_topic_partitions and features_topic_partitions; set, it is a bad setting
    rather than silently ignored."""
    topic_replication_factor: int = Field(default=1, ge=1, le=32)
    linger_ms: int = Field(default=5, ge=0, le=10_000)
    compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    buffer_max_messages: int = Field(default=100_000, ge=1_000, le=10_000_000)

    @field_validator("topic_partitions", mode="before")
    @classmethod
    def _removed(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "was replaced: set RAW_TOPIC_PARTITIONS and FEATURES_TOPIC_PARTITIONS instead"
            )
        return None

    @model_validator(mode="after")
    def _sasl(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and (
            self.sasl_username is None or self.sasl_password is None
        ):
            raise ValueError("SASL needs sasl_username and sasl_password")
        return self


class MetricsSettings(BaseModel):
    """The HTTP server for /metrics, /healthz and /readyz.

    Metric names are fixed (dashboards and alerts depend on them, see lobstream.telemetry), so
    there is no prefix setting; an unknown field here, such as the removed ``prefix``, is a bad
    setting rather than silently ignored.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=0, le=65535)


class FeatureSettings(BaseModel):
    """Which indicators the consumer computes."""

    imbalance_depths: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [5, 10])
    ofi_windows_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [1.0, 10.0]
    )
    publish_interval_seconds: float = Field(default=1.0, gt=0, le=3600)

    @field_validator("imbalance_depths", "ofi_windows_seconds", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("imbalance_depths")
    @classmethod
    def _depths(cls, value: list[int]) -> list[int]:
        if any(depth < 1 or depth > 1000 for depth in value):
            raise ValueError("depths must be between 1 and 1000")
        return value

    @field_validator("ofi_windows_seconds")
    @classmethod
    def _windows(cls, value: list[float]) -> list[float]:
        if any(not 0 < window <= 86_400 for window in value):
            raise ValueError("windows must be in (0, 86400] seconds")
        return value


class ProducerSettings(BaseModel):
    """The producer service's own knobs."""

    snapshot_interval_seconds: float = Field(default=30.0, gt=0, le=86_400)
    shutdown_grace_seconds: float = Field(default=20.0, gt=0, le=600)
    backpressure: Literal["block", "drop-and-resync"] = "block"
    delivery_timeout_seconds: float = Field(
        default=300.0,
        ge=1,
        le=86_400,
        description="How long Kafka may take to deliver a record before it counts as lost "
        "(message.timeout.ms); a lost book record is repaired with a snapshot.",
    )
    partition_move_delay_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3_600,
        description="After the raw topic grows, how long to wait before moving instruments to "
        "their new partitions, so consumers are assigned them first (their metadata refresh).",
    )


class ConsumerSettings(BaseModel):
    """The consumer service's own knobs."""

    batch_size: int = Field(default=1000, ge=1, le=100_000)
    poll_timeout_seconds: float = Field(default=0.1, gt=0, le=10)
    commit_interval_seconds: float = Field(default=1.0, gt=0, le=600)
    rebuild_lookback_seconds: float | None = Field(
        default=None,
        gt=0,
        le=7 * 86_400,
        description="How far back to look for a snapshot when commit metadata does not say; "
        "defaults to twice the producer's snapshot interval.",
    )
    alive_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="/healthz fails when the Kafka loop has made no progress for this long "
        "(the liveness probe then restarts a stuck consumer). Above the longest bounded "
        "Kafka call the loop makes (topic checks at start-up: up to 30 s); must exceed "
        "poll_timeout_seconds.",
    )

    @model_validator(mode="after")
    def _alive(self) -> ConsumerSettings:
        if self.alive_seconds <= self.poll_timeout_seconds:
            raise ValueError("alive_seconds must be greater than poll_timeout_seconds")
        return self


class Settings(BaseSettings):
    """All settings of all services; each service reads the sections it needs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED,
        extra="ignore",
        case_sensitive=False,
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    deribit: DeribitSettings = Field(default_factory=DeribitSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    producer: ProducerSettings = Field(default_factory=ProducerSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)


class SettingsError(Exception):
    """A setting failed validation; ``setting`` is the environment variable to fix."""

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable for a validation error location."""
    fields = [str(part) for part in loc if isinstance(part, str)]
    return ENV_PREFIX + ENV_NESTED.join(field.upper() for field in fields)


def load(**overrides: Any) -> Settings:
    """Read settings from the environment, with keyword overrides taking precedence."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(env_name(first["loc"]), first["msg"]) from None
    except ValueError as exc:
        # pydantic-settings raises a bare ValueError (wrapping a JSON error) for undecodable
        # complex values; its message names the field.
        raise SettingsError(ENV_PREFIX + "*", str(exc).splitlines()[0]) from None


SectionT = TypeVar("SectionT", bound=BaseModel)


def override(section: str, current: SectionT, **values: Any) -> SectionT:
    """``current`` (the ``section`` settings) with command-line ``values`` applied.

    Values that are None are left alone; the rest are validated as the environment's are, and a
    bad one raises :class:`SettingsError` naming the variable it overrides.
    """
    changes = {name: value for name, value in values.items() if value is not None}
    if not changes:
        return current
    try:
        return type(current).model_validate(current.model_dump() | changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingsError(env_name((section, *first["loc"])), first["msg"]) from None
