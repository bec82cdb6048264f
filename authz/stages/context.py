"""Stage 7 — context: the live attributes of the target principal (and group), from the
directory, and the task's usage so far, from the state store — everything live the policy sees.

Names are looked up the way the upstream compares them (the route's ``NameRule``), and the
policy sees the directory's canonical entry, never the spelling the request used. A name that
folds onto a known principal or group it is not a name of is refused (``target_ambiguous``):
an upstream that folds would act on that one. A change to a principal or group the directory
does not know is refused by default (``target_unknown``; ``[directory] unknown_targets``): an
unknown account is not an ordinary one — the directory may simply spell it differently.

When the directory cannot answer, a state-changing request is denied (``context_unavailable``);
a read follows the configured, pre-approved degraded rule (deny by default, or allow with the
target's attributes unknown — and the audit record says so).
"""

from __future__ import annotations

from dataclasses import replace

from authz.config import DirectoryConfig
from authz.directory import AmbiguousName, Directory, DirectoryUnavailable, Group, Principal
from authz.directory.file import FileDirectory
from authz.directory.http import HttpDirectory
from authz.directory.scim import SERVICE_TYPES, ScimDirectory, ScimRules
from authz.model import Context, Operation
from authz.names import NameRule
from authz.reasons import Denied, Reason
from authz.store import StateStore
from authz.tokens.task import Task


def directory_from(config: DirectoryConfig) -> Directory:
    if config.kind == "file":
        assert config.path is not None
        return FileDirectory(config.path)
    assert config.url is not None
    if config.kind == "scim":
        rules = ScimRules(
            config.service_types or SERVICE_TYPES, config.privileged_roles, config.privileged_groups
        )
        return ScimDirectory(
            config.url,
            token=config.token,
            rules=rules,
            ttl=config.ttl,
            timeout=config.timeout_ms / 1000,
            max_concurrency=config.max_concurrency,
        )
    return HttpDirectory(
        config.url,
        group_url=config.group_url,
        ttl=config.ttl,
        timeout=config.timeout_ms / 1000,
        max_concurrency=config.max_concurrency,
    )


class ContextStage:
    def __init__(
        self,
        directory: Directory | None,
        store: StateStore,
        reads_when_unavailable: str = "deny",
        unknown_targets: str = "deny",
    ) -> None:
        self._directory, self._store = directory, store
        self._degraded_reads = reads_when_unavailable == "allow"
        self._deny_unknown = unknown_targets == "deny"

    def gather(self, operation: Operation, task: Task) -> Context:
        """The decision's live context (raises Denied when it cannot be had, or forbids it)."""
        context = self.target(operation)
        calls = self._store.task_calls(task.task_id) if task.max_calls is not None else 0
        return replace(context, task_calls=calls)

    def target(self, operation: Operation) -> Context:
        """The attributes of every action's target (and group), the first action's first."""
        try:
            subjects = self._lookup(operation)
        except AmbiguousName as exc:
            message = f"the request names no principal unambiguously: {exc}"
            raise Denied(Reason.TARGET_AMBIGUOUS, message) from None
        except DirectoryUnavailable as exc:
            if operation.state_changing or not self._degraded_reads:
                who = ", ".join(operation.targets)
                raise Denied(
                    Reason.CONTEXT_UNAVAILABLE, f"the directory cannot answer for {who}: {exc}"
                ) from None
            unknown = tuple((Principal(a.target, exists=False), None) for a in operation.actions)
            return _context(unknown, degraded=True)
        if self._deny_unknown and operation.state_changing:
            for action, (principal, group) in zip(operation.actions, subjects, strict=True):
                if not principal.exists:
                    raise Denied(Reason.TARGET_UNKNOWN, f"{action.target!r} is not in the directory")
                if group is not None and not group.exists:
                    raise Denied(Reason.TARGET_UNKNOWN, f"group {group.name!r} is not in the directory")
        return _context(subjects)

    def _lookup(self, operation: Operation) -> tuple[tuple[Principal, Group | None], ...]:
        rule, actions = operation.route.names, operation.actions
        if len(actions) == 1:  # most requests: no bookkeeping
            return (self._subject(actions[0].target, actions[0].group, rule),)
        found: dict[tuple[str, str | None], tuple[Principal, Group | None]] = {}
        for a in actions:
            if (a.target, a.group) not in found:
                found[(a.target, a.group)] = self._subject(a.target, a.group, rule)
        return tuple(found[(a.target, a.group)] for a in actions)

    def _subject(self, target: str, group_name: str | None, rule: NameRule) -> tuple[Principal, Group | None]:
        if self._directory is None:
            return Principal(target, exists=False), None if group_name is None else Group(
                group_name, exists=False
            )
        principal = self._directory.lookup(target, rule)
        group = None if group_name is None else self._directory.lookup_group(group_name, rule)
        return principal, group


def _context(subjects: tuple[tuple[Principal, Group | None], ...], degraded: bool = False) -> Context:
    target, group = subjects[0]
    return Context(target, group, subjects[1:], degraded)
