"""What the audit log tests share: a small log written, and read back line by line."""

from __future__ import annotations

from pathlib import Path

from authz.audit import AuditLog


def write_log(path: Path, n: int = 5) -> None:
    log = AuditLog(path)
    for i in range(n):
        log.append({"decision_id": f"d{i}", "decision": "allow" if i % 2 else "deny"}, durable=i == 0)
    log.close()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)
