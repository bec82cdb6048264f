"""Optional webhook for new approval requests: a JSON POST, retried, never blocking a decision.

``notify`` only puts the event on a bounded in-memory queue; one background thread delivers
it, retrying with backoff. If the receiver is down for long, the queue fills and new events
are dropped (counted), never the decisions. The event names the request and what it asks;
it carries no token and no body — approvers read those with ``agent-authz approvals show``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from authz.store.queue import ApprovalQueue, ApprovalRequest, NewRequest, RequestStatus

log = logging.getLogger(__name__)
_STOP = object()


class Webhook:
    def __init__(
        self,
        url: str,
        *,
        timeout: float = 2.0,
        backoff: Sequence[float] = (0.5, 2.0, 8.0),
        capacity: int = 1000,
        on_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.url, self._timeout, self._backoff = url, timeout, tuple(backoff)
        self._on_failure = on_failure
        self._events: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="approval-webhook", daemon=True)
        self._thread.start()

    def notify(self, event: dict[str, Any]) -> None:
        try:
            self._events.put_nowait(event)
        except queue.Full:
            log.warning("approval webhook queue full: event for %s dropped", event.get("request_id"))
            self._on_failure()

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (without further retries), then stop; waits at most ``timeout``."""
        self._stopped.set()
        try:
            self._events.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            event = self._events.get()
            if event is _STOP:
                return
            self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode()
        for wait in (0.0, *self._backoff):
            if wait and self._stopped.wait(wait):
                break  # shutting down: stop retrying
            request = urllib.request.Request(
                self.url, data=data, method="POST", headers={"content-type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout) as resp:  # noqa: S310
                    if 200 <= resp.status < 300:
                        return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                log.info("approval webhook %s: %s", self.url, exc)
        log.warning("approval webhook gave up on %s", event.get("request_id"))
        self._on_failure()


def event_of(request_id: str, new: NewRequest) -> dict[str, Any]:
    return {
        "event": "approval_request.created",
        "request_id": request_id,
        "agent": new.agent,
        "owner": new.owner,
        "on_behalf_of": new.on_behalf_of,
        "intent": new.intent,
        "operation": new.operation,
        "class": new.op_class,
        "principal": new.principal,
        "method": new.method,
        "path": new.path.partition("?")[0],
        "approvers_needed": new.approvers_needed,
        "expires": int(new.expires),
        "show": f"agent-authz approvals show {request_id}",
    }


class NotifyingQueue:
    """An ``ApprovalQueue`` that tells the webhook about every newly filed request."""

    def __init__(self, inner: ApprovalQueue, webhook: Webhook) -> None:
        self._inner, self._webhook = inner, webhook

    def file(self, new: NewRequest, *, now: float, per_agent: int, window: float) -> tuple[str, bool] | None:
        filed = self._inner.file(new, now=now, per_agent=per_agent, window=window)
        if filed is not None and filed[1]:
            self._webhook.notify(event_of(filed[0], new))
        return filed

    def get(self, request_id: str, *, now: float) -> ApprovalRequest | None:
        return self._inner.get(request_id, now=now)

    def requests(
        self, *, now: float, status: RequestStatus | None = None, limit: int = 100
    ) -> list[ApprovalRequest]:
        return self._inner.requests(now=now, status=status, limit=limit)

    def add_approval(self, request_id: str, approver: str, token: str, *, now: float) -> ApprovalRequest:
        return self._inner.add_approval(request_id, approver, token, now=now)

    def deny(self, request_id: str, *, by: str, reason: str, now: float) -> ApprovalRequest:
        return self._inner.deny(request_id, by=by, reason=reason, now=now)
