"""What the boundary tests of stage 3 (``test_task_boundaries.py``) and stage 6
(``test_approval_boundaries.py``) share: the limits, the agent's SVID, a token of exactly some
length, and the check of a deny."""

from __future__ import annotations

from collections.abc import Callable

from factories import BOT, TRUST_DOMAIN

from authz.devkit.pki import make_ca, make_svid
from authz.reasons import Denied, Reason

LEEWAY = 30
MAX_TTL = 900
SVID = make_svid(make_ca(TRUST_DOMAIN), BOT)


def of_length(target: int, make: Callable[[str, int], str], variants: list[str]) -> str:
    """A token of exactly ``target`` characters: ``make(variant, n)`` pads with ``n`` bytes of
    claims. The base64url of n bytes is never 4k+1 characters long, so some lengths need
    another header (``variant``) to be reachable."""
    for variant in variants:
        for n in range(target):
            token = make(variant, n)
            if len(token) >= target:
                if len(token) == target:
                    return token
                break
    raise AssertionError(f"no token of {target} characters")


def assert_denied(outcome: object, reason: Reason, message: str) -> None:
    assert isinstance(outcome, Denied), "accepted"
    assert outcome.reason is reason and message in outcome.message, outcome
