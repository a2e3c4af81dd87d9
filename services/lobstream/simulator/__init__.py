"""A Deribit-protocol exchange simulator: seeded synthetic books served over JSON-RPC WebSocket.

The server side of :mod:`lobstream.deribit.protocol`. May import :mod:`lobstream.deribit`
(protocol, auth) and websockets; ``market`` and ``merge`` are no-I/O. Never Kafka or Prometheus.

``server.Simulator`` is the asyncio server, ``server.start_in_thread`` runs one for synchronous
code, ``market.Market`` is the sans-I/O synthetic book. See docs/simulator.md.
"""
