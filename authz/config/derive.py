"""``derive`` and ``[[routes.attributes]]``: how a route reads its operations from the body.

A route whose meaning depends on its body (SCIM ``PATCH /Users/{id}`` is a profile edit, a
password change or a disable) says how to read it (``derive``, one of ``DERIVE_READERS``) and
which attributes make it another operation::

    derive = "scim-patch"
    [[routes.attributes]]
    name = "password"
    operation = "user.password.set"
    class = "credential_change"
    reversible = false

Attribute names are compared as the most lenient upstream would (``key_skeleton``), so the
rules cannot be spelled around; two rules for one attribute must be told apart by ``equals``
or ``ops``.
"""

from __future__ import annotations

import re

from authz.config.model import DERIVE_READERS, MEMBER_FORMS, OPERATION_CLASSES, AttributeRule, Derive
from authz.config.table import Table, string_list
from authz.names import key_skeleton

PATCH_OPS = ("add", "remove", "replace")


_OPERATION = re.compile(r"^[a-z][a-z0-9_.-]*$")


def read_operation(t: Table) -> tuple[str, str]:
    """``operation`` and ``class`` of a route or an attribute rule."""
    operation = t.text("operation")
    if not _OPERATION.fullmatch(operation):
        raise t.fail("operation", "must be lowercase letters, digits, '.', '_' or '-'")
    op_class = t.text("class")
    if op_class not in OPERATION_CLASSES:
        raise t.fail("class", f"must be one of {', '.join(OPERATION_CLASSES)}")
    return operation, op_class


def read_derive(t: Table) -> Derive | None:
    reader = t.opt_str("derive")
    if reader is None:
        if "attributes" in t.data:
            raise t.fail("attributes", 'needs derive = "…" to say how the body is read')
        return None
    if reader not in DERIVE_READERS:
        raise t.fail("derive", f"must be one of {', '.join(DERIVE_READERS)}")
    rules = tuple(_rule(r) for r in t.tables("attributes"))
    _check_distinct(t, rules)
    return Derive(reader, rules)


def _rule(t: Table) -> AttributeRule:
    name = t.text("name")
    operation, op_class = read_operation(t)
    equals = t.data.pop("equals", None)
    if equals is not None and not isinstance(equals, bool):
        raise t.fail("equals", "must be true or false")
    ops = frozenset(string_list(t, "ops")) if "ops" in t.data else None
    if ops is not None and not ops <= set(PATCH_OPS):
        raise t.fail("ops", f"must name some of {', '.join(PATCH_OPS)}")
    members = t.opt_str("members")
    if members is not None and members not in MEMBER_FORMS:
        raise t.fail("members", f"must be one of {', '.join(MEMBER_FORMS)}")
    rule = AttributeRule(name, operation, op_class, t.flag("reversible", True), equals, ops, members)
    t.done()
    return rule


def _check_distinct(t: Table, rules: tuple[AttributeRule, ...]) -> None:
    """No two rules that could both apply to one attribute change."""
    for i, a in enumerate(rules):
        for b in rules[:i]:
            if key_skeleton(a.name) != key_skeleton(b.name):
                continue
            values = a.equals is None or b.equals is None or a.equals == b.equals
            ops = a.ops is None or b.ops is None or bool(a.ops & b.ops)
            if values and ops:
                raise t.fail(
                    "attributes",
                    f"two rules for {a.name!r} could both apply: tell them apart by equals or ops",
                )
