"""A Deribit-protocol exchange simulator: seeded synthetic books served over JSON-RPC WebSocket.

The server side of :mod:`lobstream.deribit.protocol`. May import :mod:`lobstream.deribit`
(protocol, auth) and websockets; ``market`` and ``merge`` are no-I/O. Never Kafka or Prometheus.

``server.Simulator`` is the asyncio server (tests run one in a thread with
``tests.plugins.threaded_simulator``), ``market.Market`` is the sans-I/O synthetic book.
See docs/simulator.md.
"""
