"""The hash chain: the exact byte layout, and what verification catches."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from agentspec.audit.chain import (
    GENESIS,
    ChainVerifier,
    canonical_entry,
    canonical_json,
    chain_rows,
    digest,
    entry_hash,
    verify,
)

VECTOR_LINE = (
    '{"actor":"agent:a","data":{},"id":"aud_1","kind":"run.started","seq":1,'
    '"subject":"run_1","tenant":"default","ts":1500000}'
)
VECTOR_HASH = "c9771d7fab649f0946fbfb06be3633c48fa1458abc0ef19c8255a2975b6e5af4"


def entries(count: int) -> list[tuple[str, str, int, str, str, str, str]]:
    return [
        (
            "default" if i % 3 else "acme",
            f"aud_{i:04d}",
            1_700_000_000_000_000 + i,
            "tool.call",
            'agent:"quoted"\\name\n',
            f"run_{i // 4}",
            canonical_json({"n": i, "text": "héllo ☃ \u2028 \x01", "list": [1.5, None, True]}),
        )
        for i in range(count)
    ]


def rows(count: int) -> list[tuple[Any, ...]]:
    return list(chain_rows(entries(count), 0, GENESIS))


def test_hash_layout_test_vector() -> None:
    line = canonical_entry(
        1, "aud_1", 1_500_000, "default", "run.started", "agent:a", "run_1", "{}"
    )
    assert line == VECTOR_LINE
    assert GENESIS == "0" * 64
    assert entry_hash(GENESIS, line) == VECTOR_HASH
    assert hashlib.sha256(("0" * 64 + "\n" + VECTOR_LINE).encode()).hexdigest() == VECTOR_HASH
    [row] = chain_rows([("default", "aud_1", 1_500_000, "run.started", "agent:a", "run_1", "{}")],
                       0, GENESIS)  # fmt: skip
    assert row == (1, "default", "aud_1", 1_500_000, "run.started", "agent:a", "run_1", "{}",
                   GENESIS, VECTOR_HASH)  # fmt: skip


def test_canonical_entry_is_json_dumps_of_the_whole_entry() -> None:
    for seq, tenant, id_, ts, kind, actor, subject, data, _prev, _hash in rows(5):
        whole = {
            "seq": seq, "tenant": tenant, "id": id_, "ts": ts, "kind": kind, "actor": actor,
            "subject": subject, "data": json.loads(data),
        }  # fmt: skip
        expected = json.dumps(whole, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical_entry(seq, id_, ts, tenant, kind, actor, subject, data) == expected


def test_digest_is_of_canonical_json() -> None:
    assert digest({"b": 1, "a": "é"}) == hashlib.sha256('{"a":"é","b":1}'.encode()).hexdigest()
    assert digest({"a": "é", "b": 1}) == digest({"b": 1, "a": "é"})


def test_chain_continues_from_a_tail() -> None:
    whole = rows(6)
    first = chain_rows(entries(6)[:4], 0, GENESIS)
    rest = chain_rows(entries(6)[4:], first[-1][0], first[-1][9])
    assert [*first, *rest] == whole


def test_verify_ok_and_empty() -> None:
    result = verify(rows(50))
    assert result.ok and result.count == 50 and result.bad_index == -1
    assert result.last_hash == rows(50)[-1][9]
    empty = verify([])
    assert empty.ok and empty.count == 0 and empty.last_hash == GENESIS


def test_verify_streams_in_pages() -> None:
    log = rows(10)
    verifier = ChainVerifier()
    assert verifier.feed(log[:3]) and verifier.feed(log[3:7]) and verifier.feed(log[7:])
    assert verifier.result.ok and verifier.result.count == 10
    broken = [*log[:5], log[6], *log[7:]]
    verifier = ChainVerifier()
    assert verifier.feed(broken[:4])
    assert not verifier.feed(broken[4:])
    assert not verifier.feed(broken[4:])  # stays broken
    assert (verifier.result.bad_index, verifier.result.bad_id) == (5, log[6][2])


@pytest.mark.parametrize("column", [1, 2, 3, 4, 5, 6, 7])
def test_an_edited_field_is_caught(column: int) -> None:
    log = rows(10)
    row = list(log[4])
    row[column] = row[column] + 1 if isinstance(row[column], int) else row[column] + "x"
    log[4] = tuple(row)
    result = verify(log)
    assert not result.ok
    assert (result.bad_index, result.bad_id, result.count) == (4, log[4][2], 5)
    assert "hash does not match" in result.reason


def test_equivalent_but_different_data_text_is_an_edit() -> None:
    log = rows(3)
    row = list(log[1])
    row[7] = json.dumps(json.loads(row[7]), indent=1)
    log[1] = tuple(row)
    assert verify(log).bad_index == 1


def test_a_deleted_entry_is_caught() -> None:
    log = rows(10)
    del log[3]
    result = verify(log)
    assert (result.ok, result.bad_index, result.bad_id) == (False, 3, log[3][2])
    assert "expected seq 4, found 5" in result.reason


def test_a_deleted_tail_is_not_a_break() -> None:
    # truncation of the newest entries leaves a valid shorter chain: compare last_hash with an
    # anchor kept elsewhere to catch it
    log = rows(10)
    result = verify(log[:7])
    assert result.ok and result.last_hash != verify(log).last_hash


def test_reordered_entries_are_caught() -> None:
    log = rows(10)
    a, b = list(log[2]), list(log[6])
    a[0], b[0] = b[0], a[0]  # swap their seq: read in seq order, b now comes third
    log[2], log[6] = tuple(b), tuple(a)
    result = verify(log)
    assert (result.ok, result.bad_index, result.bad_id) == (False, 2, b[2])
    assert "prev_hash" in result.reason


def test_a_forged_hash_is_caught() -> None:
    log = rows(10)
    row = list(log[5])
    row[9] = hashlib.sha256(b"forged").hexdigest()
    log[5] = tuple(row)
    result = verify(log)
    assert (result.bad_index, result.bad_id) == (5, log[5][2])
    assert "hash does not match" in result.reason


def test_an_edited_prev_hash_is_caught() -> None:
    log = rows(4)
    row = list(log[2])
    row[8] = GENESIS
    log[2] = tuple(row)
    assert verify(log).bad_index == 2


def test_an_edit_rehashed_up_to_the_tail_moves_the_last_hash() -> None:
    log = rows(6)
    forged = list(entries(6))
    forged[2] = (*forged[2][:6], canonical_json({"n": "forged"}))
    rewritten = chain_rows(forged, 0, GENESIS)
    assert verify(rewritten).ok  # a full rewrite verifies: only an external anchor catches it
    assert verify(rewritten).last_hash != verify(log).last_hash
