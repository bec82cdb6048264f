"""How long a revocation takes to reach every replica: three agent-authz processes on one real
Redis, each under load, and ``agent-authz task revoke`` run again and again.

    .venv/bin/python -m bench.revocation [--revocations 200] [--replicas 3] [--json rev.json]

A stack (``authz/demo/stack.py``: sample API, Envoy, ``--replicas`` agent-authz processes, a
``redis-server``) is started on loopback ports. One thread per replica sends it Check requests
over gRPC without pause, each carrying the current task token. For every revocation: a new task
is issued; once every replica has allowed it, ``agent-authz task revoke`` runs as an operator
would (a new process); the clock starts when it returns and stops, per replica, at that
replica's first ``task_revoked`` deny (0 if it denied before the command returned: the push
can beat the command's own exit). The same from the revocation's write in Redis (its ``at``,
this host's clock): how long the push and reload take. Prints p50, p99 and max over every
(revocation, replica) of both, and exits 1 if any exceeds one second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import jwt
import redis
from envoy.service.auth.v3 import external_auth_pb2_grpc

from authz.demo.stack import Stack
from authz.devkit.world import DEMO_AGENTS
from bench.stages import check_request

AGENT = DEMO_AGENTS[0]
INTENT = "account_support"


class Replica(threading.Thread):
    """Checks without pause; notes, per task, the first allow and the first revoked deny."""

    def __init__(self, port: int, current: dict[str, Any], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stub = external_auth_pb2_grpc.AuthorizationStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        self.current, self.stop = current, stop
        self.allowed: dict[str, float] = {}
        self.revoked: dict[str, float] = {}
        self.checks = 0

    def run(self) -> None:
        while not self.stop.is_set():
            task_id, request = self.current["task_id"], self.current["request"]
            answer = self.stub.Check(request, timeout=5)
            now = time.time()  # wall clock: compared with the revocation's own time, on this host
            self.checks += 1
            if answer.status.code == 0:
                self.allowed.setdefault(task_id, now)
            elif any(h.header.value == "task_revoked" for h in answer.denied_response.headers):
                self.revoked.setdefault(task_id, now)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def until(check: Any, what: str, timeout: float = 10.0) -> None:  # polls; a deadline, no guess
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.001)


def run(revocations: int, replicas: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="agent-authz-revocation-") as tmp:
        stack = Stack.create(Path(tmp), authz_processes=replicas, store="redis").start()
        try:
            return _measure(stack, revocations, replicas)
        finally:
            stack.stop()


def _measure(stack: Stack, revocations: int, replicas: int) -> dict[str, Any]:
    cert_pem = stack.pki.agent_cert(AGENT).read_bytes()
    spiffe_id = stack.pki.spiffe_id(AGENT)

    def task() -> dict[str, Any]:
        token = stack.task_token(AGENT, intent=INTENT, principals=["alice"], ttl=900)
        headers = {"x-agent-task-token": token, "x-agent-intent": INTENT}
        request = check_request(cert_pem, spiffe_id, "GET", "/v1/users/alice", headers)
        return {"task_id": jwt.decode(token, options={"verify_signature": False})["jti"], "request": request}

    current, stop = task(), threading.Event()
    names = ["authz", *(f"authz{i}" for i in range(2, replicas + 1))]
    threads = [Replica(stack.ports[name], current, stop) for name in names]
    for t in threads:
        t.start()
    latencies: list[float] = []
    propagation: list[float] = []  # from the revocation's write in Redis (its ``at``)
    assert stack.redis is not None
    redis_client = redis.Redis.from_url(stack.redis.url)
    revoke = [sys.executable, "-m", "authz", "task", "revoke", "--config", str(stack.config_path)]
    try:
        for _ in range(revocations):
            current.update(task())
            task_id = current["task_id"]
            until(lambda: all(task_id in t.allowed for t in threads), "every replica allowed the task")  # noqa: B023
            subprocess.run([*revoke, task_id], check=True, capture_output=True, timeout=60)
            returned = time.time()
            until(lambda: all(task_id in t.revoked for t in threads), "every replica denied the task")  # noqa: B023
            latencies += [max(0.0, t.revoked[task_id] - returned) for t in threads]
            written = float(redis_client.hget(f"authz:task:{{{task_id}}}:revoked", "at") or 0)
            propagation += [t.revoked[task_id] - written for t in threads]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        redis_client.close()
    ms, written_ms = [1000 * x for x in latencies], [1000 * x for x in propagation]
    return {
        "revocations": revocations, "replicas": replicas, "samples": len(ms),
        "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(max(ms), 2), "checks": sum(t.checks for t in threads),
        "from_write_p50_ms": round(percentile(written_ms, 50), 2),
        "from_write_p99_ms": round(percentile(written_ms, 99), 2),
        "from_write_max_ms": round(max(written_ms), 2),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--revocations", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.revocations, args.replicas)
    print(
        f"{result['revocations']} revocations x {result['replicas']} replicas under load "
        f"({result['checks']} checks): from `agent-authz task revoke` returning to each replica's "
        f"first deny, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms; "
        f"from the revocation's write in Redis, p50 {result['from_write_p50_ms']} ms, "
        f"p99 {result['from_write_p99_ms']} ms, max {result['from_write_max_ms']} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if max(result["max_ms"], result["from_write_max_ms"]) < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
