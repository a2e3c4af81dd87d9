"""Files of exchange frames: ``lobstream record`` writes them, ``lobstream replay`` reads them.

Owns: :mod:`~lobstream.offline.files` (``-`` or a path, ``.gz`` ok),
:mod:`~lobstream.offline.record` and :mod:`~lobstream.offline.replay` (which runs the consumer's
router, :mod:`lobstream.book.router`).

May import: :mod:`lobstream.book`, :mod:`lobstream.deribit`, :mod:`lobstream.settings`. Never Kafka.
"""
