"""Prometheus exposition and health endpoints for the services.

The per-message path never touches prometheus-client: services keep plain counters and state,
and a :class:`CallbackCollector` turns them into metric families (defined in
:mod:`lobstream.telemetry`) when Prometheus scrapes.
One small HTTP server per process serves ``/metrics``, ``/healthz`` and ``/readyz``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from lobstream.logs import BurstLog

log = logging.getLogger(__name__)

Probe = Callable[[], bool]
Route = Callable[[dict[str, str]], tuple[int, bytes, str]]
"""An extra GET endpoint: query parameters in, (status, body, content type) out."""


class CallbackCollector(Collector):
    """Collects by calling ``produce`` at scrape time."""

    def __init__(self, produce: Callable[[], Iterable[Metric]]) -> None:
        self._produce = produce

    def collect(self) -> Iterable[Metric]:
        return self._produce()


class MetricsServer:
    """``/metrics``, ``/healthz`` and ``/readyz`` on one port, in a daemon thread."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        host: str = "0.0.0.0",
        port: int = 8000,
        healthy: Probe,
        ready: Probe,
        routes: Mapping[str, Route] | None = None,
    ) -> None:
        self._registry = registry
        self._routes = dict(routes or {})
        self._healthy = healthy
        self._ready = ready
        # Kubernetes probes every few seconds: a probe that keeps failing logs its traceback
        # once per burst. Handler threads share it, hence the lock.
        self._probe_failures = BurstLog(log)
        self._probe_lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        log.info("metrics and health on port %d", self.port)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                route = server._routes.get(path)
                if route is not None:
                    params = {key: values[-1] for key, values in parse_qs(query).items()}
                    status, body, ctype = route(params)
                    self._send(status, body, ctype)
                elif path == "/metrics":
                    self._send(200, generate_latest(server._registry), CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    probe = server._healthy if path == "/healthz" else server._ready
                    ok = server._probe(path, probe)
                    self._send(200 if ok else 503, b"ok\n" if ok else b"not ok\n")
                else:
                    self._send(404, b"not found\n")

            def _send(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                # Scrapes every few seconds would drown the service's own log lines.
                return

        return Handler

    def _probe(self, path: str, probe: Probe) -> bool:
        """The probe's answer; a probe that raises answers no (logged once per burst)."""
        try:
            return bool(probe())
        except Exception:  # noqa: BLE001 - any failure answers no; logged with its traceback
            with self._probe_lock:
                self._probe_failures.log(
                    time.monotonic(), logging.ERROR, "%s probe failed", path, exc_info=True
                )
            return False
