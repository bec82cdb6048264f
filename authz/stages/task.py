"""Stage 3 — task: a valid task token, bound to this connection's certificate, not revoked.

RFC 8725 throughout (``authz/tokens/jws.py``): the algorithm is pinned by the key, the ``kid`` is
looked up only among configured issuer keys, ``typ`` must be ``task+jwt``, and
``jku``/``x5u``/``jwk``/``x5c``/``crit`` are refused rather than ignored. Signature-verified
tokens are cached by their SHA-256 until they expire, so a repeated call pays no signature
check; time, binding and revocation are checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from authz.cache import BoundedCache
from authz.config import TasksConfig
from authz.model import Caller
from authz.reasons import Denied, Reason
from authz.store import StateStore
from authz.tokens.jws import ClaimsError, JwsError, JwsVerifier
from authz.tokens.task import TASK_TYP, Task, parse_claims

_CACHE_LIMIT = 16_384  # verified tokens; beyond it, a token not used lately is verified again


def _invalid(message: str) -> Denied:
    return Denied(Reason.TASK_TOKEN_INVALID, message)


class TaskStage:
    def __init__(self, settings: TasksConfig, store: StateStore) -> None:
        self._s = settings
        self._store = store
        self._jws = JwsVerifier(TASK_TYP, settings.keys, settings.algorithms)
        self._cache: BoundedCache[bytes, Task] = BoundedCache(_CACHE_LIMIT)

    def verify_for(self, token: str | None, caller: Caller, now: int) -> Task:
        """The task ``caller`` presents (stage 1 verified who it is and its certificate)."""
        return self.verify(token, caller.agent.spiffe_id, caller.thumbprint, now)

    def verify(self, token: str | None, agent_id: str, cert_thumbprint: str, now: int) -> Task:
        if not token:
            raise Denied(Reason.TASK_TOKEN_MISSING, "send the task token in x-agent-task-token")
        if len(token) > self._s.max_token_bytes:
            raise _invalid("the task token is larger than allowed")
        if not token.isascii():  # a compact JWS is base64url and dots
            raise _invalid("the task token is not a compact JWS")
        key = hashlib.sha256(token.encode()).digest()
        task = self._cache.get(key)
        if task is None:
            task = self._verify_signed(token)
            self._cache.put(key, task)  # least recently used out first: O(1) at any size
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
        try:
            _kid, claims = self._jws.claims(token)
        except JwsError as exc:
            raise _invalid(f"the task token is refused: {exc}") from None
        return self._task_from(claims)

    def _task_from(self, claims: dict[str, Any]) -> Task:
        if claims.get("iss") != self._s.issuer:
            raise _invalid("the task token is from another issuer")
        if claims.get("aud") != self._s.audience:
            raise _invalid("the task token is for another audience")
        try:
            task = parse_claims(claims, self._s.max_delegation_depth)
        except ClaimsError as exc:
            raise _invalid(f"the task token's claims are malformed: {exc}") from None
        if task.expires - task.issued_at > self._s.max_ttl:
            raise _invalid("the task token lives longer than the configured maximum")
        if task.expires <= task.not_before:
            raise _invalid("the task token's validity window is empty")
        return task
