"""Checks 2 and 6, of the tokens an allowed request carries, from what the generator says it
made of them (``TokenFacts``): the task token (valid, bound to this certificate and agent, live,
within budget) and, for a gated change, every approval (valid for exactly this request)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeGuard

from fuzz.oracle.facts import APPROVAL_HEADER, Facts, Request, Route, TokenFacts, fold
from fuzz.oracle.peer import Peer
from fuzz.oracle.reading import request_hash
from fuzz.oracle.records import Records


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _names(value: Any) -> list[str] | None:
    ok = isinstance(value, list) and value and all(_is_text(v) for v in value)
    return value if ok else None


def task_details(claims: Mapping[str, Any]) -> tuple[list[str], list[str]] | None:
    """(principals, actions) of the one ``agent_task`` entry; None unless it is well formed."""
    details = claims.get("authorization_details")
    if not isinstance(details, list) or len(details) != 1 or not isinstance(details[0], Mapping):
        return None
    entry = details[0]
    principals, actions = _names(entry.get("principals")), _names(entry.get("actions"))
    if entry.get("type") != "agent_task" or principals is None or actions is None:
        return None
    return principals, actions


def _actors(act: Any) -> list[str] | None:
    """The ``act`` chain, outermost first; None unless each link is ``{"sub": str, "act"?: …}``."""
    actors: list[str] = []
    while act is not None:
        if not isinstance(act, Mapping) or set(act) - {"sub", "act"} or not _is_text(act.get("sub")):
            return None
        actors.append(act["sub"])
        act = act.get("act")
    return actors


def check_task(f: Facts, now: int, records: Records, peer: Peer, task: TokenFacts | None) -> list[str]:
    """2. the task token: made valid, for this certificate and agent, live, within budget."""
    if task is None:
        return ["2 task: the request carries no task token the generator made"]
    c, found = task.claims, []
    if not task.signed_ok:
        found.append(f"2 task: the token is not signed as a task token ({task.made_as})")
    iat, nbf, exp = c.get("iat"), c.get("nbf"), c.get("exp")
    if c.get("iss") != f.issuer or c.get("aud") != f.audience:
        found.append(f"2 task: iss/aud {c.get('iss')!r}/{c.get('aud')!r}")
    if not all(_is_int(t) for t in (iat, nbf, exp)):
        found.append(f"2 task: iat/nbf/exp {iat!r}/{nbf!r}/{exp!r} are not all integers")
    else:
        assert isinstance(iat, int) and isinstance(nbf, int) and isinstance(exp, int)
        if now > exp + f.leeway or now + f.leeway < max(iat, nbf) or exp <= nbf:
            found.append(f"2 task: not valid now (iat {iat}, nbf {nbf}, exp {exp}, now {now})")
        if exp - iat > f.task_max_ttl:
            found.append(f"2 task: lives {exp - iat} s, more than {f.task_max_ttl}")
    if (c.get("cnf") or {}).get("x5t#S256") != peer.thumbprint:
        found.append("2 task: bound (cnf) to another certificate")
    actors = _actors(c.get("act"))
    if actors is None:
        found.append(f"2 task: act {c.get('act')!r} is not a delegation chain")
        actors = []
    if not _is_text(c.get("sub")) or (actors[0] if actors else c.get("sub")) != peer.spiffe_id:
        found.append(f"2 task: its actor is {actors[0] if actors else c.get('sub')!r}")
    if len(actors) > f.max_delegation:
        found.append(f"2 task: delegation chain of {len(actors)}")
    if task_details(c) is None:
        found.append("2 task: authorization_details is not one agent_task entry with actions and principals")
    if not _is_text(c.get("intent")):
        found.append(f"2 task: intent {c.get('intent')!r} is not a name")
    task_id = c.get("jti")
    if not _is_text(task_id):
        found.append(f"2 task: jti {task_id!r} is not a task id")
    if task_id in records.revoked:
        found.append(f"2 task: task {task_id} was revoked (completed or intent changed)")
    budget = c.get("budget")
    if budget is not None:
        most = budget.get("max_calls") if isinstance(budget, Mapping) else None
        if not _is_int(most) or most < 1:
            found.append(f"2 task: budget {budget!r} is not a call budget")
        elif records.calls.get(str(task_id), 0) >= most:
            found.append(f"2 task: budget of {most} calls already spent")
    return found


def check_approvals(
    f: Facts,
    now: int,
    records: Records,
    r: Request,
    peer: Peer,
    claims: Mapping[str, Any],
    approvals: Mapping[str, TokenFacts],
    route: Route,
    principal: str,
) -> list[str]:
    """6. a gated change: at least one approval, and each one valid for exactly this request."""
    tokens = [t.strip() for t in r.headers.get(APPROVAL_HEADER, "").split(",") if t.strip()]
    if not tokens:
        return [f"6 approval: {route.operation} ({route.op_class}) allowed without approval"]
    found = []
    if len(set(tokens)) != len(tokens):
        found.append("6 approval: the same approval twice")
    req = request_hash(r.method, r.path, r.body)
    obo = claims.get("sub") if claims.get("act") else None
    bound = {"sub": peer.spiffe_id, "aud": f.audience, "task": claims.get("jti"),
             "op": route.operation, "principal": principal, "req": req}  # fmt: skip
    for number, token in enumerate(tokens, 1):
        facts = approvals.get(token)
        if facts is None:
            found.append(f"6 approval {number}: not an approval the generator made")
            continue
        for problem in _approval(f, now, records, facts, bound, route, obo):
            found.append(f"6 approval {number} ({facts.made_as}): {problem}")
    return found


def _approval(
    f: Facts,
    now: int,
    records: Records,
    a: TokenFacts,
    bound: Mapping[str, Any],
    route: Route,
    obo: str | None,
) -> Iterator[str]:
    """What is wrong with one approval; ``bound``: the claims it must have, exactly (``sub`` the
    agent, ``principal`` the target)."""
    c = a.claims
    if not a.signed_ok:
        yield "not signed with its approver's own key as an approval"
    for claim, expected in bound.items():
        if c.get(claim) != expected:
            yield f"bound to {claim} {c.get(claim)!r}, not {expected!r}"
    iat, exp = c.get("iat"), c.get("exp")
    if not _is_text(c.get("jti")):
        yield f"jti {c.get('jti')!r} is not an approval id"
    if not _is_int(iat) or not _is_int(exp):
        yield f"iat/exp {iat!r}/{exp!r} are not integers"
    elif now > exp + f.leeway or now + f.leeway < iat or exp - iat > f.approval_max_ttl:
        yield f"not valid now (iat {iat}, exp {exp}, now {now})"
    if c.get("jti") in records.consumed:
        yield f"already spent by an earlier allow ({c.get('jti')})"
    approver = f.approvers.get(str(c.get("iss")))
    if approver is None:
        yield f"{c.get('iss')!r} is not a configured approver"
        return
    identity, classes = approver
    if route.op_class not in classes:
        yield f"{c.get('iss')} may not approve {route.op_class}"
    own = f.identity(identity) | {fold(str(c.get("iss")))}
    for role, name in (
        ("the agent", bound["sub"]),
        ("the on-behalf-of user", obo),
        ("the target", bound["principal"]),
    ):
        if name is not None and own & f.identity(str(name)):
            yield f"{c.get('iss')} is {role} ({name})"
