"""The independent oracle: what DESIGN §2 says must hold of every allow, judged from its own
copy of the facts and its own, lenient reading of the request.

It imports nothing of agent-authz. Its facts come from the files the authorizer is started
with, read here with ``tomllib``/``json`` (agents, trust bundle, route table, intent
catalogue, approvers and their classes, task and approval settings, the directory's people
and their names), and from the generator, which knows how it made each token (``TokenFacts``:
signed with the configured key and header, and the exact claims). Everything else —
the certificate's SAN and thumbprint, what a lenient upstream takes the request to mean, the
``req`` hash, which tasks are revoked, how many calls a task has made, which approvals are
spent — it computes or tracks itself.

The six checks (``Oracle.judge``), for an allow:

1. the certificate is a registered, active agent's SVID from the trust bundle, and
   ``source.principal`` is its SPIFFE ID;
2. the task token is one the generator made valid, bound to exactly this certificate and
   agent, unexpired, not revoked, within its budget;
3. exactly one principal under every lenient reading (path parameter decoded several ways,
   any body or query key that folds onto a principal field, at any depth, first and last of
   duplicates), named by the task exactly, and the audit record's ``target``;
4. exactly one operation under every reading of method (overrides, ``_method``) and path
   (decoded before or after splitting, dot segments, ``;`` parameters, literal case), in the
   task's actions and permitted by its intent for this agent, and the audit's ``operation``;
5. ``x-agent-intent`` is the task's intent, exactly;
6. a gated change carries at least one approval, and every approval it carries is valid: made
   by the generator with the approver's own key, for this agent, task, operation, principal
   and ``req`` (computed here), unexpired, unspent, from an approver allowed for the class who
   is neither the agent, the on-behalf-of user nor the target under any of their names.

Modules: ``facts`` (the config, the directory, ``TokenFacts``), ``reading`` (the lenient reading,
the ``req`` hash), ``peer`` (the certificate), ``checks`` (1, 3, 4, 5), ``tokens`` (2 and 6),
``records`` (calls, spent approvals, revoked tasks), ``judge`` (the ``Oracle``).
"""

from fuzz.oracle.facts import Facts, Request, TokenFacts, fold
from fuzz.oracle.judge import Oracle
from fuzz.oracle.reading import b64url, read_request, request_hash

__all__ = ["Facts", "Oracle", "Request", "TokenFacts", "b64url", "fold", "read_request", "request_hash"]
