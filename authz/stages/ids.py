"""Stage 2, last step: whom a request names, where the upstream names accounts by its own ids.

A route with ``ids = "directory"`` (a SCIM server's ``/Users/{id}``, Keycloak's user UUIDs,
Graph's object ids) names its principals by the upstream's ids, while tasks, approvals and
policies name accounts by name. The directory says which account an id is: every action's
target becomes that account's canonical name (under the route's name rule), and every later
stage sees it. An id the directory does not know stays as written: no task names it, so stage
4 refuses it. When the directory cannot answer, nobody can say whom the request touches: it is
refused (``context_unavailable``), reads included; a name that only folds onto an account is
``target_ambiguous``.
"""

from __future__ import annotations

from dataclasses import replace

from authz.directory import AmbiguousName, Directory, DirectoryUnavailable
from authz.model import Operation
from authz.reasons import Denied, Reason


class AccountIds:
    def __init__(self, directory: Directory | None) -> None:
        """``directory`` None: stage 2 read alone, targets as written (``load_config`` refuses
        routes with ``ids = "directory"`` without a ``[directory]``, so a pipeline has one)."""
        self._directory = directory

    def named(self, operation: Operation) -> Operation:
        """``operation`` with each target the account the directory says it is."""
        if operation.route.ids != "directory" or self._directory is None:
            return operation
        names = {target: self._name(target, operation) for target in operation.targets}
        if all(name == target for target, name in names.items()):
            return operation
        actions = tuple(replace(a, target=names[a.target]) for a in operation.actions)
        return Operation(operation.route, actions[0].target, operation.params, actions)

    def _name(self, target: str, operation: Operation) -> str:
        assert self._directory is not None
        try:
            principal = self._directory.lookup(target, operation.route.names)
        except AmbiguousName as exc:
            message = f"the request names no account unambiguously: {exc}"
            raise Denied(Reason.TARGET_AMBIGUOUS, message) from None
        except DirectoryUnavailable as exc:
            message = f"the directory cannot say whom {target!r} is: {exc}"
            raise Denied(Reason.CONTEXT_UNAVAILABLE, message) from None
        return principal.name if principal.exists else target
