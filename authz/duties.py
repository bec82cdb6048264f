"""Separation of duties: who may not approve a request, compared by identity, not by spelling.

An approver is bound to their directory entry (``[[approvals.approvers]] principal``, default
the approver id) and answers to every name of it: ``bob`` approving a reset of
``bob@example.org`` is bob approving his own reset when the directory lists that address among
bob's names. The agent, its on-behalf-of user and the target are resolved the same way, and all
names are compared folded (case, compatibility forms) and by the local part of addresses —
the most conservative reading, so no spelling makes one person two. An approver the directory
does not know cannot be told apart from anyone, and is refused; so is a name the directory
cannot resolve unambiguously. Stage 6 and ``approvals approve`` both ask ``refusal``.
"""

from __future__ import annotations

from authz.config import Approver
from authz.directory import AmbiguousName, Directory
from authz.names import NameRule, fold, local_part


class Identities:
    """The folded names each person or machine answers to, from the directory when there is one."""

    def __init__(self, directory: Directory | None) -> None:
        self._directory = directory

    def of(self, name: str) -> frozenset[str]:
        """Every name the holder of ``name`` answers to, folded (raises ``DirectoryUnavailable``)."""
        names = {name}
        if self._directory is not None:
            try:
                entry = self._directory.lookup(name, NameRule.CASE_INSENSITIVE)
            except AmbiguousName as exc:
                names.update(exc.candidates)  # any of them: compare against all
            else:
                names.update(entry.names if entry.exists else ())
        return _folded(names)

    def of_approver(self, approver: Approver) -> frozenset[str] | None:
        """The approver's identity; None when a directory is configured and does not know them."""
        if self._directory is None:
            return _folded({approver.id, approver.identity})
        try:
            entry = self._directory.lookup(approver.identity, NameRule.EXACT)
        except AmbiguousName:
            return None
        if not entry.exists:
            return None
        return _folded({approver.id, *entry.names})


def _folded(names: set[str]) -> frozenset[str]:
    folded = {fold(n) for n in names}
    folded.update(part for n in names if (part := local_part(n)))
    return frozenset(folded)


def refusal(
    approver: Approver,
    op_class: str,
    *,
    agent: str,
    on_behalf_of: str | None,
    target: str,
    identities: Identities,
) -> str | None:
    """Why ``approver`` may not approve such a request (None: may)."""
    if op_class not in approver.classes:
        return f"{approver.id} may not approve {op_class}"
    own = identities.of_approver(approver)
    if own is None:
        who = f"{approver.id} ({approver.identity})"
        return f"{who} is not in the directory: separation of duties cannot be checked"
    for role, name in (("the agent", agent), ("its on-behalf-of user", on_behalf_of), ("the target", target)):
        if name is not None and own & identities.of(name):
            return f"{approver.id} is {role} ({name}) under another name: someone else must approve"
    return None
