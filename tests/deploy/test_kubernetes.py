"""deploy/kubernetes/: every core object is valid against the Kubernetes schemas, and the objects
hang together — with each other, with the agent-authz CLI and with its config loader."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from authz.cli import build_parser
from authz.cli.serve import serve
from authz.config import load_config
from authz.devkit.pki import DevPki
from authz.devkit.world import (
    DEMO_DIRECTORY_URL,
    DEMO_GROUPS_URL,
    REPO_POLICIES,
    TRUST_DOMAIN,
    demo_config,
    redis_store,
    write_demo_keys,
)

from .manifests import (
    KUBERNETES,
    Obj,
    container,
    documents,
    find,
    generated_configmaps,
    kustomization,
    listed_objects,
    port_number,
    selects,
)

K8S_VERSION = "1.32.0"  # a release kubernetes_validate ships schemas for
NAMESPACE = "agent-authz"
CONFIG = PurePosixPath("/etc/agent-authz/agent-authz.toml")
REDIS_URL = "redis://agent-authz-redis:6379/0"
PASSWORD_FILE = "/etc/agent-authz/redis/password"
IAM_API = "http://iam-api.iam.svc.cluster.local:8080/"
EXAMPLE_SECRET = KUBERNETES / "redis-secret.example.yaml"

OBJECTS = listed_objects()
CORE = [*OBJECTS, *generated_configmaps(), *documents(EXAMPLE_SECRET)]
DEPLOYMENT = find(OBJECTS, "Deployment", "agent-authz")
POD = DEPLOYMENT["spec"]["template"]
AUTHZ = container(DEPLOYMENT, "agent-authz")


def _id(obj: Obj) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("obj", CORE, ids=_id)
def test_objects_are_valid_kubernetes(obj: Obj) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    """The validation above is live: strict mode refuses an unknown field."""
    broken = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_manifest_file_is_in_the_kustomization() -> None:
    listed = set(kustomization()["resources"])
    files = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml", EXAMPLE_SECRET.name}
    assert files == listed
    assert EXAMPLE_SECRET.name not in listed  # a placeholder password is never applied


def test_every_object_is_in_the_namespace() -> None:
    assert kustomization()["namespace"] == NAMESPACE
    namespaced = [o for o in CORE if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in namespaced} == {NAMESPACE}
    assert find(OBJECTS, "Namespace", NAMESPACE)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_directory() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL, check=True).stdout  # fmt: skip
    rendered = [d for d in yaml.safe_load_all(out) if d]
    maps = {o["metadata"]["name"] for o in rendered if o["kind"] == "ConfigMap"}
    volumes = find(rendered, "Deployment", "agent-authz")["spec"]["template"]["spec"]["volumes"]
    used = {v["configMap"]["name"] for v in volumes if "configMap" in v}
    generated = {m for m in maps if m.startswith(("agent-authz-config-", "agent-authz-policies-"))}
    assert len(generated) == 2 and generated <= used  # the Deployment names the hashed ConfigMaps


def test_the_deployment_runs_at_least_two_replicas_without_a_gap() -> None:
    assert DEPLOYMENT["spec"]["replicas"] >= 2
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert selects(DEPLOYMENT["spec"]["selector"]["matchLabels"], POD["metadata"]["labels"])


def test_the_container_args_are_a_serve_command_of_the_cli() -> None:
    assert "command" not in AUTHZ  # the image's ENTRYPOINT is agent-authz
    args = build_parser().parse_args(AUTHZ["args"])
    assert args.func is serve
    assert args.log_format == "json"
    assert PurePosixPath(args.config) == CONFIG
    assert args.listen == "0.0.0.0:9001"
    assert args.metrics_listen == "0.0.0.0:9464"
    assert args.directory_url is None  # the directory's URLs are in the config


def test_each_pod_writes_its_own_audit_chain() -> None:
    args = build_parser().parse_args(AUTHZ["args"])
    assert args.audit_path == "/var/lib/agent-authz/audit-$(POD_NAME).jsonl"
    env = {e["name"]: e for e in AUTHZ["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def _listen_port(flag: str) -> int:
    args = build_parser().parse_args(AUTHZ["args"])
    return int(getattr(args, flag).rsplit(":", 1)[1])


@pytest.mark.parametrize(("probe", "path"), [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")])
def test_http_probes_ask_the_metrics_port(probe: str, path: str) -> None:
    get = AUTHZ[probe]["httpGet"]
    assert get["path"] == path
    assert port_number(AUTHZ, get["port"]) == 9464 == _listen_port("metrics_listen")


def test_the_startup_probe_is_the_grpc_health_of_the_check_service() -> None:
    grpc = AUTHZ["startupProbe"]["grpc"]
    assert grpc["service"] == "envoy.service.auth.v3.Authorization"
    assert port_number(AUTHZ, grpc["port"]) == 9001 == _listen_port("listen")


def test_the_container_is_locked_down() -> None:
    pod, ctx = POD["spec"]["securityContext"], AUTHZ["securityContext"]
    assert pod["runAsNonRoot"] is True and ctx["runAsNonRoot"] is True
    assert pod["runAsUser"] == 10001  # the Dockerfile's user
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert POD["spec"]["automountServiceAccountToken"] is False
    for kind in ("requests", "limits"):
        assert set(AUTHZ["resources"][kind]) == {"cpu", "memory"}


def _mounts() -> dict[str, Obj]:
    """Mount path -> the volume mounted there (with the mount's subPath)."""
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    mounts = AUTHZ["volumeMounts"]
    return {m["mountPath"]: {**volumes[m["name"]], "subPath": m.get("subPath")} for m in mounts}


def test_the_state_folder_is_the_only_writable_mount() -> None:
    writable = [m["mountPath"] for m in AUTHZ["volumeMounts"] if not m.get("readOnly")]
    assert sorted(writable) == ["/tmp", "/var/lib/agent-authz"]
    assert "emptyDir" in _mounts()["/var/lib/agent-authz"]


def test_the_config_file_is_the_generated_configmap() -> None:
    mount = _mounts()[str(CONFIG)]
    assert mount["configMap"]["name"] == "agent-authz-config"
    assert mount["subPath"] == "agent-authz.toml"
    assert "agent-authz.toml" in find(generated_configmaps(), "ConfigMap", "agent-authz-config")["data"]


def _config_text() -> str:
    return (KUBERNETES / "config" / "agent-authz.toml").read_text()


def test_the_config_is_the_demo_config_with_the_cluster_addresses() -> None:
    """`agent-authz demo-config --store-url redis://agent-authz-redis:6379/0`, plus the password
    file and the directory at the IAM API's Service: nothing else differs."""
    expected = demo_config(store=redis_store(REDIS_URL, password_file=PASSWORD_FILE))
    for url in (DEMO_DIRECTORY_URL, DEMO_GROUPS_URL):
        expected = expected.replace(url, url.replace("http://127.0.0.1:8080/", IAM_API))
    assert _config_text() == expected


def _mounted_file(path: str) -> Obj | None:
    """The volume (and the key in it) that provides ``path`` in the container, if any."""
    for where, volume in _mounts().items():
        if volume["subPath"] and path == where:
            return {"volume": volume, "key": volume["subPath"]}
        if not volume["subPath"] and path.startswith(where + "/"):
            return {"volume": volume, "key": path[len(where) + 1 :]}
    return None


def _named_files() -> list[str]:
    data = tomllib.loads(_config_text())
    names = [d["bundle"] for d in data["trust_domains"]] + [k["public_key"] for k in data["tasks"]["keys"]]
    names += [a["public_key"] for a in data["approvals"]["approvers"]]
    names += [f"{data['policy']['dir']}/schema.cedarschema", data["store"]["password_file"]]
    return [str(CONFIG.parent / n) for n in names]  # relative paths: against the config's folder


def test_every_file_the_config_names_is_mounted() -> None:
    missing = [path for path in _named_files() if _mounted_file(path) is None]
    assert missing == []


def test_the_redis_password_is_the_secrets_key() -> None:
    found = _mounted_file(PASSWORD_FILE)
    assert found is not None
    secret = found["volume"]["secret"]
    assert secret["secretName"] == "agent-authz-redis"
    assert {i["key"]: i["path"] for i in secret["items"]}["password"] == found["key"]
    assert tomllib.loads(_config_text())["store"]["password_file"] == PASSWORD_FILE
    example = documents(EXAMPLE_SECRET)[0]
    assert example["metadata"]["name"] == "agent-authz-redis"
    assert "CHANGE-ME" in example["stringData"]["password"]  # a placeholder, never a password


def test_the_policies_are_the_repositorys() -> None:
    generated = find(generated_configmaps(), "ConfigMap", "agent-authz-policies")["data"]
    repo = {p.name: p.read_text() for p in REPO_POLICIES.iterdir() if p.is_file()}
    assert generated == repo
    assert _mounts()["/etc/agent-authz/policies"]["configMap"]["name"] == "agent-authz-policies"


def test_the_config_loads_with_what_the_pod_mounts(tmp_path: Path) -> None:
    """The config, written beside a dev PKI, the demo keys, the policies ConfigMap and a
    password file, passes the loader (which also validates the policies)."""
    DevPki.create(tmp_path / "pki", TRUST_DOMAIN)
    write_demo_keys(tmp_path / "keys")
    (tmp_path / "policies").mkdir()
    for name, text in find(generated_configmaps(), "ConfigMap", "agent-authz-policies")["data"].items():
        (tmp_path / "policies" / name).write_text(text)
    (tmp_path / "password").write_text("not-a-secret\n")
    text = _config_text()
    assert text.count(PASSWORD_FILE) == 1
    (tmp_path / "agent-authz.toml").write_text(text.replace(PASSWORD_FILE, str(tmp_path / "password")))
    config = load_config(tmp_path / "agent-authz.toml")
    assert config.store.kind == "redis" and config.store.url == REDIS_URL
    assert config.store.password == "not-a-secret"


def _service_port(service: Obj, name: str) -> Obj:
    return next(p for p in service["spec"]["ports"] if p["name"] == name)


@pytest.mark.parametrize("name", ["agent-authz", "agent-authz-headless"])
def test_the_services_reach_the_pods_grpc_port(name: str) -> None:
    service = find(OBJECTS, "Service", name)
    assert selects(service["spec"]["selector"], POD["metadata"]["labels"])
    grpc = _service_port(service, "grpc")
    assert grpc["port"] == 9001 and grpc["appProtocol"] == "grpc"  # Envoy must speak HTTP/2
    assert port_number(AUTHZ, grpc["targetPort"]) == 9001


def test_the_service_is_cluster_internal_with_the_metrics_port() -> None:
    service = find(OBJECTS, "Service", "agent-authz")
    assert service["spec"]["type"] == "ClusterIP"
    assert port_number(AUTHZ, _service_port(service, "http-metrics")["targetPort"]) == 9464
    assert find(OBJECTS, "Service", "agent-authz-headless")["spec"]["clusterIP"] == "None"


def test_the_disruption_budget_keeps_a_replica() -> None:
    pdb = find(OBJECTS, "PodDisruptionBudget", "agent-authz")
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], POD["metadata"]["labels"])


def _ingress_by_port(policy: Obj) -> dict[int, list[Obj]]:
    rules: dict[int, list[Obj]] = {}
    for rule in policy["spec"]["ingress"]:
        assert rule.get("ports") and rule.get("from"), "a rule without ports or peers opens too much"
        for port in rule["ports"]:
            rules.setdefault(port["port"], []).extend(rule["from"])
    return rules


def test_only_the_sidecars_reach_the_grpc_port() -> None:
    policy = find(OBJECTS, "NetworkPolicy", "agent-authz")
    assert selects(policy["spec"]["podSelector"]["matchLabels"], POD["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    by_port = _ingress_by_port(policy)
    assert set(by_port) == {9001, 9464}
    [peer] = by_port[9001]
    assert peer["podSelector"] == {"matchLabels": {"agent-authz/client": "true"}}
    assert peer["namespaceSelector"]["matchLabels"]  # one namespace, not every namespace
    [scraper] = by_port[9464]
    assert "prometheus" in scraper["podSelector"]["matchLabels"].values()


def test_redis_is_append_only_on_a_volume_and_reached_by_agent_authz_only() -> None:
    redis = find(OBJECTS, "StatefulSet", "agent-authz-redis")
    server = container(redis, "redis")
    command = " ".join(server["command"])
    assert "--appendonly yes" in command and "--requirepass" in command
    env = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in server["env"]}
    assert env["REDIS_PASSWORD"] == "agent-authz-redis"
    [claim] = redis["spec"]["volumeClaimTemplates"]
    assert {m["name"]: m["mountPath"] for m in server["volumeMounts"]}[claim["metadata"]["name"]] == "/data"
    service = find(OBJECTS, "Service", "agent-authz-redis")
    assert selects(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"])
    host_port = REDIS_URL.removeprefix("redis://").split("/")[0]
    assert host_port == f"{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    policy = find(OBJECTS, "NetworkPolicy", "agent-authz-redis")
    [peer] = _ingress_by_port(policy)[6379]
    assert selects(peer["podSelector"]["matchLabels"], POD["metadata"]["labels"])
