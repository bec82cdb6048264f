"""Redis state store: the same guarantees as the SQLite file, across processes on several hosts.

Keys (``{p}`` is ``key_prefix`` in braces: Redis Cluster's hash tag, so the shared keys live in
one slot; a task's keys carry the task id as their tag, so stage 10's script touches one slot):

    {p}:version                 change counter (revocations, suspensions); published on {p}:changes
    {p}:revocations             sorted set: task id -> when revoked (pruned past ``keep_seconds``)
    {p}:suspended               hash: SPIFFE ID -> "by\\tat"
    p:task:{ID}:revoked         hash reason/by/at, kept ``keep_seconds`` (longer than any task lives)
    p:task:{ID}:calls           the task's budget counter, until the task expires
    p:task:{ID}:approval:AID    an approval consumed for the task, until the task expires

``task_revoked`` and ``agent_suspended`` are answered from memory (``redis_view.py``); every
other call is one round trip, or one script. A revocation is written to the task's mark first
and then to the index, so a reader never sees it listed yet not in force.

While the view is current (confirmed within ``current_for`` seconds) every read is answered.
Past that, ``reads_when_unavailable = "deny"`` refuses (``StoreUnavailable``); ``"allow"`` answers
from the view for at most ``max_staleness`` seconds and ``staleness()`` says how old it is: the
pipeline lets only reads through on it, and audits them (docs/design.md, "State store").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import redis

from authz.store import AuditAnchor, CommitOutcome, Revocation, StoreOpenError, StoreUnavailable
from authz.store.redis_scripts import ANCHOR, COMMIT, REVOKE
from authz.store.redis_view import View, ViewKeeper

StoreErrors = (redis.RedisError, OSError)


SKEW_MARGIN = 3600  # seconds what is spent is kept past its expiry: above any leeway, any skew


def text(value: object) -> str:
    """A Redis reply (bytes) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "authz",
        keep_seconds: int = 86400,
        reads_when_unavailable: str = "deny",
        max_staleness: float = 5.0,
        replicas: int = 0,
        replica_wait_ms: int = 200,
        margin: int = SKEW_MARGIN,
        refresh_interval: float = 0.25,
        current_for: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client, self.prefix, self._clock = client, prefix, clock
        self._keep, self._replicas, self._replica_wait_ms = keep_seconds, replicas, replica_wait_ms
        self._margin = margin  # past a token's exp: its leeway and the hosts' clock skew
        self._degraded_reads, self._max_staleness, self._current_for = (
            reads_when_unavailable == "allow", max_staleness, current_for,
        )  # fmt: skip
        tag = "{" + prefix + "}"
        self._version, self._channel = f"{tag}:version", f"{tag}:changes"
        self._index, self._suspended = f"{tag}:revocations", f"{tag}:suspended"
        self._anchors = f"{tag}:audit-anchors"
        self._anchor = client.register_script(ANCHOR)
        self._commit = client.register_script(COMMIT)
        self._revoke = client.register_script(REVOKE)
        self._keeper = ViewKeeper(
            client, self._channel, self._version, self._load, refresh_interval=refresh_interval
        )
        self._closed = False
        try:
            self._keeper.start()
        except StoreErrors as exc:
            raise StoreOpenError(f"cannot open the Redis state store: {exc}") from None

    def _task_key(self, task_id: str, what: str) -> str:
        return f"{self.prefix}:task:{{{task_id}}}:{what}"

    # -- the view: what every request asks --

    def _load(self) -> tuple[int, frozenset[str], frozenset[str]]:
        """Version and both sets, in one MULTI (one slot), pruning revocations past ``keep``."""
        horizon = self._clock() - self._keep
        pipe = self.client.pipeline(transaction=True)
        pipe.zremrangebyscore(self._index, "-inf", horizon)
        pipe.get(self._version)
        pipe.zrange(self._index, 0, -1)
        pipe.hkeys(self._suspended)
        _, version, revoked, suspended = pipe.execute()
        return (
            int(version or 0),
            frozenset(map(text, revoked)),
            frozenset(map(text, suspended)),
        )

    def view(self) -> View:
        if self._closed:
            raise StoreUnavailable("the Redis state store is closed")
        view = self._keeper.view
        age = time.monotonic() - view.confirmed
        if age <= self._current_for or (self._degraded_reads and age <= self._max_staleness):
            return view
        raise StoreUnavailable(f"Redis has not confirmed the revocation state for {age:.1f} s")

    def staleness(self) -> float | None:
        """None while the view is current; else the age in seconds of what reads are answered from."""
        age = time.monotonic() - self._keeper.view.confirmed
        return None if age <= self._current_for else age

    def task_revoked(self, task_id: str) -> bool:
        return task_id in self.view().revoked

    def agent_suspended(self, spiffe_id: str) -> bool:
        return spiffe_id in self.view().suspended

    # -- writes by operators and by stage 10 --

    def _changed(self) -> None:
        """Tell every replica (pushed, then found by the version check if the push is lost)."""
        version = self.client.incr(self._version)
        self.client.publish(self._channel, version)
        self._keeper.refresh()  # this process sees its own change on its next request

    def revoke_task(self, task_id: str, *, reason: str, by: str) -> bool:
        at = self._clock()
        try:
            added = self._revoke(keys=[self._task_key(task_id, "revoked")], args=[reason, by, at, self._keep])
            self.client.zadd(self._index, {task_id: at}, nx=True)
            self._changed()
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None
        return bool(added)

    def revocations(self, limit: int = 100) -> list[Revocation]:
        if limit <= 0:
            return []
        try:
            ids = [text(t) for t in self.client.zrevrange(self._index, 0, limit - 1)]
            pipe = self.client.pipeline(transaction=False)
            for task_id in ids:
                pipe.hgetall(self._task_key(task_id, "revoked"))
            rows = pipe.execute()
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None
        return [
            Revocation(task_id, row[b"reason"].decode(), row[b"by"].decode(), float(row[b"at"]))
            for task_id, row in zip(ids, rows, strict=True)
            if row  # expired with its task
        ]

    def set_agent_suspended(self, spiffe_id: str, suspended: bool, *, by: str) -> None:
        try:
            if suspended:  # an agent already suspended keeps its first who/when
                self.client.hsetnx(self._suspended, spiffe_id, f"{by}\t{self._clock()}")
            else:
                self.client.hdel(self._suspended, spiffe_id)
            self._changed()
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None

    def suspended_agents(self) -> list[str]:
        try:
            return sorted(map(text, self.client.hkeys(self._suspended)))
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None

    def task_calls(self, task_id: str) -> int:
        try:
            return int(self.client.get(self._task_key(task_id, "calls")) or 0)
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None

    def approval_consumed(self, approval_id: str, task_id: str) -> bool:
        try:
            return bool(self.client.exists(self._task_key(task_id, f"approval:{approval_id}")))
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None

    def commit_allow(
        self,
        *,
        task_id: str | None,
        max_calls: int | None,
        approval_ids: Sequence[str] = (),
        keep_until: float | None = None,
        approvals_until: float | None = None,
    ) -> CommitOutcome:
        if max_calls is None and not approval_ids:  # nothing to spend: answered from memory
            revoked = task_id is not None and self.task_revoked(task_id)
            return CommitOutcome.TASK_REVOKED if revoked else CommitOutcome.ALLOWED
        if len(set(approval_ids)) != len(approval_ids):
            return CommitOutcome.APPROVAL_REPLAYED  # one approval presented twice in one request
        assert task_id is not None, "a budget or approvals belong to a task"
        keys = [self._task_key(task_id, "revoked"), self._task_key(task_id, "calls")]
        keys += [self._task_key(task_id, f"approval:{a}") for a in approval_ids]
        counter = self._expire_at(keep_until)
        args = [
            "" if max_calls is None else max_calls,
            counter,
            self._expire_at(approvals_until or keep_until),
        ]
        try:
            outcome = CommitOutcome(text(self._commit(keys=keys, args=args)))
            if outcome is CommitOutcome.ALLOWED and approval_ids and self._replicas:
                self._replicated()
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None
        return outcome

    def _expire_at(self, until: float | None) -> int:
        """When a key may go: ``margin`` past ``until`` (on Redis's clock, never in its past), or
        ``keep`` from now when the caller does not say."""
        now = time.time()  # not the store's clock (a test's): Redis expires keys by its own
        return int(max(until, now) + self._margin if until is not None else now + self._keep)

    def _replicated(self) -> None:
        """A consumed approval must survive a failover: wait for the replicas to have it."""
        wait = ("WAIT", self._replicas, self._replica_wait_ms)  # under the socket timeout
        acked = int(self.client.execute_command(*wait))  # type: ignore[no-untyped-call]
        if acked < self._replicas:
            raise StoreUnavailable(f"{acked} of {self._replicas} replicas acknowledged the consumed approval")

    def anchor_audit(self, anchor: AuditAnchor) -> None:
        try:
            self._anchor(keys=[self._anchors], args=[anchor.chain, anchor.seq, anchor.hash, anchor.at])
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None

    def audit_anchors(self) -> list[AuditAnchor]:
        try:
            fields = {text(k): text(v) for k, v in self.client.hgetall(self._anchors).items()}
        except StoreErrors as exc:
            raise StoreUnavailable(f"Redis state store: {exc}") from None
        chains = sorted(k.rsplit(":", 1)[0] for k in fields if k.endswith(":seq"))
        return [
            AuditAnchor(c, int(fields[f"{c}:seq"]), fields[f"{c}:hash"], float(fields[f"{c}:at"]))
            for c in chains
        ]

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._keeper.stop()
        self.client.close()
