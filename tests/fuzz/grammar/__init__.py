"""The request grammar: valid requests from the demo config's routes, intents and directory,
and single mutations of every field — certificate, source principal, task token, task scope,
path, method, query, headers, body, approvals — plus sequences: reused tasks (budgets,
revocation), exact replays of allowed requests (spent approvals), task completion, polls.

Every choice comes from ``Choices``, so the same grammar runs on hypothesis draws (``st.data()``)
or on a ``random.Random`` seeded by hypothesis. The generator knows what it made (``Case``:
the request as Envoy describes it, and ``TokenFacts`` for its task and approval tokens) and
never reuses a task it may have revoked without knowing it (sent with another intent, or
completed, and not denied for exactly that): such tasks are *tainted* and dropped.

Modules: ``tables`` (what it picks from, weighted), ``cases`` (what it makes), ``plans``
(planning a request under a task), ``task_requests`` (building it), ``token_recipes`` (its task
and approval tokens), ``generator`` (the kinds of case, and the pools that make sequences).
"""

from fuzz.grammar.cases import Case
from fuzz.grammar.generator import Generator

__all__ = ["Case", "Generator"]
