"""The route table: a route added ahead of another must not decide its requests.

Config-level cases: each edits the demo config and runs ``agent-authz config check`` on it (no
Envoy). A route listed first whose template could match a password reset would turn the reset
into whatever it says — a read, needing no approval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import CONFIG_ACCEPTED, ROUTES, Case, Expect

REFUSED = Expect(2, "can match the same request", kind="config")
RESET_ROUTE = '[[routes]]\nmethod = "POST"\npath = "/v1/users/{user}/password/reset"'
GRANT_ROUTE = '[[routes]]\nmethod = "POST"\npath = "/v1/groups/{group}/members"'


def ahead(anchor: str, method: str, path: str) -> Callable[[str], str]:
    """The config with a read route for ``method path`` listed just before ``anchor``'s route."""
    block = (
        f'[[routes]]\nmethod = "{method}"\npath = "{path}"\noperation = "user.read"\n'
        'class = "read"\nprincipal = { path_param = "user" }\n\n'
    )

    def edit(text: str) -> str:
        if anchor not in text:
            raise AssertionError(f"the demo config has no {anchor!r}")
        return text.replace(anchor, block + anchor, 1)

    edit.__name__ = f"{method} {path} ahead"
    return edit


def unchanged(text: str) -> str:
    return text


def case(id: str, attack: str, expect: Any, edit: Callable[[str], str]) -> Case:
    return Case(id, ROUTES, attack, expect, task=None, config=edit)


CASES = [
    case("routes-demo-config", "baseline: the demo config's route table", CONFIG_ACCEPTED, unchanged),
    case("routes-parameter-shadows-reset", "`POST /v1/users/{user}/{step}/reset` (class read) added "
         "ahead of the password reset", REFUSED, ahead(RESET_ROUTE, "POST", "/v1/users/{user}/{step}/reset")),
    case("routes-case-variant-shadows-reset", "`POST /v1/users/{user}/Password/reset` (class read) added "
         "ahead of it", REFUSED, ahead(RESET_ROUTE, "POST", "/v1/users/{user}/Password/reset")),
    case("routes-parameter-shadows-grant", "`POST /v1/groups/{group}/{user}` (class read) added ahead "
         "of the group grant", REFUSED, ahead(GRANT_ROUTE, "POST", "/v1/groups/{group}/{user}")),
]  # fmt: skip
