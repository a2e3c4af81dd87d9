"""A real local Apache Kafka broker for tests, the demo and the benchmarks.

``python -m lobstream.devtools.localkafka fetch`` caches Kafka's jars from Maven Central;
``python -m lobstream.devtools.localkafka start`` runs a broker in the foreground.
"""

from lobstream.devtools.localkafka.broker import BrokerError, LocalKafka, free_ports, port_open
from lobstream.devtools.localkafka.jars import KAFKA_VERSION, ToolError, cache_dir, fetch

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "LocalKafka",
    "ToolError",
    "cache_dir",
    "fetch",
    "free_ports",
    "port_open",
]
