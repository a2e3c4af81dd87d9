"""lobstream: Deribit order books through Kafka into market-microstructure indicators."""

__version__ = "0.1.0"
