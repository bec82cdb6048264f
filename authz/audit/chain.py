"""The hash chain: every record carries ``seq`` (1, 2, …), ``prev`` (the previous record's
``hash``) and ``hash`` (SHA-256 of the record's canonical JSON without ``hash``, appended as the
last key). Canonical JSON: sorted keys, no spaces, UTF-8."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

GENESIS = "0" * 64


def canonical(record: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8 (orjson: one record is serialised per request)."""
    try:
        return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: still one answer per record, so verify agrees
        return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def seal(record: dict[str, Any], seq: int, prev: str) -> tuple[bytes, str]:
    """The record's line (without newline) with seq, prev and, last, its own hash; and that hash.

    The hash covers the canonical JSON of everything else, so the line is serialised once.
    """
    body = {**record, "seq": seq, "prev": prev}
    body.pop("hash", None)
    unsealed = canonical(body)
    digest = hashlib.sha256(unsealed).hexdigest()
    return unsealed[:-1] + b',"hash":"' + digest.encode() + b'"}', digest
