"""The order book and its features: the exact L2 book, the feature catalogue, the router. No I/O.

Owns: :mod:`~lobstream.book.orderbook` (the book), :mod:`~lobstream.book.features` (features
over one book), :mod:`~lobstream.book.router` (envelope parsing and "the first book channel seen
feeds the instrument's book", used by the consumer, replay and the benchmark) and
:mod:`~lobstream.book.catalogue` (every feature's name, JSON key, metric family and column).

May import: the standard library, orjson, :mod:`lobstream.settings`, :mod:`lobstream.logs` and
:mod:`lobstream.deribit.protocol`. Never websockets, confluent_kafka or prometheus_client.
"""
