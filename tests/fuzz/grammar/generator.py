"""The ``Generator``: the kind of each case (a fresh task, a reused task, an exact replay, a task
completion, a poll) and the pools that make sequences — valid tasks later cases reuse, allowed
gated or budgeted requests they replay — minus the tasks it may have revoked without knowing."""

from __future__ import annotations

from authz.model import RequestContext
from fuzz.choices import Choices
from fuzz.grammar.cases import Case, Ids, TaskEntry, envoy_headers
from fuzz.grammar.tables import CERTS, KINDS, POOLABLE
from fuzz.grammar.task_requests import RequestMaker
from fuzz.world import FuzzWorld


class Generator:
    """Makes cases from ``Choices`` and remembers what later cases may reuse or replay."""

    def __init__(self, world: FuzzWorld, prefix: str) -> None:
        self.w, self._id = world, Ids(prefix)
        self.requests = RequestMaker(world, self._id)
        self.tasks: list[TaskEntry] = []
        self.replays: list[Case] = []
        self.tainted: set[str] = set()

    def forget(self) -> None:
        """Drop every pool (hypothesis's draw-by-draw mode: an example may depend only on its draws)."""
        self.tasks, self.replays = [], []

    def next_case(self, c: Choices) -> Case:
        kind = c.weighted(KINDS)
        if kind == "reuse" and self.tasks:
            return self.requests.task_case(c, "reuse", self.tasks[c.integer(0, len(self.tasks) - 1)])
        if kind == "replay" and self.replays:
            earlier = self.replays[c.integer(0, len(self.replays) - 1)]
            return Case("replay", earlier.cert, earlier.mutation, earlier.ctx, earlier.task,
                        earlier.approvals, earlier.entry, earlier.operation, earlier.target)  # fmt: skip
        if kind == "complete" and self.tasks:
            return self._complete(c, self.tasks[c.integer(0, len(self.tasks) - 1)])
        if kind == "poll":
            return self._poll(c)
        return self.requests.task_case(c, "fresh", None)

    def observe(self, case: Case, allowed: bool, reason: str) -> None:
        """Keep what may be reused: a valid task not tainted; an allowed gated or budgeted request."""
        entry = case.entry
        if entry is None:
            return
        task_id = str(entry.facts.claims["jti"])
        declared = case.ctx.headers.get("x-agent-intent")
        if case.kind == "complete" and reason != "task_completed":
            self._taint(task_id)
        elif case.kind != "complete" and declared is not None and declared != entry.intent:
            if reason != "intent_mismatch":
                self._taint(task_id)
        if task_id in self.tainted:
            return
        if case.kind == "fresh" and entry.cert in POOLABLE:
            self.tasks.append(entry)
            del self.tasks[:-96]
        if allowed and case.kind != "replay" and (case.approvals or "budget" in entry.facts.claims):
            self.replays.append(case)
            del self.replays[:-48]

    def _taint(self, task_id: str) -> None:
        self.tainted.add(task_id)
        self.tasks = [t for t in self.tasks if t.facts.claims["jti"] != task_id]
        self.replays = [r for r in self.replays if r.entry is None or r.entry.facts.claims["jti"] != task_id]

    # -- other kinds: completing a task, polling an approval request ----------------------------

    def _complete(self, c: Choices, entry: TaskEntry) -> Case:
        svid = self.w.svids[entry.cert]
        headers = [("x-agent-task-token", entry.facts.token), ("x-agent-intent", entry.intent)]
        ctx = RequestContext("POST", "/.well-known/agent-authz/task/complete", envoy_headers(headers), b"",
                             svid.spiffe_id, svid.certificate, self._id("req"))  # fmt: skip
        return Case("complete", entry.cert, "none", ctx, entry.facts, {}, entry)

    def _poll(self, c: Choices) -> Case:
        cert = c.weighted(CERTS)
        svid = self.w.svids[cert]
        request_id = f"apr-{next(self._id.counter):016x}"
        path = "/.well-known/agent-authz/approvals/" + request_id
        mutation = c.pick(["none", "none", "upper", "short", "suffix", "query", "dotdot", "method"])
        path = {
            "upper": path.upper(), "short": path[:-1], "suffix": path + "/x", "query": path + "?user=bob",
            "dotdot": path + "/../../../../v1/users/bob",
        }.get(mutation, path)  # fmt: skip
        method = "POST" if mutation == "method" else "GET"
        ctx = RequestContext(method, path, {}, b"", svid.spiffe_id, svid.certificate, self._id("req"))
        return Case("poll", cert, f"poll:{mutation}", ctx)
