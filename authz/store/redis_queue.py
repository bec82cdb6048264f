"""The approval queue in Redis, beside the Redis state store (same client, same key prefix).

    {p}:apr:ID            hash: the request's fields (``NewRequest``), created, status, decided_by, reason
    {p}:apr:ID:tokens     hash: approver -> "at\\ttoken"
    {p}:requests          sorted set: request id -> created (newest first for listings)
    {p}:open:AGENT\\0TASK\\0REQ   the pending request for that agent, task and request hash
    {p}:filed:AGENT       sorted set: request ids the agent filed, by time (the rate limit)

Filing, approving and denying are each one script, so replicas filing the same request at once
get one id, and two approvers approving at once both count. Requests are kept ``retention``
seconds past their task's expiry, then expire with their tokens.
"""

from __future__ import annotations

import secrets
from dataclasses import astuple, fields
from typing import Any

from redis.commands.core import Script

from authz.store import StoreUnavailable
from authz.store.queue import ApprovalRequest, NewRequest, QueueError, RequestStatus
from authz.store.redis_store import RedisStore, StoreErrors, text

_FIELDS = [f.name for f in fields(NewRequest)]
_INTS = {"approvers_needed"}
_FLOATS = {"expires"}

FILE = """
-- KEYS: open, filed, requests; ARGV: id, now, window, per_agent, needed, expire_at, prefix, then field pairs
local existing = redis.call('GET', KEYS[1])
if existing then
  local key = ARGV[7] .. ':apr:' .. existing
  local expires = tonumber(redis.call('HGET', key, 'expires') or '-1')
  if redis.call('HGET', key, 'status') == 'pending' and expires >= tonumber(ARGV[2]) then
    local needed = tonumber(redis.call('HGET', key, 'approvers_needed'))
    if tonumber(ARGV[5]) > needed then redis.call('HSET', key, 'approvers_needed', ARGV[5]) end
    return {existing, 0}
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return false end
local key = ARGV[7] .. ':apr:' .. ARGV[1]
redis.call('HSET', key, 'created', ARGV[2], 'status', 'pending', unpack(ARGV, 8))
redis.call('EXPIREAT', key, ARGV[6])
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIREAT', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return {ARGV[1], 1}
"""

DECIDE = """
-- KEYS: request, tokens; ARGV: now, action ('approve'|'deny'), approver/by, token/reason
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'pending' then return status end
if tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'expires')) then return 'expired' end
if ARGV[2] == 'deny' then
  redis.call('HSET', KEYS[1], 'status', 'denied', 'decided_by', ARGV[3], 'reason', ARGV[4])
  return 'ok'
end
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return 'twice' end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1] .. '\\t' .. ARGV[4])
redis.call('EXPIREAT', KEYS[2], redis.call('EXPIRETIME', KEYS[1]))
local approvers = redis.call('HKEYS', KEYS[2])
if #approvers >= tonumber(redis.call('HGET', KEYS[1], 'approvers_needed')) then
  table.sort(approvers)
  redis.call('HSET', KEYS[1], 'status', 'approved', 'decided_by', table.concat(approvers, ','))
end
return 'ok'
"""


class RedisQueue:
    def __init__(self, store: RedisStore, retention: int = 7 * 86400) -> None:
        self._client, self._retention = store.client, retention
        self._p = "{" + store.prefix + "}"
        self._requests = f"{self._p}:requests"
        self._file, self._decide = self._client.register_script(FILE), self._client.register_script(DECIDE)

    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        open_key = f"{self._p}:open:{new.agent}\0{new.task_id}\0{new.req}"
        pairs: list[Any] = []
        for name, value in zip(_FIELDS, astuple(new), strict=True):
            if value is not None:
                pairs += [name, value]
        request_id = f"apr-{secrets.token_hex(8)}"
        args = [request_id, now, window, per_agent, new.approvers_needed,
                int(new.expires + self._retention), self._p, *pairs]  # fmt: skip
        keys = [open_key, f"{self._p}:filed:{new.agent}", self._requests]
        answer = self._call(self._file, keys, args)
        if answer is None:
            return None
        found, filed = answer
        return text(found), bool(filed)

    def get(self, request_id: str, *, now: float) -> ApprovalRequest | None:
        try:
            pipe = self._client.pipeline(transaction=False)
            pipe.hgetall(f"{self._p}:apr:{request_id}")
            pipe.hgetall(f"{self._p}:apr:{request_id}:tokens")
            row, tokens = pipe.execute()
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis approval queue: {exc}") from None
        return _request(request_id, row, tokens, now) if row else None

    def requests(
        self, *, now: float, status: RequestStatus | None = None, limit: int = 100
    ) -> list[ApprovalRequest]:
        try:
            ids = [text(i) for i in self._client.zrevrange(self._requests, 0, -1)]
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis approval queue: {exc}") from None
        found: list[ApprovalRequest] = []
        for request_id in ids:
            request = self.get(request_id, now=now)
            if request is None:
                try:
                    self._client.zrem(self._requests, request_id)  # expired with its task
                except StoreErrors:
                    pass  # tidied on a later listing
            elif status is None or request.status is status:
                found.append(request)
                if len(found) == limit:
                    break
        return found

    def add_approval(self, request_id: str, approver: str, token: str, *, now: float) -> ApprovalRequest:
        return self._decided(request_id, now, "approve", approver, token)

    def deny(self, request_id: str, *, by: str, reason: str, now: float) -> ApprovalRequest:
        return self._decided(request_id, now, "deny", by, reason)

    def _decided(self, request_id: str, now: float, action: str, who: str, reason: str) -> ApprovalRequest:
        key = f"{self._p}:apr:{request_id}"
        answer = text(self._call(self._decide, [key, f"{key}:tokens"], [now, action, who, reason]))
        if answer == "missing":
            raise QueueError(f"no approval request {request_id}")
        if answer == "twice":
            raise QueueError(f"{who} has already approved {request_id}")
        if answer != "ok":
            raise QueueError(f"{request_id} is {answer}, not pending")
        updated = self.get(request_id, now=now)
        assert updated is not None
        return updated

    def _call(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis approval queue: {exc}") from None


def _request(
    request_id: str, row: dict[bytes, bytes], tokens: dict[bytes, bytes], now: float
) -> ApprovalRequest:
    values = {k.decode(): v for k, v in row.items()}
    kwargs: dict[str, object] = {}
    for name in _FIELDS:
        raw = values.get(name)
        if raw is None:
            kwargs[name] = None
        elif name == "body":
            kwargs[name] = raw
        elif name in _INTS:
            kwargs[name] = int(raw)
        elif name in _FLOATS:
            kwargs[name] = float(raw)
        else:
            kwargs[name] = raw.decode()
    new = NewRequest(**kwargs)  # type: ignore[arg-type]
    state = RequestStatus(values["status"].decode())
    if state is RequestStatus.PENDING and now > new.expires:
        state = RequestStatus.EXPIRED
    approvals = sorted(
        (float(v.split(b"\t", 1)[0]), k.decode(), v.split(b"\t", 1)[1].decode()) for k, v in tokens.items()
    )
    decided_by, reason = values.get("decided_by"), values.get("reason")
    return ApprovalRequest(
        request_id, new, float(values["created"]), state,
        decided_by.decode() if decided_by else None, reason.decode() if reason else None,
        tuple((a, t) for _, a, t in approvals),
    )  # fmt: skip


def _split(tokens: dict[bytes, bytes]) -> list[tuple[bytes, tuple[bytes, bytes]]]:
    """approver -> "at\ttoken" as (approver, (at, token))."""
    return [(k, (v.split(b"\t", 1)[0], v.split(b"\t", 1)[1])) for k, v in tokens.items()]
