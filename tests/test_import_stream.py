"""A large import as a stream (core/datasets/dataset_import.py): written in short
chunks, all or nothing (a bad record far into the file takes back every chunk before
it), and an export of 100,000 items under a tight limit on SQL variables."""

import json
import sqlite3

import pytest

from bare_tui.core.datasets import dataset_import
from bare_tui.core.datasets.dataset_import import import_candidates, roll_back
from bare_tui.core.datasets.export import export
from bare_tui.core.reviewing import review
from bare_tui.errors import BareError


def items(count: int, bad_at: int | None = None) -> list[str]:
    lines = []
    for i in range(count):
        record = {"question": f"Tom has {i} marbles and finds one more. How many now?",
                  "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}
        if i + 1 == bad_at:
            del record["answer"]
        lines.append(json.dumps(record))
    return lines


def test_a_bad_record_past_the_first_chunks_takes_them_all_back(store, gsm8k, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(dataset_import, "CHUNK", 500)
    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(items(2_000, bad_at=1_800)) + "\n")
    heard = []
    with pytest.raises(BareError, match=r"big.jsonl:1800: missing field 'answer'"):
        import_candidates(store, gsm8k, path, on_progress=heard.append)
    assert heard == [500, 1000, 1500]  # three chunks were written before the bad record
    assert store.scalar("SELECT count(*) FROM candidates") == 0
    (run,) = store.query("SELECT status, produced, error FROM runs WHERE kind = 'import'")
    assert run["status"] == "failed" and run["produced"] == 1500
    assert "rolled back: 1500 candidates removed" in run["error"]
    # with --skip-invalid the same file comes in whole, less the bad record
    result = import_candidates(store, gsm8k, path, skip_invalid=True)
    assert result.added == 1_999 and len(result.skipped) == 1


def test_an_import_copies_its_log_into_the_file_every_hundred_chunks(store, gsm8k, tmp_path,
                                                                     monkeypatch):
    """Its commits leave the write-ahead log alone (one copy of many chunks' pages, not
    one per chunk); it copies every CHECKPOINT_EVERY chunks and at the end, and gives
    back the automatic copies it found, also when it fails."""
    monkeypatch.setattr(dataset_import, "CHUNK", 100)
    monkeypatch.setattr(dataset_import, "CHECKPOINT_EVERY", 2)
    real = store.checkpoint
    copies = []

    def checkpoint():
        logged, copied = real()
        copies.append((store.scalar("SELECT count(*) FROM candidates"), logged, copied))
        return logged, copied

    monkeypatch.setattr(store, "checkpoint", checkpoint)
    automatic = []

    def heard(count):
        automatic.append(store.scalar("PRAGMA wal_autocheckpoint"))

    path = tmp_path / "some.jsonl"
    path.write_text("\n".join(items(550)) + "\n")
    assert import_candidates(store, gsm8k, path, on_progress=heard).added == 550
    assert automatic == [0] * 6  # (six chunks)
    assert [written for written, _, _ in copies] == [200, 400, 550, 550]  # 2, 4, 6, end
    assert all(copied == logged > 0 for _, logged, copied in copies)
    assert store.scalar("PRAGMA wal_autocheckpoint") == 1000
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(items(300, bad_at=250)) + "\n")
    with pytest.raises(BareError, match="missing field"):
        import_candidates(store, gsm8k, bad)
    assert store.scalar("PRAGMA wal_autocheckpoint") == 1000


def test_a_roll_back_keeps_what_a_curator_decided_meanwhile(store, gsm8k, tmp_path):
    path = tmp_path / "some.jsonl"
    path.write_text("\n".join(items(20)) + "\n")
    assert import_candidates(store, gsm8k, path).added == 20
    run_id = store.scalar("SELECT id FROM runs WHERE kind = 'import'")
    review.decide(store, [7], "accept", "ann")
    assert roll_back(store, run_id) == 19
    assert [row[0] for row in store.conn.execute("SELECT id FROM candidates")] == [7]


def test_an_export_of_100000_items_under_a_tight_variable_limit(store, gsm8k, tmp_path):
    """Ids pass as one JSON value (json_each), never one variable each: the export holds
    under SQLite's 32,766 and even the 999 of older builds."""
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(items(100_000)) + "\n")
    assert import_candidates(store, gsm8k, path).added == 100_000
    review.decide(store, range(1, 100_001), "accept", "ann")  # one step, 100,000 items
    for limit in (32_766, 999):
        store.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        out = tmp_path / f"limit-{limit}.jsonl"
        result = export(store, gsm8k, out, profile="fields")
        assert result.written == 100_000
        assert sum(1 for _ in out.open()) == 100_000


def test_a_chunk_goes_in_as_one_statement_in_file_order_and_is_searchable(store, gsm8k,
                                                                         tmp_path, monkeypatch):
    """Each chunk is one INSERT from JSON: ids follow the file's lines, a duplicate line and
    a failing item are counted as before, and the search index holds every added text."""
    from bare_tui.core.reviewing import review_list

    monkeypatch.setattr(dataset_import, "CHUNK", 4)
    lines = items(10)
    lines[5] = lines[2]  # a duplicate, in the second chunk
    lines[8] = json.dumps({"question": "Zed has 2 cats?", "answer": "2 cats"})  # no #### line
    path = tmp_path / "ordered.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = import_candidates(store, gsm8k, path)
    assert (result.added, result.duplicates, result.failing) == (9, 1, 1)
    rows = store.query("SELECT id, origin, valid FROM candidates ORDER BY id")
    assert [json.loads(row["origin"])["line"] for row in rows] == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert [row["valid"] for row in rows] == [1] * 7 + [0, 1]
    assert review_list.candidate_ids(store, "gsm8k", "all", search="Tom has 7 marbles") == [
        rows[6]["id"]]
    assert review_list.candidate_ids(store, "gsm8k", "all", search="Zed has") == [rows[7]["id"]]


def test_text_that_is_not_utf8_never_reaches_the_table(store, gsm8k, tmp_path, monkeypatch):
    """A chunk travels as one JSON text: a lone surrogate in a row (the checks keep them
    out of the fields; here the rendered text has one) fails to bind, as a value would,
    and the import is taken back, instead of storing bad UTF-8 that no read can decode."""
    monkeypatch.setattr(dataset_import, "render_example", lambda task, fields: "Q \ud800?")
    path = tmp_path / "one.jsonl"
    path.write_text("\n".join(items(3)) + "\n")
    with pytest.raises(UnicodeEncodeError):
        import_candidates(store, gsm8k, path)
    assert store.scalar("SELECT count(*) FROM candidates") == 0
