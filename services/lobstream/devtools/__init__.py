"""Local use only: the local Kafka broker, ``lobstream demo`` and its terminal view.

Owns: :mod:`~lobstream.devtools.localkafka` (a KRaft broker from Maven Central jars),
:mod:`~lobstream.devtools.demo` and :mod:`~lobstream.devtools.liveview`.

May import anything in lobstream. Nothing in lobstream imports it except :mod:`lobstream.cli`
(the ``demo`` subcommand); tests and benchmarks use it freely.
"""
