"""The stack in front of a real SCIM server: Envoy and agent-authz on 127.0.0.1, the upstream
scim2-server or Canaille (``authz/devkit/scim.py``) instead of the sample API.

agent-authz includes the ``scim2`` route pack under the server's base path and reads its
directory from the same server (``[directory] kind = "scim"``, with the server's bearer token
in a file). Agents call the SCIM API through Envoy with their SVID and the server's bearer
token, as they would call it directly. What each server then holds is read from its own
storage (``scim.state()``, ``scim.check_password()``), never from an answer that went through
Envoy.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from authz.demo.processes import StackError
from authz.demo.stack import Stack
from authz.devkit.scim import CanailleServer, Scim2Server, ScimServer
from authz.devkit.world import scim_config

SERVERS: dict[str, type[ScimServer]] = {"scim2-server": Scim2Server, "canaille": CanailleServer}


@dataclass
class ScimStack(Stack):
    server: str = "scim2-server"  # one of SERVERS
    scim_token: str = ""
    _scim: ScimServer | None = None

    @classmethod
    def create_scim(cls, workdir: Path, server: str = "scim2-server") -> ScimStack:
        """Files only, like ``Stack.create``; the config is written once the server has a port."""
        if server not in SERVERS:
            raise StackError(f"a SCIM server is one of {', '.join(SERVERS)}, not {server!r}")
        stack = cls.create(workdir)
        stack.server, stack.scim_token = server, secrets.token_urlsafe(24)
        return stack

    @property
    def scim(self) -> ScimServer:
        if self._scim is None:
            raise StackError("the SCIM server is not running: start() the stack first")
        return self._scim

    @property
    def base_path(self) -> str:
        """Where the SCIM API is, on the server and through Envoy (``/v2``, ``/scim/v2``)."""
        return SERVERS[self.server].base_path

    def start_upstream(self) -> None:
        self._scim = SERVERS[self.server](self.workdir / "upstream.log", bearer_token=self.scim_token)
        self.procs["upstream"] = self._scim._proc
        self.ports["upstream"] = self._scim.port
        token_file = self.workdir / "scim-token"
        token_file.write_text(self.scim_token + "\n")
        token_file.chmod(0o600)
        self.config_path.write_text(scim_config(self._scim.base_url, self.base_path, token_file.name))

    def stop(self) -> None:
        super().stop()
        if self._scim is not None:
            self._scim.stop()

    def agent_headers(self) -> dict[str, str]:
        """What an agent sends the SCIM server besides its task: the server's own credential."""
        return {"authorization": f"Bearer {self.scim_token}", "content-type": "application/scim+json"}
