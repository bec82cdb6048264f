"""The audit log's hash chain (``authz/audit/chain.py``): canonical JSON, and a record sealed with
its sequence number, the previous record's hash and its own."""

from __future__ import annotations

import hashlib
import json

from authz.audit import GENESIS, canonical, seal


def test_canonical_json_has_sorted_keys_no_spaces_and_utf_8() -> None:
    record = {"b": [1, {"d": None, "c": True}], "a": "\u00e9\u2603"}
    assert canonical(record) == '{"a":"\u00e9\u2603","b":[1,{"c":true,"d":null}]}'.encode()


def test_a_record_orjson_cannot_write_is_still_canonical() -> None:
    # A lone surrogate: escaped as JSON escapes it, so verify computes the same bytes.
    assert canonical({"b": 1, "a": "x\ud800"}) == b'{"a":"x\\ud800","b":1}'


def test_a_sealed_record_carries_seq_prev_and_last_its_own_hash() -> None:
    line, digest = seal({"decision_id": "d1", "decision": "allow"}, 1, GENESIS)
    body = {"decision": "allow", "decision_id": "d1", "prev": GENESIS, "seq": 1}
    assert digest == hashlib.sha256(canonical(body)).hexdigest()
    assert line == canonical(body)[:-1] + b',"hash":"' + digest.encode() + b'"}'
    assert list(json.loads(line)) == ["decision", "decision_id", "prev", "seq", "hash"]


def test_sealing_again_replaces_a_hash_and_changes_with_every_field() -> None:
    record = {"decision_id": "d1"}
    line, digest = seal(record, 2, "a" * 64)
    assert seal(json.loads(line), 2, "a" * 64) == (line, digest)  # what verify recomputes
    others = {
        seal(record, 3, "a" * 64)[1],
        seal(record, 2, "b" * 64)[1],
        seal({"decision_id": "d2"}, 2, "a" * 64)[1],
    }
    assert digest not in others and len(others) == 3


def test_the_chain_starts_from_64_zeros() -> None:
    assert GENESIS == "0" * 64
