"""The scim2 pack's routes under /scim/v2, and a reader of requests to them (stage 2 alone)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from authz.config.routes import read_routes
from authz.config.table import Table
from authz.model import Operation
from authz.names import NameRule
from authz.stages.operation import OperationStage

CONFIG = '[[packs]]\nname = "scim2"\nprefix = "/scim/v2"\n'
JSON = {"content-type": "application/scim+json"}
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def scim_routes() -> Any:
    return read_routes(Table(Path("agent-authz.toml"), "", tomllib.loads(CONFIG)), CONFIG, NameRule.EXACT)


STAGE = OperationStage(scim_routes(), 65536)


def read(method: str, path: str, body: Any = None) -> Operation:
    raw = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    return STAGE.resolve(method, "/scim/v2" + path, JSON if raw else {}, raw)


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def actions(operation: Operation) -> list[tuple[str, str, str | None]]:
    return [(a.name, a.target, a.group) for a in operation.actions]
