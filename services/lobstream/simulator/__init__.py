"""A Deribit-protocol exchange simulator: seeded synthetic books served over JSON-RPC WebSocket.

The server side of :mod:`lobstream.deribit.protocol`. May import :mod:`lobstream.deribit`
(protocol, auth) and websockets; ``market`` and ``merge`` are no-I/O. Never Kafka or Prometheus.

``Simulator`` is the asyncio server, ``start_in_thread`` runs one for synchronous code, ``Market``
is the sans-I/O synthetic book. See docs/simulator.md.
"""

from lobstream.simulator.market import InstrumentSpec, Market, MarketEvent, spec_for
from lobstream.simulator.server import RunningSimulator, Simulator, start_in_thread

__all__ = [
    "InstrumentSpec",
    "Market",
    "MarketEvent",
    "RunningSimulator",
    "Simulator",
    "spec_for",
    "start_in_thread",
]
