"""A help desk over the real pipeline for the tests of names (stage 7) and of separation of duties
(stage 6): tasks, resets and grants with approvals, under an upstream that compares names
exactly or case-insensitively (``world_with``)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from factories import Decider, World, make_world

from authz.model import Decision

RESET = "POST", "/v1/users/{}/password/reset", "user.password.reset"
ACTIONS = {
    "credential_recovery": ("user.read", "user.password.reset"),
    "access_change": ("group.member.add",),
    "emergency_access": ("group.member.add",),
}


class Desk(Decider):
    def task(self, *principals: str, intent: str = "credential_recovery", **kwargs: object) -> str:
        return self.world.token(
            self.world.bot, intent=intent, actions=ACTIONS[intent], principals=principals, **kwargs
        )  # type: ignore[arg-type]

    def reset(self, target: str, task: str, *approvers: str) -> Decision:
        path = RESET[1].format(quote(target, safe="@"))
        approvals = [self.world.approval(a, task, "POST", path, RESET[2], target) for a in approvers]
        return self.send("POST", path, task, approvals, "credential_recovery")

    def grant(
        self, group: str, user: str, task: str, *approvers: str, intent: str = "access_change"
    ) -> Decision:
        path, body = f"/v1/groups/{group}/members", json.dumps({"user": user}).encode()
        approvals = [
            self.world.approval(a, task, "POST", path, "group.member.add", user, body=body) for a in approvers
        ]
        return self.send("POST", path, task, approvals, intent, body)

    def send(
        self, method: str, path: str, task: str, approvals: list[str], intent: str, body: bytes = b""
    ) -> Decision:
        headers = {"x-agent-intent": intent}
        if approvals:
            headers["x-approval-token"] = ",".join(approvals)
        return self.authz.check(self.world.request(method, path, body=body, task=task, headers=headers))


def world_with(tmp_path: Path, names: str = "exact") -> World:
    world = make_world(tmp_path)
    text = world.config_path.read_text()
    world.config_path.write_text(text.replace('names = "exact"', f'names = "{names}"'))
    return world
