"""lobstream: Deribit order books through Kafka into market-microstructure indicators.

Top-level modules shared by every service: ``cli`` (the command), ``settings``, ``records`` (the
raw topic's format), ``kafka`` (client configs, topics), ``logs`` (log once per burst) and
``http`` (``/metrics``, ``/healthz``, ``/readyz``). Packages: ``deribit`` -> ``producer`` ->
``consumer`` over ``book``; ``simulator``; ``offline``; ``devtools`` (local use, only ``cli``
imports it).
"""

__version__ = "0.1.0"
