"""The documents stay true: the reason table is the code's, and every link stays in the repository
(or goes to a public standard or upstream project over https)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from authz.reasons import STAGE_OF, STAGES, Reason, http_status

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *ROOT.glob("*/README.md"),
               *ROOT.glob("tests/*/README.md"), *ROOT.glob("tests/fixtures/*/README.md")])  # fmt: skip
LINK = re.compile(r"\]\(([^)\s]+)\)")
ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \| (\d{3}) \|", re.M)


def test_the_reason_table_is_the_codes() -> None:
    text = (ROOT / "docs" / "reasons.md").read_text()
    table = text[text.index("<!-- reasons:start -->") : text.index("<!-- reasons:end -->")]
    rows = {reason: (stage.strip(), int(status)) for reason, stage, status in ROW.findall(table)}
    expected = {}
    for reason in Reason:
        number = STAGE_OF.get(reason)
        stage = f"{number} {STAGES[number - 1]}" if number else "–"
        expected[str(reason)] = (stage, http_status(reason))
    assert rows == expected


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_in_the_repository(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if target.startswith("#") or target.startswith("https://"):
            continue
        path = (doc.parent / target.split("#", 1)[0]).resolve()
        if target.startswith(("http:", "/", "file:")) or not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == []
