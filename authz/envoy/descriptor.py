"""The approval API's descriptor set, which Envoy's grpc_json_transcoder needs as a file.

Generated at build time from ``proto/`` (``make``: proto/generate.py) into ``authz/_proto/``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from authz.errors import AuthzError


class DescriptorMissing(AuthzError, RuntimeError):
    """The descriptor set was not generated (run `make`)."""


def approvals_descriptor() -> Path:
    """The approval API's descriptor set, generated at build time (``make``: proto/generate.py)."""
    path = Path(str(resources.files("authz._proto").joinpath("agent_authz.pb")))
    if not path.is_file():
        raise DescriptorMissing(f"{path} is missing: run `make` (proto/generate.py) first")
    return path
