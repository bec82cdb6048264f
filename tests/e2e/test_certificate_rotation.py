"""Envoy's certificate rotated under load, as SPIRE or cert-manager would: the listener's
certificate comes from an SDS file Envoy watches; a new certificate is written and the SDS file
renamed over the old one while agents keep calling. New connections get the new certificate
and no request is lost."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.client import HTTPException

import pytest
from conftest import E2E, running_stack
from cryptography import x509

from authz.demo.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rotating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    with running_stack(tmp_path_factory.mktemp("rotation"), rotating=True) as env:
        yield env


def served_serial(stack: Stack) -> int:
    """The serial of the certificate Envoy shows a new connection."""
    context = ssl.create_default_context(cafile=str(stack.pki.bundle))
    context.load_cert_chain(stack.pki.agent_cert("helpdesk-bot"), stack.pki.agent_key("helpdesk-bot"))
    with socket.create_connection(("127.0.0.1", stack.ports["envoy"]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_rotation_under_load_loses_no_request(rotating: E2E) -> None:
    stack, agent = rotating.stack, rotating.agent()
    statuses: list[int | str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                statuses.append(agent.request("GET", "/v1/users/alice").status)
            except (OSError, HTTPException) as exc:
                statuses.append(type(exc).__name__)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        while len(statuses) < 20:  # under load before the rotation
            time.sleep(0.01)
        before = served_serial(stack)
        new = stack.rotate_server_cert("2")
        deadline = time.monotonic() + 20
        while served_serial(stack) != new.serial_number:  # polled: Envoy reloads on the rename
            assert time.monotonic() < deadline, "Envoy never served the rotated certificate"
            time.sleep(0.05)
        settled = len(statuses)
        while len(statuses) < settled + 20:  # more requests on the new certificate
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert before != new.serial_number
    assert len(statuses) > 40 and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
