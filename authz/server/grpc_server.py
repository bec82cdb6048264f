"""The running server: ext_authz Check, gRPC health, /metrics, clean shutdown."""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from envoy.service.auth.v3 import external_auth_pb2 as pb
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from authz.audit import AuditLog
from authz.audit.anchor import Anchorer
from authz.config import Config, load_config
from authz.envoy.adapter import ResponseEncoder, denied_response, to_request
from authz.metrics import Metrics
from authz.model import Decision
from authz.pipeline import Authorizer
from authz.policy.engine import SCHEMA_FILE
from authz.reasons import Reason
from authz.server.approvals_api import AgentApprovals
from authz.server.approvals_api import add_to_server as add_approvals_api
from authz.server.http import serve_http
from authz.server.outcomes import Outcomes
from authz.server.outcomes import add_to_server as add_outcomes
from authz.server.peers import ClientGate, server_credentials
from authz.server.webhook import NotifyingQueue, Webhook
from authz.store.open import open_store

log = logging.getLogger(__name__)
AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"


class AuthorizationServicer:
    """``Authorization/Check``; answers with serialised responses (see ``ResponseEncoder``)."""

    def __init__(
        self,
        authorizer: Authorizer,
        decided: Callable[[Decision, int], None] = lambda d, t: None,
        workers: int = 4,
    ) -> None:
        self._authorizer, self._decided = authorizer, decided
        self._deciding = threading.BoundedSemaphore(workers)  # decisions at once (README: why 4)
        self._encoder = ResponseEncoder()

    def use(self, authorizer: Authorizer) -> None:
        """Decide from now on with ``authorizer`` (a reload); calls in flight finish with the old one."""
        self._authorizer = authorizer

    def Check(self, request: pb.CheckRequest, context: Any) -> bytes:  # noqa: N802
        try:
            with self._deciding:
                started = time.time_ns()
                decision = self._authorizer.check(to_request(request))
            self._decided(decision, started)  # its outcome awaited, its span recorded
            return self._encoder.encode(decision)
        except Exception:  # never a gRPC error: Envoy could be configured to fail open on those
            log.exception("Check failed outside the pipeline")
            denied = denied_response(
                Reason.INTERNAL_ERROR, "the authorizer failed; the request is denied", uuid.uuid4().hex
            )
            return bytes(denied.SerializeToString())

    def handler(self) -> grpc.GenericRpcHandler:
        check = grpc.unary_unary_rpc_method_handler(
            self.Check, request_deserializer=pb.CheckRequest.FromString, response_serializer=_as_is
        )
        return grpc.method_handlers_generic_handler(AUTHZ_SERVICE, {"Check": check})


def _as_is(response: bytes) -> bytes:
    return response


def _tracing(config: Config) -> Any:
    """OpenTelemetry only when configured: nothing of it is imported otherwise."""
    if config.tracing is None:
        return None
    from authz.server.tracing import Tracing

    return Tracing(config.tracing)


class AuthzServer:
    """Owns every resource of one agent-authz process; ``start`` then ``stop`` (or ``wait``)."""

    def __init__(
        self,
        config: Config,
        *,
        listen: str | None = None,
        metrics_listen: str | None = None,
        overrides: Callable[[Config], Config] = lambda c: c,
        watch_interval: float | None = 1.0,
    ) -> None:
        self.config = config
        self._overrides, self._watch_interval = overrides, watch_interval
        self._reload_lock = threading.Lock()
        self._listen = listen or config.server.listen
        self._metrics_listen = metrics_listen or config.server.metrics_listen
        self.metrics = Metrics()
        self.health = health.HealthServicer()
        self.store, queue = open_store(config)
        self.audit = AuditLog(config.audit.path, fsync=config.audit.fsync, on_failure=self._audit_failed)
        self.webhook: Webhook | None = None
        if config.approvals.webhook_url:
            self.webhook = Webhook(
                config.approvals.webhook_url,
                timeout=config.approvals.webhook_timeout,
                on_failure=self.metrics.webhook_failures.inc,
            )
            queue = NotifyingQueue(queue, self.webhook)
        self._queue = queue
        self.authorizer = Authorizer(config, self.audit, self.store, self.metrics, queue=queue)
        # What the API did: Envoy's access log. Each of its streams holds a thread for as long as it
        # is open, so the pool has `outcome_streams` threads beyond the deciding ones, and Check
        # never waits for a thread a stream holds (Outcomes refuses streams beyond that).
        streams = config.server.outcome_streams
        self.outcomes = Outcomes(self.audit, self.metrics, max_streams=streams)
        self.tracing = _tracing(config)  # off by default
        self._servicer = AuthorizationServicer(self.authorizer, self._decided, config.server.workers)
        tls = config.server.tls
        self._grpc = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.server.workers + streams),
            options=[("grpc.so_reuseport", 0)],
            interceptors=[ClientGate(tls.allowed_clients)] if tls else [],  # only the sidecars named
        )
        self._grpc.add_generic_rpc_handlers((self._servicer.handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._grpc)
        add_approvals_api(AgentApprovals(queue, config.approvals.poll_interval), self._grpc)
        add_outcomes(self.outcomes, self._grpc)
        self._anchorer = Anchorer(self.audit, self.store)  # the chain's head, in the store each second
        self.port = 0
        self.metrics_port = 0
        self._metrics_http: Any = None
        self._stopped = threading.Event()

    def start(self) -> None:
        tls = self.config.server.tls
        if tls is not None:
            self.port = self._grpc.add_secure_port(self._listen, server_credentials(tls))
        else:
            self.port = self._grpc.add_insecure_port(self._listen)
        if self.port == 0:
            raise OSError(f"cannot listen on {self._listen}")
        host, _, port = self._metrics_listen.rpartition(":")
        self._metrics_http = serve_http(host, int(port), self.metrics.registry, self.not_ready)
        self.metrics_port = self._metrics_http.server_port
        self._grpc.start()
        self._anchorer.start()
        self.outcomes.start()
        for warning in self.config.warnings:
            log.warning("%s", warning)
        self._set_serving(True)
        if self._watch_interval is not None:
            threading.Thread(target=self._watch, name="config-watch", daemon=True).start()
        log.info(
            "agent-authz serving ext_authz on %s:%d, metrics on %s:%d",
            self._listen.rpartition(":")[0],
            self.port,
            host,
            self.metrics_port,
        )

    def _set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", AUTHZ_SERVICE):
            self.health.set(service, status)
        self.metrics.serving.set(1 if serving else 0)

    def _decided(self, decision: Decision, started_ns: int) -> None:
        """After each Check: a state-changing allow awaits its outcome; a span if tracing is on."""
        self.outcomes.expect(decision)
        if self.tracing is not None:
            self.tracing.record(decision, started_ns, time.time_ns())

    def not_ready(self) -> str | None:
        """Why this process should get no traffic now (``/readyz``), or None."""
        if self._stopped.is_set():
            return "stopping"
        if not self.audit.healthy:
            return "the audit log cannot be written"
        try:
            staleness = self.store.staleness()
        except Exception as exc:  # noqa: BLE001 - a probe answers, whatever the store does
            return f"the state store cannot say: {exc}"
        if staleness is not None:
            return f"the state store is not current ({staleness:.1f} s)"
        return None

    def _audit_failed(self) -> None:
        log.error("audit log %s cannot be written: denying every request", self.config.audit.path)
        self._set_serving(False)

    def stop(self, grace: float = 5.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._set_serving(False)
        self._grpc.stop(grace).wait()
        if self._metrics_http is not None:
            self._metrics_http.shutdown()
            self._metrics_http.server_close()
        if self.webhook is not None:
            self.webhook.close()
        self.outcomes.stop()
        if self.tracing is not None:
            self.tracing.shutdown()  # what is buffered is exported
        if self._anchorer.started:
            self._anchorer.stop()  # the final head, anchored before the log and the store close
        self.audit.close()
        self.store.close()
        log.info("agent-authz stopped")

    def reload(self) -> bool:
        """Read the config and policies again; on any problem keep deciding with the last good set.

        What belongs to the running process (listen addresses, workers, audit log, state store)
        is kept; changing it needs a restart.
        """
        with self._reload_lock:
            try:
                config = self._overrides(load_config(self.config.source))
                config = replace(
                    config,
                    server=self.config.server,
                    audit=self.config.audit,
                    store=self.config.store,
                )
                authorizer = Authorizer(config, self.audit, self.store, self.metrics, queue=self._queue)
            except Exception as exc:  # noqa: BLE001 - a reload never stops or breaks the server
                log.error("reload refused, still deciding with the previous config and policies: %s", exc)
                self.metrics.reloads.labels(result="failed").inc()
                return False
            self._servicer.use(authorizer)
            self.authorizer, self.config = authorizer, config
            self.metrics.reloads.labels(result="ok").inc()
            log.info("reloaded %s and its policies", config.source)
            return True

    def _watched(self) -> dict[Path, tuple[int, int]]:
        files = [self.config.source]
        if self.config.policy_dir is not None:
            files += sorted(self.config.policy_dir.glob("*.cedar")) + [self.config.policy_dir / SCHEMA_FILE]
        if self.config.directory is not None and self.config.directory.path is not None:
            files.append(self.config.directory.path)
        seen = {}
        for path in files:
            try:
                info = path.stat()
                seen[path] = (info.st_mtime_ns, info.st_size)
            except OSError:
                seen[path] = (-1, -1)
        return seen

    def _watch(self) -> None:
        """Reload when the config, a policy file or the directory file changes."""
        assert self._watch_interval is not None
        last = self._watched()
        while not self._stopped.wait(self._watch_interval):
            current = self._watched()
            if current != last:
                self.reload()
                last = self._watched()

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down cleanly; SIGHUP reloads."""
        wake = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: wake.set())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        self.start()
        wake.wait()
        self.stop()
