"""What the records show afterwards: the audit chain verifies (and breaks when one record is
edited), and no request agent-authz denied is in the API's own record."""

from __future__ import annotations

from collections.abc import Iterator

from authz.audit import verify
from authz.demo.scenarios.harness import MARKER, Demo, Outcome


def audit_checks(d: Demo) -> Iterator[Outcome]:
    results = [verify(path) for path in d.stack.audit_paths]  # one chain per agent-authz process
    intact = next((r for r in results if not r.ok), results[0])
    tampered = d.stack.workdir / "audit-tampered.jsonl"
    lines = d.stack.audit_path.read_text().splitlines(keepends=True)
    allow, deny = '"decision":"allow"', '"decision":"deny"'
    lines[0] = lines[0].replace(allow, deny) if allow in lines[0] else lines[0].replace(deny, allow)
    tampered.write_text("".join(lines))
    broken = verify(tampered)
    yield Outcome("audit verify on the log", "intact", "intact" if intact.ok else intact.problem, "", "")
    yield Outcome(
        "audit verify after editing one record (in a copy)",
        "broken at record 1",
        "intact" if broken.ok else f"broken at record {broken.line}",
        "",
        "",
    )


def denied_never_reached_upstream(d: Demo) -> Iterator[Outcome]:
    seen = {r["headers"].get(MARKER) for r in d.stack.upstream_record()}
    leaked = [m for m in d.kept_from_upstream if m in seen]
    yield Outcome(
        f"denied requests absent from the API's record ({len(d.kept_from_upstream)} checked)",
        0,
        len(leaked),
        "",
        "",
    )
