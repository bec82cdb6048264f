"""Stage 7 — context: the live attributes of the target principal, from the directory.

When the directory cannot answer, a state-changing request is denied (``context_unavailable``);
a read follows the configured, pre-approved degraded rule (deny by default, or allow with the
target's attributes unknown — and the audit record says so).
"""

from __future__ import annotations

from authz.config import DirectoryConfig
from authz.directory import Directory, DirectoryUnavailable, Principal
from authz.directory.file import FileDirectory
from authz.directory.http import HttpDirectory
from authz.reasons import Denied, Reason
from authz.stages.operation import Operation


def directory_from(config: DirectoryConfig) -> Directory:
    if config.kind == "file":
        assert config.path is not None
        return FileDirectory(config.path)
    assert config.url is not None
    return HttpDirectory(
        config.url,
        ttl=config.ttl,
        timeout=config.timeout_ms / 1000,
        max_concurrency=config.max_concurrency,
    )


class ContextStage:
    def __init__(self, directory: Directory | None, reads_when_unavailable: str = "deny") -> None:
        self._directory, self._degraded_reads = directory, reads_when_unavailable == "allow"

    def target(self, operation: Operation) -> tuple[Principal, bool]:
        """The target's attributes, and whether they are unknown because of the degraded rule."""
        if self._directory is None:
            return Principal(operation.target, exists=False), False
        try:
            return self._directory.lookup(operation.target), False
        except DirectoryUnavailable as exc:
            if operation.route.state_changing or not self._degraded_reads:
                raise Denied(
                    Reason.CONTEXT_UNAVAILABLE, f"the directory cannot answer for {operation.target}: {exc}"
                ) from None
            return Principal(operation.target, exists=False), True
