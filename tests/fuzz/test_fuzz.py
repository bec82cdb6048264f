"""A short fuzz pass in the suite (``make fuzz`` runs long ones; see tests/fuzz/README.md).

The real Authorizer over the demo config decides requests from the grammar; the independent
oracle judges every allow. First with every choice a hypothesis draw, then on the fast path
(one hypothesis draw seeds a batch of 50 requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fuzz.run import Runner

SEED = 20261201


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    r = Runner(Path(tmp_path_factory.mktemp("fuzz")), echo=None)
    yield r
    r.close()


@pytest.mark.parametrize(("mode", "checks"), [("draws", 800), ("fast", 10_000)])
def test_fuzz_finds_no_wrongful_allow_or_internal_error(runner: Runner, mode: str, checks: int) -> None:
    tally = runner.run_chunk(SEED, 0 if mode == "draws" else 1, checks, mode)
    assert tally.checks >= checks  # draws mode runs whole batches: hypothesis may add an example or two
    assert (tally.wrongful, tally.internal) == (0, 0), "\n\n".join(tally.reports)
    assert tally.allows >= 0.10 * tally.checks, (
        f"only {tally.allows} allows of {tally.checks}: the run proves little"
    )
    assert len(tally.reasons) >= 20, f"the grammar reached only {sorted(tally.reasons)}"
