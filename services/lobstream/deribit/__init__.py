"""The Deribit client side: protocol framing, the sans-I/O session and the asyncio client.

Owns: :mod:`~lobstream.deribit.protocol` (frames, channel names, errors; no I/O),
:mod:`~lobstream.deribit.session` (the session state machine; no I/O), ``auth``, ``backoff``,
``events`` (no I/O) and :mod:`~lobstream.deribit.client` (asyncio + websockets around the session).

May import: :mod:`lobstream.settings`, :mod:`lobstream.logs`. Only ``client`` imports websockets;
nothing here imports confluent_kafka or prometheus_client.
"""
