"""Config: the example loads; every broken file or key is a ConfigError naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import BOT, make_world

from authz.config import AgentStatus, ConfigError, load_config


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return make_world(tmp_path).config_path


def test_example_config_loads(config_path: Path) -> None:
    config = load_config(config_path)
    assert config.agents[BOT].status is AgentStatus.ACTIVE
    assert config.audit.path == config_path.parent / "audit.jsonl"
    assert config.trust_domains[0].bundle
    assert {r.operation for r in config.routes} >= {"user.read", "user.password.reset"}


def test_config_is_frozen(config_path: Path) -> None:
    config = load_config(config_path)
    with pytest.raises(AttributeError):
        config.max_body_bytes = 1  # type: ignore[misc]


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('status = "active"', 'status = "enabled"', "agents[0].status"),
        ('owner = "it-helpdesk@example.org"', 'owner = ""', "agents[0].owner"),
        ('owner = "it-helpdesk@example.org"', 'ownr = "x"', "agents[0].owner"),
        ('owner = "it-helpdesk@example.org"', 'owner = "a@b"\nstatuss = "active"', "agents[0]"),
        (
            'spiffe_id = "spiffe://agents.example.org/agent/helpdesk-bot"',
            'spiffe_id = "helpdesk-bot"',
            "agents[0].spiffe_id",
        ),
        (
            'spiffe_id = "spiffe://agents.example.org/agent/helpdesk-bot"',
            'spiffe_id = "spiffe://other.org/agent/x"',
            "agents[0].spiffe_id",
        ),
        ('bundle = "pki/ca.crt"', 'bundle = "pki/missing.crt"', "trust_domains[0].bundle"),
        ('bundle = "pki/ca.crt"', 'bundle = "agent-authz.toml"', "trust_domains[0].bundle"),
        ('listen = "127.0.0.1:9001"', 'listen = "9001"', "server.listen"),
        ("workers = 4", "workers = 0", "server.workers"),
        ('classes = ["credential_change"]', 'classes = ["root"]', "approvals.approvers[2].classes"),
        (
            'public_key = "keys/approver-dana.pub"',
            'public_key = "keys/nope.pub"',
            "approvals.approvers[0].public_key",
        ),
        (
            'public_key = "keys/approver-dana.pub"',
            'public_key = "keys/task-issuer.key"',
            "approvals.approvers[0].public_key",
        ),
        ('id = "erik"', 'id = "dana"', "approvals.approvers[1].id"),
        ("max_ttl = 600", 'max_ttl = "600"', "approvals.max_ttl"),
        ("max_ttl = 600", 'max_ttl = 600\nwebhook_url = "ftp://hooks.example.org"', "approvals.webhook_url"),
        ("workers = 4", 'workers = "4"', "server.workers"),
        ('path = "audit.jsonl"', 'path = "no/such/dir/audit.jsonl"', "audit.path"),
        ('method = "GET"', 'method = "get"', "routes[0].method"),
        ('path = "/v1/users/{user}"', 'path = "/v1/users/{user}/"', "routes[0].path"),
        ('path = "/v1/users/{user}"', 'path = "/v1/users/{user}/{user}"', "routes[0].path"),
        ('path = "/v1/users/{user}"', 'path = "/v1/users/{who}"', "routes[0].principal.path_param"),
        ('class = "read"', 'class = "root"', "routes[0].class"),
        ('operation = "user.read"', 'operation = "User Read"', "routes[0].operation"),
        (
            'principal = { path_param = "user" }\nreversible = true',
            "reversible = true",
            "routes[0].principal",
        ),
        ("[server]", "[servr]", "(top level)"),
        ('issuer = "agent-authz-dev-issuer"', 'issuer = ""', "tasks.issuer"),
        ('algorithms = ["EdDSA"]', 'algorithms = ["HS256"]', "tasks.algorithms"),
        ('algorithms = ["EdDSA"]', 'algorithms = ["ES256"]', "tasks.keys[0].public_key"),
        ('algorithms = ["EdDSA"]', "algorithms = []", "tasks.algorithms"),
        ("leeway = 30", "leeway = -1", "tasks.leeway"),
        (
            'public_key = "keys/task-issuer.pub"',
            'public_key = "keys/missing.pub"',
            "tasks.keys[0].public_key",
        ),
        ('public_key = "keys/task-issuer.pub"', 'public_key = "pki/ca.crt"', "tasks.keys[0].public_key"),
        (
            'public_key = "keys/task-issuer.pub"',
            'public_key = "keys/task-issuer.key"',
            "tasks.keys[0].public_key",
        ),
        ('operations = ["user.read"]', 'operations = ["user.delete"]', "intents[0].operations"),
        ('operations = ["user.read"]', "operations = []", "intents[0].operations"),
        ('id = "account_support"', 'id = "credential_recovery"', "intents[1].id"),
        ("break_glass = true", 'break_glass = "yes"', "intents[4].break_glass"),
        ('path = "state.db"', 'path = "nowhere/state.db"', "store.path"),
    ],
)
def test_bad_keys_are_named(config_path: Path, old: str, new: str, key: str) -> None:
    edit(config_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert info.value.key == key
    assert str(config_path) in str(info.value)


@pytest.mark.parametrize(
    "line", ["privileged_required = 2", "break_glass_required = 2", 'privileged_principals = ["carol"]']
)
def test_approval_thresholds_in_config_are_refused_as_policy(config_path: Path, line: str) -> None:
    # How many approvers a request needs is the policies' to say; an old config is told so.
    edit(config_path, "max_ttl = 600", f"max_ttl = 600\n{line}")
    with pytest.raises(ConfigError, match="policy now") as info:
        load_config(config_path)
    assert info.value.key == f"approvals.{line.split()[0]}"


def test_policies_are_required(config_path: Path) -> None:
    text = config_path.read_text()
    start = text.index("[policy]")
    end = text.index("[[routes]]")
    config_path.write_text(text[:start] + text[end:])
    with pytest.raises(ConfigError, match="is required") as info:
        load_config(config_path)
    assert info.value.key == "policy.dir"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[server\nlisten = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_duplicate_route_is_refused(config_path: Path) -> None:
    text = config_path.read_text()
    first_route = text[text.index("[[routes]]") : text.index("[[routes]]", text.index("[[routes]]") + 1)]
    config_path.write_text(text + "\n" + first_route)
    with pytest.raises(ConfigError, match="can match the same request"):
        load_config(config_path)


def test_agents_of_an_intent_must_be_registered(config_path: Path) -> None:
    edit(
        config_path,
        'agents = ["spiffe://agents.example.org/agent/helpdesk-bot"]',
        'agents = ["spiffe://agents.example.org/agent/nobody"]',
    )
    with pytest.raises(ConfigError, match="not registered") as info:
        load_config(config_path)
    assert info.value.key == "intents[1].agents"


def test_issuer_keys_are_parsed_once_into_key_objects(config_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    config = load_config(config_path)
    assert isinstance(config.tasks.keys["dev-issuer-1"], ed25519.Ed25519PublicKey)
    assert config.intents["emergency_access"].break_glass


def test_no_trust_domain_is_refused(config_path: Path) -> None:
    edit(config_path, '[[trust_domains]]\nname = "agents.example.org"\nbundle = "pki/ca.crt"', "")
    with pytest.raises(ConfigError, match="at least one trust domain"):
        load_config(config_path)
