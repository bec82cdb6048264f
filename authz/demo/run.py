"""``agent-authz demo``: start the stack, run the scenarios, print the table, stop everything."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from authz.demo.scenarios import Outcome, run_all, write_json
from authz.demo.stack import Stack


def _row(o: Outcome) -> str:
    expected = f"{o.expected_status} {o.expected_reason}".strip()
    got = f"{o.status}"
    mark = "ok  " if o.ok else "FAIL"
    return f"{mark} {o.scenario:<58} {expected:<28} {got:<22} {o.reason}"


def run_demo(json_path: Path | None = None, hold: bool = False, store: str = "sqlite") -> int:
    """The scenarios; with ``store="redis"``, on a real redis-server shared by two agent-authz
    processes, each one of Envoy's endpoints."""
    workdir = Path(tempfile.mkdtemp(prefix="agent-authz-demo-"))
    stack = Stack.create(workdir, authz_processes=2 if store == "redis" else 1, store=store)
    try:
        what = "redis-server, two agent-authz processes" if store == "redis" else "agent-authz"
        print(f"starting sample IAM API, {what} and Envoy in {workdir} ...", flush=True)
        stack.start()
        if hold:
            return _hold(stack)
        print(f"\n     {'scenario':<58} {'expected':<28} {'got':<22} reason")
        outcomes = run_all(stack, progress=lambda o: print(_row(o), flush=True))
    finally:
        stack.stop()
        if not hold:
            shutil.rmtree(workdir, ignore_errors=True)
    return _summary(outcomes, json_path)


def run_scim_demo(server: str, json_path: Path | None = None) -> int:
    """The SCIM scenarios in front of a real SCIM server (``authz/demo/scenarios/scim.py``)."""
    from authz.demo.scenarios.scim import run_scim
    from authz.demo.scim_stack import ScimStack

    workdir = Path(tempfile.mkdtemp(prefix="agent-authz-demo-scim-"))
    stack = ScimStack.create_scim(workdir, server)
    try:
        print(f"starting {server}, agent-authz and Envoy in {workdir} ...", flush=True)
        stack.start()
        print(f"\n     {'scenario':<58} {'expected':<28} {'got':<22} reason")
        outcomes = run_scim(stack, progress=lambda o: print(_row(o), flush=True))
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return _summary(outcomes, json_path)


def _summary(outcomes: list[Outcome], json_path: Path | None) -> int:
    if json_path is not None:
        write_json(json_path, outcomes)
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} scenarios as expected")
    return 1 if failed else 0


def _hold(stack: Stack) -> int:
    env_file = Path("demo-env.json").resolve()
    env = stack.env_description()
    env["task_token"] = stack.task_token("helpdesk-bot", principals=("alice", "bob"), ttl=900)
    env["task_intent"] = "account_support"
    env_file.write_text(json.dumps(env, indent=2) + "\n")
    print(_hold_help(env, env_file, stack.ports), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    print("stopping ...", file=sys.stderr)
    stack.stop()
    env_file.unlink(missing_ok=True)  # its paths point into the stack's folder, kept for a look:
    print(f"stopped; the audit logs, the state and every log are kept in {stack.workdir}", file=sys.stderr)
    return 0


def _cli() -> str:
    """How to run this agent-authz from a shell: its own script beside the interpreter (the venv's
    bin/), or the interpreter itself — never a bare name that PATH may not know."""
    beside = Path(sys.executable).with_name("agent-authz")
    return str(beside) if beside.exists() else f"{sys.executable} -m authz"


def _hold_help(env: dict[str, Any], env_file: Path, ports: dict[str, int]) -> str:
    bot = env["agents"]["helpdesk-bot"]
    base = f"https://127.0.0.1:{ports['envoy']}"
    tls = f"--cacert {env['trust_bundle']} --cert {bot['cert']} --key {bot['key']}"
    cli = _cli()
    task = '-H "x-agent-task-token: $TASK" -H "x-agent-intent: account_support"'
    return f"""
stack is up; details in {env_file}

  # a task token for helpdesk-bot (read alice and bob, 15 minutes), from demo-env.json
  TASK=$(python3 -c 'import json; print(json.load(open("{env_file}"))["task_token"])')
  # or issue one yourself:
  #   {cli} task issue --config {env["config"]} --key {env["issuer_key"]} \\
  #     --kid {env["issuer_kid"]} --agent-cert {bot["cert"]} \\
  #     --intent account_support --principal alice --action user.read

  # read a user within the task (200); one it does not name (403 principal_not_in_scope)
  curl -s {tls} {task} {base}/v1/users/alice
  curl -s {tls} {task} {base}/v1/users/carol
  # no task token (401 task_token_missing); an unknown route (403 unknown_route)
  curl -s {tls} {base}/v1/users/alice
  curl -s {tls} {task} {base}/v1/admin/export
  # the kill switch, then curl again (403 agent_suspended)
  {cli} agent suspend --config {env["config"]} {bot["spiffe_id"]}
  # metrics; the audit chain
  curl -s http://127.0.0.1:{ports["metrics"]}/metrics | grep authz_decisions
  {cli} audit verify {env["audit"]}

Ctrl-C stops everything."""
