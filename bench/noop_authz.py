"""A no-op ext_authz server: the floor agent-authz is measured against.

Same server shape as agent-authz (synchronous grpcio, a pool of 4 worker threads unless told
otherwise, gRPC health), but Check allows every request without looking at it.

    python -m bench.noop_authz --listen 127.0.0.1:PORT [--workers 4]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures
from typing import Any

import grpc
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from google.rpc import code_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization"
_OK = external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.OK))


class NoopAuthorization(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def Check(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        return _OK


def build_server(listen: str, workers: int = 4) -> tuple[grpc.Server, int]:
    pool = futures.ThreadPoolExecutor(max_workers=workers)
    server = grpc.server(pool, options=[("grpc.so_reuseport", 0)])
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(NoopAuthorization(), server)
    status = health.HealthServicer()
    for service in ("", AUTHZ_SERVICE):
        status.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(status, server)
    return server, server.add_insecure_port(listen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.noop_authz", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT, e.g. 127.0.0.1:9001")
    parser.add_argument("--workers", type=int, default=4, help="worker threads (default 4, as agent-authz)")
    args = parser.parse_args(argv)
    server, port = build_server(args.listen, args.workers)
    if port == 0:
        print(f"cannot listen on {args.listen}", file=sys.stderr)
        return 1
    wake = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: wake.set())
    server.start()
    print(f"no-op ext_authz serving on {args.listen}", flush=True)
    wake.wait()
    server.stop(2).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
