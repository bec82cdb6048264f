"""Audit anchors: each process's chain head (sequence and hash), written to the shared state
store every second and at shutdown. A hash chain alone cannot show records cut off at its
tail; against its anchor, ``agent-authz audit verify --anchors`` can: a log that ends before
its anchored record, or holds another record there, was cut or rewritten.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from authz.audit.log import AuditLog
from authz.audit.verify import VerifyResult, record_at
from authz.store import AuditAnchor, StateStore, StoreError

log = logging.getLogger(__name__)


class Anchorer:
    """A thread that anchors ``audit``'s head in ``store`` whenever it moved, every ``interval``."""

    def __init__(self, audit: AuditLog, store: StateStore, interval: float = 1.0) -> None:
        self._audit, self._store, self._interval = audit, store, interval
        self._stop = threading.Event()
        self._anchored: tuple[str, int, str] | None = None
        self._thread = threading.Thread(target=self._run, name="audit-anchor", daemon=True)

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    def start(self) -> Anchorer:
        self._thread.start()
        return self

    def anchor(self) -> bool:
        """Anchor the head now if it moved; False if the store could not take it (tried again)."""
        head = self._audit.head()
        if head is None or head == self._anchored:
            return True
        try:
            self._store.anchor_audit(AuditAnchor(*head, at=time.time()))
        except StoreError as exc:
            log.warning("audit anchor not written (tried again in %.0f s): %s", self._interval, exc)
            return False
        self._anchored = head
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.anchor()

    def stop(self) -> None:
        """Stop the thread and anchor the final head (call before closing the log and the store)."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.anchor()


def check_anchor(path: Path, walked: VerifyResult, anchors: list[AuditAnchor]) -> str:
    """What the log's anchor says of an intact chain: "" if it reaches its anchor, else the problem."""
    first = record_at(path, 1)
    if first is None:
        return "" if not anchors else "the log is empty"
    anchor = next((a for a in anchors if a.chain == first.get("hash")), None)
    if anchor is None:
        return "no anchor for this chain in the store"
    if walked.records < anchor.seq:
        return (
            f"cut off at the tail: the store anchored record {anchor.seq}, "
            f"the log ends at record {walked.records}"
        )
    found = record_at(path, anchor.seq)
    if found is None or found.get("hash") != anchor.hash:
        return f"record {anchor.seq} is not the one anchored (rewritten)"
    return ""
