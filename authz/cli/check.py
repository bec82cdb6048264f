"""`agent-authz check`: why was this request denied? The whole pipeline, offline.

The request is described in a JSON file (method, path, headers, body, the agent's certificate
file) and decided by the same ``Authorizer`` the server runs, against a copy of the SQLite
state (or the live Redis state, read only) and a throw-away audit log: nothing is spent,
revoked or recorded. The directory is the configured one — live, if it is a service — unless
``--directory FILE`` names a file; the first line of the output says which. Each stage's verdict
is printed; a deny is attributed to the stage its reason code belongs to (docs/design.md).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cryptography import x509

from authz.audit import AuditLog
from authz.config import Config, load_config
from authz.directory import Directory
from authz.directory.file import DirectoryFileError, FileDirectory
from authz.errors import RequestFileError
from authz.metrics import Metrics
from authz.model import Decision, RequestContext
from authz.pipeline import Authorizer
from authz.reasons import NOT_DENIES, STAGES
from authz.store import StateStore
from authz.store.dry_run import DryRunStore
from authz.store.open import open_store
from authz.store.sqlite import SqliteStore


def read_request(path: Path) -> RequestContext:
    try:
        spec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        cert_path = Path(_certificate_path(spec))
        if not cert_path.is_absolute():
            cert_path = path.parent / cert_path
        pem = cert_path.read_bytes()
        cert = x509.load_pem_x509_certificate(pem)
        body = spec.get("body", "")
        body_bytes = json.dumps(body).encode() if isinstance(body, dict) else str(body).encode()
        headers = {str(k).lower(): str(v) for k, v in spec.get("headers", {}).items()}
        if isinstance(body, dict):  # a body written as a JSON object is sent as JSON
            headers.setdefault("content-type", "application/json")
        method, request_path = str(spec["method"]), str(spec["path"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RequestFileError(f"{path}: {exc}") from None
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return RequestContext(
        method=method,
        path=request_path,
        headers=headers,
        body=body_bytes,
        principal=str(spec.get("principal", uris[0] if uris else "")),
        certificate=quote(pem.decode(), safe=""),  # as Envoy sends source.certificate
        request_id="offline-check",
    )


def _certificate_path(spec: dict[str, Any]) -> str:
    """``agent_certificate``: a path, never the PEM itself (which is not echoed back)."""
    value = spec.get("agent_certificate")
    if not isinstance(value, str) or not value.strip():
        raise ValueError("'agent_certificate' is required: the path of the agent's certificate (PEM)")
    if "-----BEGIN" in value:
        raise ValueError("'agent_certificate' is the path of a PEM file, not the certificate itself")
    return value


def decide_offline(
    config: Config, request: RequestContext, directory: Directory | None = None
) -> tuple[Decision, list[str]]:
    """The decision, and the tasks the server would have revoked (here: nothing is)."""
    with tempfile.TemporaryDirectory(prefix="agent-authz-check-") as tmp:
        offline = replace(config, audit=replace(config.audit, path=Path(tmp) / "audit"))
        store = DryRunStore(
            _sqlite_copy(config, Path(tmp)) if config.store.kind == "sqlite" else open_store(config)[0]
        )
        audit = AuditLog(offline.audit.path, fsync=False)
        try:
            decision = Authorizer(offline, audit, store, Metrics(), directory=directory).check(request)
            return decision, store.would_revoke
        finally:
            audit.close()
            store.close()


def _sqlite_copy(config: Config, tmp: Path) -> StateStore:
    """A consistent copy of the file (even while servers write), decided on and thrown away."""
    store_copy = tmp / "state.db"
    if config.store_path.exists():
        source, target = sqlite3.connect(config.store_path), sqlite3.connect(store_copy)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    return SqliteStore(store_copy)


def where(config: Config, directory_file: str | None) -> str:
    """What "offline" means for this check: which parts are copies, which are live."""
    state = (
        "a copy of the SQLite state" if config.store.kind == "sqlite" else "the live Redis state, read only"
    )
    d = config.directory
    if directory_file:
        looked_up = f"the directory file {directory_file}"
    elif d is None:
        looked_up = "no directory"
    elif d.kind == "file":
        looked_up = f"the directory file {d.path}"
    else:
        looked_up = f"the live {d.kind} directory at {d.url} (--directory FILE to use a file instead)"
    return f"deciding offline on {state}, {looked_up}, a throw-away audit log: nothing is changed"


def report(decision: Decision, would_revoke: Sequence[str] = ()) -> list[str]:
    failing = decision.failing_stage
    lines = []
    for number, name in enumerate(STAGES, start=1):
        if failing is None or number < failing:
            verdict = "pass" if _applies(decision, number) else "not needed"
        elif number == failing:
            message = decision.message.replace("; the task is revoked", "")
            verdict = f"DENY  {decision.reason}: {message}"
        else:
            verdict = "not reached"
        lines.append(f"stage {number:>2} {name:<10} {verdict}")
    lines.append(f"decision: {decision.status} {decision.reason}")
    lines += [f"the server would revoke task {t} (this check revoked nothing)" for t in would_revoke]
    if decision.body_extra:
        lines.append(json.dumps(decision.body_extra, indent=2))
    return lines


def _applies(decision: Decision, stage: int) -> bool:
    if stage == 6:
        return bool(decision.approvals or (decision.operation and decision.operation.gated))
    if stage == 9:
        return bool(decision.task and decision.task.max_calls is not None)
    return True


def check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        request = read_request(Path(args.request))
    except RequestFileError as exc:
        print(f"cannot check: {exc}", file=sys.stderr)
        return 2
    directory = None
    if args.directory:
        try:
            directory = FileDirectory(Path(args.directory))
        except DirectoryFileError as exc:
            print(f"cannot check: --directory: {exc}", file=sys.stderr)
            return 2
    print(where(config, args.directory))
    decision, would_revoke = decide_offline(config, request, directory)
    print("\n".join(report(decision, would_revoke)))
    return 0 if decision.allowed or decision.reason in NOT_DENIES else 1


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check", help="why was this denied? decide a described request offline, stage by stage"
    )
    p.add_argument("--config", required=True)
    p.add_argument("--request", required=True, help="JSON: method, path, headers, body, agent_certificate")
    p.add_argument(
        "--directory", metavar="FILE", help="decide on this directory file, not the configured one"
    )
    p.set_defaults(func=check)
