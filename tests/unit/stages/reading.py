"""What the stage-2 reading tests share: ``refused`` and the paths they send to (their fixtures,
``world`` and ``stage``, are in ``conftest.py``)."""

from __future__ import annotations

import pytest

from authz.reasons import Denied, Reason
from authz.stages.operation import OperationStage

JSON = {"content-type": "application/json"}
RESET = "/v1/users/alice/password/reset"
GRANT = "/v1/groups/staff/members"


def refused(
    stage: OperationStage, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> str:
    with pytest.raises(Denied) as info:
        stage.resolve(method, path, JSON if headers is None else headers, body)
    assert info.value.reason is Reason.MALFORMED_REQUEST, info.value.message
    return info.value.message
