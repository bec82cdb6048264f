"""Generate ``authz/_proto/`` from ``proto/`` (run by ``make`` after installing; never committed).

Makes the Python messages and gRPC stubs of the agent-facing approval API, and the descriptor
set (with imports) that Envoy's grpc_json_transcoder reads. ``google/api/annotations.proto``
comes from googleapis-common-protos, fetched into ``build/`` for protoc only: at run time its
Python modules come from xds-protos, and two distributions must not own the same files.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "authz" / "_proto"
DEPS = ROOT / "build" / "proto-deps"
GOOGLEAPIS = "googleapis-common-protos==1.76.0"


def main() -> int:
    if not (DEPS / "google" / "api" / "annotations.proto").exists():
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(DEPS)]
        subprocess.run([*pip, GOOGLEAPIS], check=True)
    from grpc_tools import protoc  # the dev extra installs grpcio-tools

    for stale in [*OUT.glob("*_pb2*.py"), *OUT.glob("*.pb")]:
        stale.unlink()
    args = [
        "protoc",
        f"-Iauthz/_proto={ROOT / 'proto'}",
        f"-I{DEPS}",
        f"-I{Path(protoc.__file__).parent / '_proto'}",
        f"--python_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        "--include_imports",
        f"--descriptor_set_out={OUT / 'agent_authz.pb'}",
        "authz/_proto/approvals.proto",
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    print(f"generated {', '.join(sorted(p.name for p in OUT.iterdir() if p.name != '__init__.py'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
