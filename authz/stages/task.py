"""Stage 3 — task: a valid task token, bound to this connection's certificate, not revoked.

RFC 8725 throughout: the algorithm is pinned by the key (one algorithm per configured key), the
``kid`` is looked up only among configured issuer keys, ``typ`` must be ``task+jwt``, and
``jku``/``x5u``/``jwk``/``x5c``/``crit`` are refused rather than ignored. Signature-verified
tokens are cached by their SHA-256 until they expire, so a repeated call pays no signature
check; time, binding and revocation are checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jwt

from authz.config import TasksConfig
from authz.keys import algorithm_of
from authz.reasons import Denied, Reason
from authz.store import StateStore
from authz.tasks import TASK_TYP, Task, TaskClaimsError, parse_claims

_REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit", "b64"})
_CACHE_LIMIT = 8192


def _invalid(message: str) -> Denied:
    return Denied(Reason.TASK_TOKEN_INVALID, message)


class TaskStage:
    def __init__(self, settings: TasksConfig, store: StateStore) -> None:
        self._s = settings
        self._store = store
        self._jws = jwt.PyJWS(algorithms=sorted(settings.algorithms))
        self._cache: dict[bytes, Task] = {}

    def verify(self, token: str | None, agent_id: str, cert_thumbprint: str, now: int) -> Task:
        if not token:
            raise Denied(Reason.TASK_TOKEN_MISSING, "send the task token in x-agent-task-token")
        if len(token) > self._s.max_token_bytes:
            raise _invalid("the task token is larger than allowed")
        key = hashlib.sha256(token.encode()).digest()
        task = self._cache.get(key)
        if task is None:
            task = self._verify_signed(token)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache = {k: t for k, t in self._cache.items() if t.expires + self._s.leeway >= now}
            self._cache[key] = task
        self._check_time(task, now)
        if not hmac.compare_digest(task.thumbprint, cert_thumbprint):
            raise Denied(Reason.TOKEN_BINDING_MISMATCH, "the task token is bound to another certificate")
        if task.agent != agent_id:
            raise Denied(Reason.TOKEN_BINDING_MISMATCH, "the task token's actor is another agent")
        if self._store.task_revoked(task.task_id):
            raise Denied(Reason.TASK_REVOKED, f"task {task.task_id} has been revoked")
        return task

    def _check_time(self, task: Task, now: int) -> None:
        if now > task.expires + self._s.leeway:
            raise Denied(Reason.TASK_TOKEN_EXPIRED, "the task token has expired")
        if now + self._s.leeway < task.not_before or now + self._s.leeway < task.issued_at:
            raise _invalid("the task token is not valid yet")

    def _verify_signed(self, token: str) -> Task:
        header = self._header(token)
        kid = header.get("kid")
        public_key = self._s.keys.get(kid) if isinstance(kid, str) else None
        if public_key is None:
            raise _invalid("the task token's kid is not a configured issuer key")
        alg = algorithm_of(public_key)
        if header.get("alg") != alg:
            raise _invalid("the task token's alg does not match its key")
        try:
            payload = self._jws.decode_complete(token, public_key, algorithms=[alg])["payload"]
            claims = json.loads(payload, object_pairs_hook=_no_duplicates)
        except (jwt.InvalidTokenError, ValueError, RecursionError):
            raise _invalid("the task token's signature or encoding is invalid") from None
        if not isinstance(claims, dict):
            raise _invalid("the task token's payload is not a JSON object")
        return self._task_from(claims)

    def _header(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _invalid("the task token is not a compact JWS") from None
        if header.get("typ") != TASK_TYP:
            raise _invalid("the token is not a task token (typ)")
        if header.get("alg") not in self._s.algorithms:
            raise _invalid("the task token's algorithm is not allowed")
        if _REFUSED_HEADERS & set(header):
            raise _invalid("the task token carries a header parameter that is never honoured")
        return header

    def _task_from(self, claims: dict[str, Any]) -> Task:
        if claims.get("iss") != self._s.issuer:
            raise _invalid("the task token is from another issuer")
        if claims.get("aud") != self._s.audience:
            raise _invalid("the task token is for another audience")
        try:
            task = parse_claims(claims, self._s.max_delegation_depth)
        except TaskClaimsError as exc:
            raise _invalid(f"the task token's claims are malformed: {exc}") from None
        if task.expires - task.issued_at > self._s.max_ttl:
            raise _invalid("the task token lives longer than the configured maximum")
        if task.expires <= task.not_before:
            raise _invalid("the task token's validity window is empty")
        return task


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate claim")
    return result
