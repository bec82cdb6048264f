"""The sample directory: users (with the other names each answers to) and groups (with whether
membership is privileged) — what the sample API acts on and its directory lookups answer, and
what the tests' directory file holds."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _human(*aliases: str, privileged: bool = False) -> dict[str, Any]:
    return {"kind": "human", "privileged": privileged, "aliases": list(aliases)}


@dataclass
class Directory:
    """Users (with the other names each answers to) and groups (with whether membership is
    privileged) — what the directory lookups answer, and what the API acts on."""

    users: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            "alice": _human("alice@example.org"),
            "bob": _human("bob@example.org", "Bob.Builder"),
            "carol": _human("carol@example.org", privileged=True),
            "dana": _human("dana@example.org"),
            "erik": _human("erik@example.org"),
            "svc-backup": {"kind": "service_account", "privileged": False, "aliases": []},
            "svc-payroll": {"kind": "service_account", "privileged": True, "aliases": []},
        }
    )
    groups: dict[str, set[str]] = field(
        default_factory=lambda: {
            "staff": {"alice", "bob", "carol", "dana", "erik"},
            "it-admins": {"carol"},
            "backup": {"svc-backup"},
            "payroll-admins": {"svc-payroll"},
            "helpdesk": set(),
        }
    )
    privileged_groups: frozenset[str] = frozenset({"it-admins", "payroll-admins"})
    same: Callable[[str, str], bool] = operator.eq  # when two names are one (a lenient API folds)

    def canonical(self, name: str) -> str | None:
        """The user ``name`` names: itself, or the user it is an alias of (as ``same`` compares)."""
        same = self.same
        found = [u for u, entry in self.users.items() if any(same(name, n) for n in [u, *entry["aliases"]])]
        return found[0] if len(found) == 1 else None

    def group(self, name: str) -> str | None:
        found = [g for g in self.groups if self.same(name, g)]
        return found[0] if len(found) == 1 else None

    def entry(self, name: str) -> dict[str, Any] | None:
        """A principal as the directory lookup answers: canonical name, kind, privileged,
        current groups, aliases."""
        canonical = self.canonical(name)
        if canonical is None:
            return None
        user = self.users[canonical]
        groups = sorted(g for g, members in self.groups.items() if canonical in members)
        return {"name": canonical, **user, "groups": groups, "aliases": list(user["aliases"])}

    def group_entry(self, name: str) -> dict[str, Any] | None:
        canonical = self.group(name)
        privileged = canonical in self.privileged_groups
        return None if canonical is None else {"name": canonical, "privileged": privileged}
