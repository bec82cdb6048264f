"""DESIGN §6 in every rendered Envoy config (docker-compose's, the demo's, the benchmark's):
downstream mTLS with SPIFFE validation, normalised paths and headers, injected headers stripped
before ext_authz, ext_authz failing closed, the authorizer cluster, the admin on loopback — and
envoy/README.md explaining every setting."""

from __future__ import annotations

import re
from typing import Any

import pytest
from envoy_helpers import (
    AUTHZ_SERVICE,
    CONFIGS,
    ENVOY_DIR,
    cluster,
    downstream_tls,
    hcm,
    http_filter,
    keys,
    make_pki,
    render_all,
)

from authz.devkit.world import TRUST_DOMAIN
from authz.envoy.config import compose_config
from authz.model import INJECTED_HEADERS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return render_all(make_pki(tmp_path_factory), tmp_path_factory)


@pytest.mark.parametrize("name", CONFIGS)
def test_downstream_mtls_with_spiffe_validation(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    tls = downstream_tls(rendered[name])
    assert tls["require_client_certificate"] is True
    common = tls["common_tls_context"]
    assert common["tls_params"]["tls_minimum_protocol_version"] == "TLSv1_2"
    validation = common["validation_context"]
    assert "trusted_ca" not in validation
    validator = validation["custom_validator_config"]
    assert validator["name"] == "envoy.tls.cert_validator.spiffe"
    domains = [d["name"] for d in validator["typed_config"]["trust_domains"]]
    assert domains == [TRUST_DOMAIN]
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "URI", "matcher": {"prefix": f"spiffe://{d}/"}} for d in domains
    ]


@pytest.mark.parametrize("name", CONFIGS)
def test_paths_and_headers_are_normalised(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    manager = hcm(rendered[name])
    assert manager["normalize_path"] is True
    assert manager["merge_slashes"] is True
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    assert manager["forward_client_cert_details"] == "SANITIZE"
    assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"
    # Route-level removal runs after ext_authz and would strip agent-authz's own headers (DESIGN §6).
    assert "request_headers_to_remove" not in set(keys(manager["route_config"]))


@pytest.mark.parametrize("name", CONFIGS)
def test_injected_headers_are_stripped_before_ext_authz(
    name: str, rendered: dict[str, dict[str, Any]]
) -> None:
    order = [f["name"] for f in hcm(rendered[name])["http_filters"]]
    transcoder = ["envoy.filters.http.grpc_json_transcoder"] if name != "bench" else []
    assert order == [
        "envoy.filters.http.header_mutation",
        "envoy.filters.http.ext_authz",
        "strip_rewriting_headers",  # after ext_authz, which must see them to refuse the request
        *transcoder,  # the approval API: transcoded only after ext_authz decided
        "envoy.filters.http.router",
    ]
    mutations = http_filter(rendered[name], "envoy.filters.http.header_mutation")["mutations"]
    assert set(mutations) == {"request_mutations"}
    removed = [m["remove"] for m in mutations["request_mutations"]]
    assert len(removed) == len(mutations["request_mutations"]), "only removals"
    assert sorted(removed) == sorted(INJECTED_HEADERS)


@pytest.mark.parametrize("name", CONFIGS)
def test_ext_authz_fails_closed_with_the_exact_body(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    ext = http_filter(rendered[name], "envoy.filters.http.ext_authz")
    assert ext["transport_api_version"] == "V3"
    assert ext["grpc_service"]["envoy_grpc"]["cluster_name"] == "agent_authz"
    assert re.fullmatch(r"\d+(\.\d+)?s", ext["grpc_service"]["timeout"])
    assert ext["include_peer_certificate"] is True
    body = ext["with_request_body"]
    assert body["max_request_bytes"] > 0
    assert body["allow_partial_message"] is False
    assert body["pack_as_bytes"] is True
    assert ext["failure_mode_allow"] is False
    assert ext["status_on_error"] == {"code": "ServiceUnavailable"}


@pytest.mark.parametrize("name", CONFIGS)
def test_authz_cluster_speaks_http2_and_is_health_checked(
    name: str, rendered: dict[str, dict[str, Any]]
) -> None:
    authz = cluster(rendered[name], "agent_authz")
    options = authz["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    (check,) = authz["health_checks"]
    assert check["grpc_health_check"] == {"service_name": AUTHZ_SERVICE}


def test_one_authz_endpoint_per_process(rendered: dict[str, dict[str, Any]]) -> None:
    (locality,) = cluster(rendered["bench"], "agent_authz")["load_assignment"]["endpoints"]
    ports = [e["endpoint"]["address"]["socket_address"]["port_value"] for e in locality["lb_endpoints"]]
    assert ports == [19001, 19002]


@pytest.mark.parametrize("name", ["demo", "bench"])
def test_local_admin_listens_on_loopback_only(name: str, rendered: dict[str, dict[str, Any]]) -> None:
    assert rendered[name]["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_readme_explains_every_setting() -> None:
    readme = (ENVOY_DIR / "README.md").read_text()
    missing = sorted({k for k in keys(compose_config()) if k != "@type" and k not in readme})
    assert not missing, f"envoy/README.md does not mention: {missing}"
