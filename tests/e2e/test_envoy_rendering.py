"""Every Envoy config the project uses: no drift, accepted by ``envoy --mode validate``.

``envoy/envoy.yaml`` (docker-compose), the demo's and the benchmark's configs all come from
``authz.envoy.config.render``. Validate mode needs the certificate, key and bundle files to exist
(a missing one fails it), but does not resolve the STRICT_DNS host names (``authz``, ``iam-api``)
nor bind ports.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from envoy_helpers import COMPOSE_PKI, ENVOY_DIR, make_pki, render_all, validate, validate_rendered

from authz.devkit.pki import DevPki
from authz.envoy.config import compose_config, to_yaml
from authz.envoy.descriptor import approvals_descriptor

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPki:
    return make_pki(tmp_path_factory)


@pytest.fixture(scope="module")
def rendered(pki: DevPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return render_all(pki, tmp_path_factory)


# -- (a) no drift --------------------------------------------------------------------------------
def test_checked_in_config_is_the_generated_one() -> None:
    on_disk = (ENVOY_DIR / "envoy.yaml").read_text()
    assert on_disk == to_yaml(compose_config()), (
        "envoy/envoy.yaml drifted from authz/envoy/config.py: "
        "run `.venv/bin/agent-authz envoy-config > envoy/envoy.yaml`"
    )


# -- (b) every checked-in config validates -------------------------------------------------------
@pytest.mark.parametrize("path", sorted(ENVOY_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_checked_in_config_validates(path: Path, pki: DevPki, tmp_path: Path) -> None:
    text = path.read_text()
    assert COMPOSE_PKI in text, "expected the docker-compose PKI paths"
    shutil.copy(approvals_descriptor(), pki.root / "agent_authz.pb")  # as the compose pki service does
    copy = tmp_path / path.name
    copy.write_text(text.replace(COMPOSE_PKI, str(pki.root)))
    validate(copy)


def test_validate_mode_needs_the_certificate_files(tmp_path: Path) -> None:
    """Without the PKI files, validate mode fails: the check above really loads them."""
    copy = tmp_path / "envoy.yaml"
    copy.write_text((ENVOY_DIR / "envoy.yaml").read_text().replace(COMPOSE_PKI, str(tmp_path / "none")))
    with pytest.raises(AssertionError, match="envoy rejected"):
        validate(copy)


# -- (c) the demo's and the benchmark's rendered configs validate --------------------------------
@pytest.mark.parametrize("name", ["demo", "bench"])
def test_rendered_config_validates(name: str, rendered: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    validate_rendered(rendered[name], tmp_path / f"{name}.yaml")
