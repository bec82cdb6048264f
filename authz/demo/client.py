"""An agent calling the IAM API through Envoy with its SVID (mTLS), and what it gets back."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def reason(self) -> str:
        return self.headers.get("x-authz-reason", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class AgentClient:
    """An agent calling the IAM API through Envoy with its SVID (mTLS)."""

    port: int
    context: ssl.SSLContext

    def request(
        self,
        method: str,
        path: str,
        body: bytes | dict[str, Any] | None = None,
        headers: Mapping[str, str | None] | None = None,
        repeated: Sequence[tuple[str, str]] = (),
    ) -> Response:
        """``repeated`` headers are sent as separate header lines, even with the same name; a
        header given as None is not sent (e.g. no ``content-type`` with a body)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        all_headers: dict[str, str | None] = {"content-type": "application/json"} if data else {}
        if data or method in ("POST", "PUT", "PATCH"):
            all_headers["content-length"] = str(len(data or b""))
        all_headers.update(headers or {})
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in [*all_headers.items(), *repeated]:
                if value is not None:
                    conn.putheader(name, value)
            conn.endheaders(data)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()
