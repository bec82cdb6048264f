"""The stack survives a port taken between picking it and binding it (another test worker's
stack, say): it starts again on fresh ports instead of failing the test run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import E2E

from authz.demo.processes import StackError
from authz.demo.stack import Stack

pytestmark = pytest.mark.e2e


def _occupy(port: int) -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


@pytest.mark.parametrize("taken", ["envoy", "upstream"])
def test_a_taken_port_starts_the_stack_again_on_fresh_ports(tmp_path: Path, taken: str) -> None:
    stack = Stack.create(tmp_path / "stack")
    picked = dict(stack.ports)
    with _occupy(picked[taken]):
        stack.start()
        try:
            assert stack.ports[taken] != picked[taken]
            assert list(tmp_path.glob(f"stack/{taken}.log.failed")), "the first attempt failed"
            e2e = E2E(stack)
            read = e2e.agent().request("GET", "/v1/users/alice")
            assert read.status == 200, f"{read}: a read through Envoy on the new ports"
            e2e.reached_once(read)
            e2e.assert_denied_never_reached_upstream()
            if taken == "upstream":  # the directory follows the sample API to its new port
                assert f":{stack.ports['upstream']}/" in stack.config_path.read_text()
        finally:
            stack.stop()


def test_a_process_that_fails_for_another_reason_is_not_retried(tmp_path: Path) -> None:
    stack = Stack.create(tmp_path / "stack")
    stack.config_path.write_text("this is not toml [")
    with pytest.raises(StackError, match="authz is not running"):
        stack.start()
    assert not list(tmp_path.glob("stack/*.log.failed"))
    assert not stack.procs
