"""The consumer service: Kafka raw topic -> books -> features -> metrics and features topic.

Owns: :mod:`~lobstream.consumer.pipeline` (records to books; no I/O),
:mod:`~lobstream.consumer.rebuild` (where a partition's reading starts; no I/O),
:mod:`~lobstream.consumer.state` (what the service shares with the metrics and ``/book``),
:mod:`~lobstream.consumer.latency`, :mod:`~lobstream.consumer.metrics` (scrape-time families
and ``/book``, read from the state object only) and :mod:`~lobstream.consumer.service` (the
confluent-kafka loop).

May import: :mod:`lobstream.book`, :mod:`lobstream.records`, :mod:`lobstream.kafka`,
:mod:`lobstream.http`, :mod:`lobstream.settings`, :mod:`lobstream.logs`. The pipeline and rebuild
import no confluent_kafka or prometheus_client; nothing here imports the service but the CLI.
"""
