"""The grammar's tables: the demo's routes, intents and body shapes, the targets, groups,
certificates and on-behalf-of users it picks from (each weighted), the kinds of case and the
categories of mutation, and who may approve what."""

from __future__ import annotations

from factories import BOT

from fuzz.world import AUDIT_BOT

ROUTES = {  # operation → (method, path template, class)
    "user.read": ("GET", "/v1/users/{user}", "read"),
    "user.password.reset": ("POST", "/v1/users/{user}/password/reset", "credential_change"),
    "user.mfa.reset": ("POST", "/v1/users/{user}/mfa/reset", "credential_change"),
    "user.api_key.rotate": ("POST", "/v1/users/{user}/api-keys/rotate", "credential_change"),
    "group.member.add": ("POST", "/v1/groups/{group}/members", "privilege_change"),
    "group.member.remove": ("DELETE", "/v1/groups/{group}/members/{user}", "privilege_change"),
}
INTENTS = {
    "account_support": ("user.read",),
    "credential_recovery": ("user.read", "user.password.reset", "user.mfa.reset"),
    "key_rotation": ("user.read", "user.api_key.rotate"),
    "access_change": ("user.read", "group.member.add", "group.member.remove"),
    "emergency_access": ("group.member.add",),
}
BODIES: dict[str, tuple[tuple[tuple[str, ...] | None, int], ...]] = {  # None: no body; (): {}
    "user.read": ((None, 85), ((), 15)),
    "user.password.reset": (
        (None, 20), ((), 10), (("user",), 25), (("user", "notify"), 10), (("reason",), 10),
        (("user", "reason", "notify"), 25),
    ),
    "user.mfa.reset": ((None, 30), ((), 10), (("user",), 30), (("user", "reason"), 30)),
    "user.api_key.rotate": ((None, 40), ((), 20), (("reason",), 40)),
    "group.member.add": ((("user",), 40), (("user", "role"), 30), (("role", "user", "reason"), 30)),
    "group.member.remove": ((None, 80), ((), 20)),
}  # fmt: skip
REASONS = ("ticket 4711", "locked out after travel", "Zugang gesperrt — bitte zurücksetzen", "✓ ünïcödé", "")
OPS = (("user.read", 34), ("user.password.reset", 16), ("user.mfa.reset", 10), ("user.api_key.rotate", 10),
       ("group.member.add", 15), ("group.member.remove", 15))  # fmt: skip
CHANGES = tuple((op, w) for op, w in OPS if op != "user.read")
AUDIT_OPS = (("user.read", 9), ("user.password.reset", 1))
TARGETS = (
    ("alice", 24), ("bob", 12), ("dana", 8), ("erik", 8), ("carol", 6), ("svc-backup", 8), ("svc-payroll", 3),
    ("bob@example.org", 5), ("Bob.Builder", 3), ("alice@example.org", 3), ("CAROL", 2), ("Alice", 2),
    ("zoë", 2), ("ａlice", 1), ("nobody", 2), ('al"ice', 1), ("alice'", 1), ("ALICE@EXAMPLE.ORG", 1),
    ("alice\u0301", 1), ("bob+1@example.org", 1),
)  # fmt: skip
OTHERS = ("bob", "alice", "carol", "mallory", "svc-payroll", "Bob.Builder", "root")
ON_BEHALF_OF = ("alice", "bob", "bob@example.org", "Bob.Builder", "BOB", "dana", "dana@example.org", "erik",
                "carol", "frank")  # fmt: skip
GROUPS = (("staff", 40), ("helpdesk", 30), ("it-admins", 12), ("backup", 6), ("IT-Admins", 3), ("nogroup", 3))
CERTS = (("helpdesk", 82), ("audit", 8), ("helpdesk-2", 2), ("rogue", 2), ("suspended", 2), ("foreign", 1),
         ("expired", 1), ("two-sans", 1), ("ca-leaf", 1))  # fmt: skip
KINDS = (("fresh", 58), ("reuse", 26), ("replay", 8), ("complete", 4), ("poll", 4))
CATEGORIES = (
    ("none", 46), ("source", 2), ("token", 12), ("scope", 6), ("path", 8), ("method", 3), ("query", 4),
    ("header", 8), ("body", 9), ("approval", 10),
)  # fmt: skip
SCOPE_MUTATIONS = (("principal-missing", 3), ("action-missing", 2), ("intent-not-permitting", 2),
                   ("case-variant", 2))  # fmt: skip
HEADER_TOKEN_MUTATIONS = (("garbage", 3), ("missing", 3), ("repeated", 1))
REUSE_TOKEN_MUTATIONS = (("cert-swap", 3), *HEADER_TOKEN_MUTATIONS)
SOURCE_MUTATIONS = (AUDIT_BOT, BOT, "", BOT + "/", BOT.replace("agents", "AGENTS"), "spiffe://evil.example/agent/x",
                    "cert-empty", "cert-truncated", "cert-two", "cert-raw-pem", "cert-double-encoded",
                    "cert-garbage", "cert-with-ca")  # fmt: skip
NOISE_HEADERS = (
    ("x-agent-justification", "ticket INC-4711"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("x-request-id", "r-1"),
)
GARBAGE = ("garbage", "Bearer {t}", "{t}x", "{t}.", "{t} ", "{head}", "e30.e30.", "null")
#: (approver, the directory people who are that approver), and the classes each may approve.
APPROVER_PEOPLE = {"dana": "dana", "erik": "erik", "bob": "bob"}
APPROVER_CLASSES = {
    "dana": {"credential_change", "privilege_change", "key_export"},
    "erik": {"credential_change", "privilege_change"},
    "bob": {"credential_change"},
}
PEOPLE = {"alice": ("alice", "alice@example.org"), "bob": ("bob", "bob@example.org", "bob.builder"),
          "carol": ("carol", "carol@example.org"), "dana": ("dana", "dana@example.org"),
          "erik": ("erik", "erik@example.org")}  # fmt: skip
PRIVILEGED = {"carol", "svc-payroll"}
POOLABLE = ("helpdesk", "audit")


def person(name: str | None) -> str | None:
    """Whom ``name`` names, as the generator guesses it (for picking approvers only)."""
    if name is None:
        return None
    folded = name.casefold()
    return next((p for p, names in PEOPLE.items() if folded in names), folded)
