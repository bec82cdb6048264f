"""What the generator makes: a ``Case`` (the request as Envoy describes it, and what the
generator knows of its tokens), the ``TaskEntry`` later cases may reuse, the ``Plan`` of a request
being built, the chunk's ``Ids``, and headers as Envoy joins them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from authz.model import RequestContext
from fuzz.oracle import TokenFacts


@dataclass
class TaskEntry:
    """A task whose token was made valid, that later requests may reuse."""

    facts: TokenFacts
    cert: str
    intent: str
    principals: tuple[str, ...]
    actions: tuple[str, ...]
    on_behalf_of: str | None


@dataclass
class Case:
    kind: str  # fresh | reuse | replay | complete | poll
    cert: str
    mutation: str  # "category:name", or "none"
    ctx: RequestContext
    task: TokenFacts | None = None  # the task token the generator put in the request
    approvals: dict[str, TokenFacts] = field(default_factory=dict)
    entry: TaskEntry | None = None  # the task whose valid token the request carries
    operation: str | None = None
    target: str | None = None


@dataclass
class Plan:
    """One request being built."""

    category: str
    mutation: str
    cert: str
    op: str
    target: str
    intent: str
    on_behalf_of: str | None
    group: str | None = None
    approval: str = "valid"  # the approval mutation
    approver_self: str | None = None  # the approver who is the target or the on-behalf-of user


class Ids:
    """Ids of one chunk: ``kind-prefix-n``, one counter for every kind (and the polls' ids)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.counter = itertools.count()

    def __call__(self, kind: str) -> str:
        return f"{kind}-{self.prefix}-{next(self.counter)}"


def envoy_headers(headers: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Headers as Envoy hands them to ext_authz: names lower-cased, repeats joined with ','."""
    joined: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def with_header(ctx: RequestContext, name: str, value: str) -> RequestContext:
    headers = dict(ctx.headers)
    headers[name] = f"{headers[name]},{value}" if name in headers else value
    return RequestContext(
        ctx.method, ctx.path, headers, ctx.body, ctx.principal, ctx.certificate, ctx.request_id
    )
