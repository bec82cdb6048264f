"""deploy/istio/: structural checks (kubernetes_validate has no schemas for Istio's CRDs). The
provider, the policy that uses it and the patches that give agent-authz what the provider
cannot send agree with each other, with deploy/kubernetes/ and with agent-authz's config."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from urllib.parse import urlsplit

import pytest

from authz.config.model import Config
from authz.headers import INJECTED_HEADERS
from authz.server.outcomes import DECISION_HEADER

from .manifests import ISTIO, KUBERNETES, Obj, documents, find, kustomization, listed_objects, selects

MESH = documents(ISTIO / "meshconfig.yaml")[0]
OBJECTS = [d for name in kustomization(ISTIO)["resources"] for d in documents(ISTIO / name)]
POLICY = find(OBJECTS, "AuthorizationPolicy", "agent-authz")
FILTER = find(OBJECTS, "EnvoyFilter", "agent-authz-ext-authz")
K8S = listed_objects()
EXT_AUTHZ = "envoy.filters.http.ext_authz"


def _provider() -> Obj:
    [provider] = MESH["spec"]["meshConfig"]["extensionProviders"]
    return dict(provider)


def _grpc() -> Obj:
    grpc: Obj = _provider()["envoyExtAuthzGrpc"]
    return grpc


def _default_max_body_bytes() -> int:
    return int(next(f.default for f in dataclasses.fields(Config) if f.name == "max_body_bytes"))


def test_the_policy_uses_the_mesh_provider() -> None:
    assert MESH["kind"] == "IstioOperator"
    assert POLICY["spec"]["action"] == "CUSTOM"
    assert POLICY["spec"]["provider"]["name"] == _provider()["name"] == "agent-authz"
    assert POLICY["spec"]["selector"]["matchLabels"]  # the IAM API only, not the whole namespace


def test_the_provider_calls_the_agent_authz_service() -> None:
    namespace = kustomization(KUBERNETES)["namespace"]
    service = find(K8S, "Service", "agent-authz")
    assert _grpc()["service"] == f"{service['metadata']['name']}.{namespace}.svc.cluster.local"
    grpc_port = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert _grpc()["port"] == grpc_port["port"] == 9001


def test_the_provider_never_fails_open() -> None:
    assert _grpc()["failOpen"] is False
    assert _grpc()["timeout"]


def test_the_body_is_sent_whole_as_bytes_up_to_agent_authz_limit() -> None:
    body = _grpc()["includeRequestBodyInCheck"]
    assert body["maxRequestBytes"] == _default_max_body_bytes() == 65536
    config = tomllib.loads((KUBERNETES / "config" / "agent-authz.toml").read_text())
    assert config.get("max_body_bytes", _default_max_body_bytes()) == body["maxRequestBytes"]
    assert body["packAsBytes"] is True
    assert body["allowPartialMessage"] is False  # a truncated body is never decided on


@pytest.mark.parametrize("name", ["iam-api-strict", "agent-authz-strict"])
def test_peer_authentication_is_strict(name: str) -> None:
    peer = find(OBJECTS, "PeerAuthentication", name)
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    assert peer["spec"]["selector"]["matchLabels"]


def test_strict_mtls_covers_the_api_and_agent_authz_grpc_port() -> None:
    api = find(OBJECTS, "PeerAuthentication", "iam-api-strict")
    assert api["metadata"]["namespace"] == POLICY["metadata"]["namespace"]
    assert api["spec"]["selector"] == POLICY["spec"]["selector"]
    authz = find(OBJECTS, "PeerAuthentication", "agent-authz-strict")
    pod_labels = find(K8S, "Deployment", "agent-authz")["spec"]["template"]["metadata"]["labels"]
    assert selects(authz["spec"]["selector"]["matchLabels"], pod_labels)
    assert authz["metadata"]["namespace"] == kustomization(KUBERNETES)["namespace"]
    assert set(authz["spec"].get("portLevelMtls", {})) == {"9464"}  # metrics only, never 9001


def _patches(operation: str) -> list[Obj]:
    found = []
    for patch in FILTER["spec"]["configPatches"]:
        match = patch["match"]
        hcm = match["listener"]["filterChain"]["filter"]
        if patch["patch"]["operation"] == operation and hcm.get("subFilter", {}).get("name") == EXT_AUTHZ:
            assert patch["applyTo"] == "HTTP_FILTER" and match["context"] == "SIDECAR_INBOUND"
            assert hcm["name"] == "envoy.filters.network.http_connection_manager"
            found.append(patch["patch"]["value"])
    return found


def test_the_envoy_filter_patches_the_api_workload() -> None:
    assert FILTER["metadata"]["namespace"] == POLICY["metadata"]["namespace"]
    assert FILTER["spec"]["workloadSelector"]["labels"] == POLICY["spec"]["selector"]["matchLabels"]


def test_the_peer_certificate_is_sent_to_agent_authz() -> None:
    """Istio's provider has no include_peer_certificate: without the patch stage 1 has no
    certificate to verify and every request is denied."""
    [merge] = _patches("MERGE")
    config = merge["typed_config"]
    assert config["@type"] == "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
    assert config["include_peer_certificate"] is True
    assert config.get("failure_mode_allow", False) is False


def test_client_copies_of_injected_headers_are_stripped_before_ext_authz() -> None:
    [insert] = _patches("INSERT_BEFORE")
    config = insert["typed_config"]
    assert config["@type"].endswith(".header_mutation.v3.HeaderMutation")
    removed = [m["remove"] for m in config["mutations"]["request_mutations"]]
    assert removed == list(INJECTED_HEADERS)


def test_outcomes_stream_to_agent_authz_through_the_providers_cluster() -> None:
    """Istio names a service's cluster outbound|PORT||HOST: the provider's service and port."""
    [patch] = [p for p in FILTER["spec"]["configPatches"] if p["applyTo"] == "NETWORK_FILTER"]
    assert patch["match"]["context"] == "SIDECAR_INBOUND" and patch["patch"]["operation"] == "MERGE"
    [log] = patch["patch"]["value"]["typed_config"]["access_log"]
    config = log["typed_config"]
    assert config["@type"].endswith(".access_loggers.grpc.v3.HttpGrpcAccessLogConfig")
    common = config["common_config"]
    cluster = f"outbound|{_grpc()['port']}||{_grpc()['service']}"
    assert common["grpc_service"]["envoy_grpc"]["cluster_name"] == cluster
    assert common["transport_api_version"] == "V3"
    assert config["additional_request_headers_to_log"] == [DECISION_HEADER]
    assert config["additional_response_headers_to_log"] == [DECISION_HEADER]


def _exempt_principal() -> str:
    sources = [s for rule in POLICY["spec"]["rules"] for s in rule.get("from", [])]
    [source] = sources
    [principal] = source["source"]["notPrincipals"]
    return str(principal)


def test_only_agent_authz_is_exempt_and_only_on_the_directory() -> None:
    rules = POLICY["spec"]["rules"]
    assert len(rules) == 2  # CUSTOM applies when either matches: any other caller, or any other path
    account = find(K8S, "ServiceAccount", "agent-authz")
    namespace = kustomization(KUBERNETES)["namespace"]
    assert _exempt_principal() == f"cluster.local/ns/{namespace}/sa/{account['metadata']['name']}"
    deployment = find(K8S, "Deployment", "agent-authz")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    [to] = [t for rule in rules for t in rule.get("to", [])]
    [exempt] = to["operation"]["notPaths"]
    directory = tomllib.loads((KUBERNETES / "config" / "agent-authz.toml").read_text())["directory"]
    for url in (directory["url"], directory["group_url"]):
        assert fnmatch(urlsplit(url).path.replace("{name}", "alice"), exempt)
    for path in ("/v1/users/alice", "/v1/groups/admins/members", "/v1/directoryx"):
        assert not fnmatch(path, exempt)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders_the_istio_objects() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(ISTIO)], capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL, check=True).stdout  # fmt: skip
    assert out.count("\nkind: ") + out.startswith("kind: ") == len(OBJECTS) == 4
