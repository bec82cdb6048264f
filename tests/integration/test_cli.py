"""The agent-authz command as a user runs it: serve, config check, audit verify, pki."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc as pb_grpc
from factories import check_request, make_world
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authz.audit import AuditLog, verify
from authz.cli import build_parser
from authz.demo.processes import free_port, wait_until

CLI = [sys.executable, "-m", "authz"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serve_stops_cleanly_on_sigterm(tmp_path: Path, log_format: str) -> None:
    world = make_world(tmp_path)
    port = free_port()
    audit = tmp_path / "elsewhere.jsonl"
    proc = subprocess.Popen(
        [
            *CLI,
            "--log-format",
            log_format,
            "serve",
            "--config",
            str(world.config_path),
            "--audit-path",
            str(audit),
            "--listen",
            f"127.0.0.1:{port}",
            "--metrics-listen",
            f"127.0.0.1:{free_port()}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)

            def serving() -> bool:
                try:
                    resp = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                except grpc.RpcError:
                    return False
                return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)

            wait_until(serving, "agent-authz serve", timeout=20)
            pb_grpc.AuthorizationStub(channel).Check(check_request(world.request()), timeout=5)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert "agent-authz stopped" in output.decode()
        assert verify(audit).records == 1  # --audit-path overrode the config
        if log_format == "json":  # every line one JSON object, for a log collector
            lines = [json.loads(line) for line in output.decode().splitlines()]
            assert lines[-1]["message"] == "agent-authz stopped" and lines[-1]["level"] == "info"
            assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_refuses_a_broken_config(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    world.config_path.write_text(world.config_path.read_text().replace('class = "read"', 'class = "reed"'))
    result = run("serve", "--config", str(world.config_path))
    assert result.returncode == 2
    lines = world.config_path.read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if 'class = "reed"' in text)
    assert f"config error: {world.config_path}:{line}: routes[0].class" in result.stderr  # file:line: key
    assert "Traceback" not in result.stderr


def test_config_check(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    result = run("config", "check", "--config", str(world.config_path))
    assert result.returncode == 0 and "ok" in result.stdout


def test_serve_refuses_a_log_ending_in_a_partial_record(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    (tmp_path / "audit.jsonl").write_text('{"seq": 1, "prev"')
    result = run("serve", "--config", str(world.config_path))
    assert result.returncode == 2 and "partial record" in result.stderr


@pytest.fixture
def audit_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(3):
        log.append({"decision_id": str(i)}, durable=False)
    log.close()
    return path


def test_audit_verify_intact(audit_file: Path) -> None:
    result = run("audit", "verify", str(audit_file))
    assert result.returncode == 0 and "intact, 3 records" in result.stdout


def test_audit_verify_names_the_broken_record(audit_file: Path) -> None:
    lines = audit_file.read_text().splitlines(keepends=True)
    audit_file.write_text(lines[0] + lines[2])
    result = run("audit", "verify", str(audit_file))
    assert result.returncode == 1 and "record 2:" in result.stderr


def test_audit_verify_missing_file(tmp_path: Path) -> None:
    result = run("audit", "verify", str(tmp_path / "none.jsonl"))
    assert result.returncode == 2 and "cannot be read" in result.stderr


def test_pki_init_makes_svids_with_one_uri_san(tmp_path: Path) -> None:
    from cryptography import x509

    result = run("pki", "init", "--dir", str(tmp_path / "pki"), "--agent", "bot")
    assert result.returncode == 0, result.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "pki" / "agents" / "bot.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://agents.example.org/agent/bot"
    ]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    eku = x509.oid.ExtendedKeyUsageOID
    assert set(usage) == {eku.CLIENT_AUTH, eku.SERVER_AUTH}  # X509-SVID 4.4: both, when it is there
    assert (tmp_path / "pki" / "agents" / "bot.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("url", ["http://iam:8080/lookup", "ftp://x/{name}"])
def test_serve_refuses_a_directory_url_it_cannot_use(tmp_path: Path, url: str) -> None:
    world = make_world(tmp_path)  # its directory is a file: an http URL cannot replace it
    result = run("serve", "--config", str(world.config_path), "--directory-url", url)
    assert result.returncode == 2 and "--directory-url" in result.stderr


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_help_text_is_plain_text() -> None:
    # Markdown backticks and the module docstring leaked into --help once: what it prints is for
    # a terminal, and every command has a one-line description.
    helps = [p.format_help() for p in _parsers(build_parser())]
    assert len(helps) > 30 and not [h for h in helps if "`" in h]
    assert "one module per command group" not in helps[0]
