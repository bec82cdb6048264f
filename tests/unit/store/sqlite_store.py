"""What the SQLite store tests share (their ``path`` and ``store`` fixtures are in ``conftest.py``)."""

from __future__ import annotations

from authz.store import CommitOutcome

ALLOWED = CommitOutcome.ALLOWED
BIG = 1_000_000  # a budget never reached: the call is counted
AGENT = "spiffe://agents.example.org/agent/helpdesk-bot"


class Clock:
    """Each reading one second after the last."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now
