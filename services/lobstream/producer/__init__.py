"""The producer service: exchange notifications into the Kafka raw topic.

Owns: :mod:`~lobstream.producer.core` (which records to write; no I/O),
:mod:`~lobstream.producer.stats` (plain counters; no I/O), :mod:`~lobstream.producer.metrics`
(the counters as metric families at scrape time) and :mod:`~lobstream.producer.service`
(confluent-kafka, asyncio and the HTTP endpoints around the core).

May import: :mod:`lobstream.deribit`, :mod:`lobstream.book`, :mod:`lobstream.records`,
:mod:`lobstream.kafka`, :mod:`lobstream.http`, :mod:`lobstream.settings`, :mod:`lobstream.logs`.
The core and the stats import no websockets, confluent_kafka or prometheus_client.
"""
