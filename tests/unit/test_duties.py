"""Separation of duties by identity (``authz/duties.py``) on its own, over a small directory.

``stages/test_approval_duties.py`` runs the attacks through the pipeline; here each question the
stage asks — whose names is this, is this approver someone the directory knows — is asked
directly, and so is the directory: how it was asked (exactly, or folded) is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from authz.config import Approver
from authz.directory import Group, Principal
from authz.directory.file import FileDirectory
from authz.duties import Identities, refusal
from authz.names import NameRule

DIRECTORY = {
    "principals": {
        "bob": {"kind": "human", "aliases": ["bob@example.org", "Bob.Builder"]},
        "dana": {"kind": "human", "aliases": ["dana.s@example.org"]},
        "kim": {"kind": "human"},
        "Kim": {"kind": "human"},  # another person, whose name folds onto kim's
    }
}
KEY = ed25519.Ed25519PrivateKey.generate().public_key()


class Recording:
    """A file directory that remembers under which rule each name was asked."""

    def __init__(self, path: Path) -> None:
        self.inner, self.asked = FileDirectory(path), list[tuple[str, NameRule]]()

    def lookup(self, name: str, rule: NameRule = NameRule.EXACT) -> Principal:
        self.asked.append((name, rule))
        return self.inner.lookup(name, rule)

    def lookup_group(self, name: str, rule: NameRule = NameRule.EXACT) -> Group:
        return self.inner.lookup_group(name, rule)


@pytest.fixture
def directory(tmp_path: Path) -> Recording:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(DIRECTORY))
    return Recording(path)


def approver(
    approver_id: str, principal: str = "", classes: tuple[str, ...] = ("credential_change",)
) -> Approver:
    return Approver(approver_id, approver_id.title(), KEY, frozenset(classes), principal)


@pytest.mark.parametrize(
    ("name", "names"),
    [
        ("BOB", {"bob", "bob@example.org", "bob.builder"}),  # asked folded: bob under any spelling
        ("bob@example.org", {"bob", "bob@example.org", "bob.builder"}),
        ("KIM", {"kim"}),  # folds onto two people: compared against both
        ("nobody@example.org", {"nobody@example.org", "nobody"}),  # unknown: its own names only
    ],
)
def test_the_names_a_person_answers_to(directory: Recording, name: str, names: set[str]) -> None:
    assert Identities(directory).of(name) == names
    assert directory.asked == [(name, NameRule.CASE_INSENSITIVE)]


def test_without_a_directory_a_name_answers_to_itself_and_its_local_part() -> None:
    assert Identities(None).of("Bob@Example.org") == frozenset({"bob@example.org", "bob"})


def test_an_approver_answers_to_every_name_of_their_directory_entry(directory: Recording) -> None:
    names = Identities(directory).of_approver(approver("dana"))
    assert names == frozenset({"dana", "dana.s@example.org", "dana.s"})
    assert directory.asked == [("dana", NameRule.EXACT)]


@pytest.mark.parametrize(
    "entry",
    [
        approver("dana", principal="Dana"),  # not a name of dana's, though it folds onto it
        approver("kim", principal="KIM"),
        approver("erik"),  # not in the directory at all
    ],
)
def test_an_approver_the_directory_cannot_name_exactly_has_no_identity(
    directory: Recording, entry: Approver
) -> None:
    assert Identities(directory).of_approver(entry) is None


def test_without_a_directory_an_approver_is_their_id_and_principal() -> None:
    names = Identities(None).of_approver(approver("dana", principal="Dana.S@example.org"))
    assert names == frozenset({"dana", "dana.s@example.org", "dana.s"})


@pytest.mark.parametrize(
    ("entry", "op_class", "agent", "on_behalf_of", "target", "refused"),
    [
        (approver("dana"), "credential_change", "spiffe://a/agent/bot", None, "alice", None),
        (approver("dana"), "privilege_change", "spiffe://a/agent/bot", None, "alice", "may not approve"),
        (
            approver("bob"),
            "credential_change",
            "spiffe://a/agent/bot",
            "Bob.Builder",
            "alice",
            "on-behalf-of",
        ),
        (approver("bob"), "credential_change", "spiffe://a/agent/bot", None, "BOB@example.org", "the target"),
        (approver("bob"), "credential_change", "bob@example.org", None, "alice", "the agent"),
        (
            approver("erik"),
            "credential_change",
            "spiffe://a/agent/bot",
            None,
            "alice",
            "not in the directory",
        ),
    ],
)
def test_refusal(
    directory: Recording,
    entry: Approver,
    op_class: str,
    agent: str,
    on_behalf_of: str | None,
    target: str,
    refused: str | None,
) -> None:
    identities = Identities(directory)
    why = refusal(
        entry, op_class, agent=agent, on_behalf_of=on_behalf_of, target=target, identities=identities
    )
    assert why is None if refused is None else (why is not None and refused in why)
