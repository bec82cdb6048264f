"""Hot reload: SIGHUP or a changed file; a reload that fails validation changes nothing."""

from __future__ import annotations

import re
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from factories import World, check_request, make_world

from authz.config import load_config
from authz.server.grpc_server import AuthzServer

FORBID_READS = (
    '@id("maintenance")\n@reason("closed_for_maintenance")\nforbid (principal, action, resource);\n'
)
BROKEN = "forbid (principal, action, resource) when { resource.kind == };\n"


class Running:
    def __init__(self, world: World, watch_interval: float | None) -> None:
        self.world = world
        self.server = AuthzServer(
            load_config(world.config_path),
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            watch_interval=watch_interval,
        )
        self.server.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.stub = pb_grpc.AuthorizationStub(self.channel)
        self.token = world.token(world.bot)

    def read(self) -> str:
        resp = self.stub.Check(check_request(self.world.request(task=self.token)), timeout=5)
        if resp.HasField("ok_response"):
            return "allowed"
        return {h.header.key: h.header.value for h in resp.denied_response.headers}["x-authz-reason"]

    def reloads(self, result: str) -> int:
        url = f"http://127.0.0.1:{self.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback
            text = resp.read().decode()
        found = re.search(rf'^authz_reloads_total{{result="{result}"}} ([\d.]+)$', text, re.M)
        return int(float(found.group(1))) if found else 0

    def close(self) -> None:
        self.channel.close()
        self.server.stop(grace=1)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    r = Running(make_world(tmp_path), watch_interval=None)
    yield r
    r.close()


def wait_for(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        threading.Event().wait(0.02)


def test_a_reload_applies_new_policies(running: Running) -> None:
    assert running.read() == "allowed"
    (running.world.root / "policies" / "zz-maintenance.cedar").write_text(FORBID_READS)
    assert running.server.reload()
    assert running.read() == "policy_denied"
    assert running.reloads("ok") == 1


def test_attack_a_broken_policy_dropped_in_during_load_decides_nothing(running: Running) -> None:
    outcomes: list[str] = []
    done = threading.Event()

    def load() -> None:
        while not done.is_set():
            outcomes.append(running.read())

    reader = threading.Thread(target=load)
    reader.start()
    try:
        wait_for(lambda: len(outcomes) > 20, "traffic")
        (running.world.root / "policies" / "zz-broken.cedar").write_text(BROKEN)
        assert not running.server.reload()
        count = len(outcomes)
        wait_for(lambda: len(outcomes) > count + 20, "traffic after the failed reload")
    finally:
        done.set()
        reader.join(30)
    assert set(outcomes) == {"allowed"}, "every request was decided by the last good set"
    assert running.reloads("failed") == 1 and running.reloads("ok") == 0


def test_a_changed_policy_file_is_picked_up(tmp_path: Path) -> None:
    r = Running(make_world(tmp_path), watch_interval=0.05)
    try:
        assert r.read() == "allowed"
        (tmp_path / "policies" / "zz-maintenance.cedar").write_text(FORBID_READS)
        wait_for(lambda: r.reloads("ok") == 1, "the reload")
        assert r.read() == "policy_denied"
    finally:
        r.close()


def line_with(proc: subprocess.Popen[str], text: str, timeout: float = 30) -> str:
    """The first output line holding ``text``; fails after ``timeout`` instead of hanging."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            line = proc.stdout.readline()
            if not line:
                break
            if text in line:
                return line
    raise AssertionError(f"no output line with {text!r}")


def test_sighup_reloads_a_running_server(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "authz", "serve", "--config", str(world.config_path),
         "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        line_with(proc, "serving ext_authz")
        (tmp_path / "policies" / "zz-broken.cedar").write_text(BROKEN)
        proc.send_signal(signal.SIGHUP)
        assert "zz-broken.cedar:1" in line_with(proc, "reload refused")
        assert proc.poll() is None, "a failed reload never stops the server"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
