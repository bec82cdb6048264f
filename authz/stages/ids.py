"""Stage 2, last step: whom a request names, where the upstream names accounts by its own ids.

A route with ``ids = "directory"`` (a SCIM server's ``/Users/{id}``, Keycloak's user UUIDs,
Graph's object ids) names its principals by the upstream's ids, while tasks, approvals and
policies name accounts by name. The directory says which account an id is: every action's
target becomes that account's canonical name (under the route's name rule), every group the
group's (its displayName, for ``/Groups/{id}``), and every later stage sees them. An id the
directory does not know stays as written: no task names it, so stage 4 refuses it. When the
directory cannot answer, nobody can say whom the request touches: it is refused
(``context_unavailable``), reads included; a name that only folds onto an account is
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
        """``operation`` with each target the account the directory says it is, and each group
        the group it says (a route whose principal is the group itself: ``/Groups/{id}``)."""
        route = operation.route
        if route.ids != "directory" or self._directory is None:
            return operation
        groups = {a.group for a in operation.actions if a.group is not None}
        param = route.group_param
        if param is not None and param == route.principal_param and param in operation.params:
            groups.add(operation.params[param])  # ``/Groups/{id}``: the group is the principal
        names = {t: self._name(t, operation, group=False) for t in operation.targets if t not in groups}
        names |= {g: self._name(g, operation, group=True) for g in groups}
        if all(name == written for written, name in names.items()):
            return operation
        params = {k: names.get(v, v) if k == route.group_param else v for k, v in operation.params.items()}
        if not operation.derived:  # a route's one action stays one: ``derived`` is () for it
            return Operation(route, names[operation.target], params)
        actions = tuple(
            replace(a, target=names[a.target], group=None if a.group is None else names[a.group])
            for a in operation.actions
        )
        return Operation(route, actions[0].target, params, actions)

    def _name(self, written: str, operation: Operation, *, group: bool) -> str:
        assert self._directory is not None
        rule = operation.route.names
        try:
            entry = (self._directory.lookup_group if group else self._directory.lookup)(written, rule)
        except AmbiguousName as exc:
            message = f"the request names no {'group' if group else 'account'} unambiguously: {exc}"
            raise Denied(Reason.TARGET_AMBIGUOUS, message) from None
        except DirectoryUnavailable as exc:
            message = f"the directory cannot say what {written!r} is: {exc}"
            raise Denied(Reason.CONTEXT_UNAVAILABLE, message) from None
        return entry.name if entry.exists else written
