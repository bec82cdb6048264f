"""The metrics port: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz`` (for Kubernetes
probes and load balancers).

- ``/healthz``: 200 while the process answers at all (a liveness probe: restart it if not).
- ``/readyz``: 200 while it should get traffic — serving (the audit log writable, not stopping)
  and the state store current (its revocation view confirmed); else 503 with the reason, so a
  replica cut off from Redis is taken out of rotation while its peers serve.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

#: What makes a process not ready, or None when it is.
Readiness = Callable[[], str | None]


def serve_http(
    host: str, port: int, registry: CollectorRegistry, not_ready: Readiness
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            path = self.path.partition("?")[0]
            if path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._send(200, b"ok\n")
            elif path == "/readyz":
                problem = not_ready()
                self._send(503 if problem else 200, f"{problem or 'ready'}\n".encode())
            else:
                self._send(404, b"not found: /metrics, /healthz or /readyz\n")

        def _send(self, status: int, body: bytes, kind: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
