"""Seeds and candidates from Parquet, Arrow and a folder a Hugging Face dataset was saved
to (core/inputs/tables.py): the same --map, the same one-line errors, nothing imported
on a bad file."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from bare_tui.core.datasets.dataset_import import import_candidates
from bare_tui.core.datasets.export import export
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import review
from bare_tui.core.workspace import current
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, make_review_workspace, run_cli

SEEDS = [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines()[:30]]
MAPPED = [{"problem": s["question"], "solution": s["answer"], "id": i}
          for i, s in enumerate(SEEDS)]


def parquet(path, rows):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def saved(path, rows):
    Dataset.from_list(rows).save_to_disk(str(path))
    return path


def arrow_file(path, rows):
    """The Arrow file format (random access), not the stream format `datasets` writes."""
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return path


WRITERS = {"parquet": lambda d, rows: parquet(d / "seeds.parquet", rows),
           "saved dataset": lambda d, rows: saved(d / "saved", rows),
           "arrow file": lambda d, rows: arrow_file(d / "seeds.arrow", rows)}


@pytest.mark.parametrize("kind", list(WRITERS))
def test_seeds_come_in_from_columnar_files_with_map(store, gsm8k, tmp_path, kind):
    path = WRITERS[kind](tmp_path, MAPPED)
    result = import_seeds(store, gsm8k, path, {"question": "problem", "answer": "solution"})
    assert (result.added, result.duplicates) == (30, 0)
    stored = [json.loads(row[0]) for row in store.conn.execute(
        "SELECT fields FROM seeds ORDER BY id")]
    assert stored == [{"question": s["question"], "answer": s["answer"]} for s in SEEDS]
    assert store.scalar("SELECT source FROM seeds WHERE id = 3").endswith(":3")
    assert import_seeds(store, gsm8k, path, {"question": "problem",
                                             "answer": "solution"}).duplicates == 30


def hostile_rows(case):
    rows = [dict(row) for row in MAPPED]
    if case == "wrong type":
        for row in rows:
            row["solution"] = len(row["solution"])  # an int64 column
    elif case == "missing column":
        for row in rows:
            del row["solution"]
    elif case == "nested column":
        for row in rows:
            row["solution"] = {"steps": [row["solution"]], "final": "1"}  # a struct
    elif case == "a null in row 7":
        for row in rows:
            row["solution"] = row["solution"] if row["id"] != 6 else None
    return rows


HOSTILE = {
    "wrong type": "column 'solution' holds int64, not text",
    "missing column": ":1: missing field 'solution' (the record has: 'problem', 'id')",
    "nested column": "column 'solution' is nested (struct<",
    "a null in row 7": ":7: field 'solution' is null",
}


@pytest.mark.parametrize("kind", ["parquet", "saved dataset"])
@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_columnar_files_import_nothing_with_one_line(tmp_path, kind, case):
    db = make_review_workspace(tmp_path / "w.db")
    path = WRITERS[kind](tmp_path, hostile_rows(case))
    mapping = {"question": "problem", "answer": "solution"}
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store

    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        seeds_before = store.scalar("SELECT count(*) FROM seeds")
        for importer in (import_seeds, import_candidates):
            with pytest.raises(BareError) as caught:
                importer(store, task, path, mapping)
            assert HOSTILE[case] in str(caught.value) and "\n" not in str(caught.value)
        assert store.scalar("SELECT count(*) FROM seeds") == seeds_before
        assert store.scalar("SELECT count(*) FROM candidates") == 5
        assert store.scalar("SELECT count(*) FROM runs WHERE kind = 'import'"
                            " AND status != 'failed'") == 0
    out = run_cli("candidates", "import", str(path), "--db", str(db), "--task", "gsm8k",
                  "--map", "question=problem", "--map", "answer=solution")
    assert out.returncode != 0
    [line] = out.stderr.strip().splitlines()
    assert HOSTILE[case] in line


def test_a_saved_dataset_with_splits_names_the_split_to_import(store, gsm8k, tmp_path):
    rows = [{"question": s["question"], "answer": s["answer"]} for s in SEEDS]
    DatasetDict({"train": Dataset.from_list(rows[:20]),
                 "test": Dataset.from_list(rows[20:])}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(BareError, match=r"splits \(train, test\): import one split's folder"):
        import_seeds(store, gsm8k, tmp_path / "dd")
    assert import_seeds(store, gsm8k, tmp_path / "dd" / "test").added == 10
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(BareError, match="junk.parquet: not a Parquet file"):
        import_seeds(store, gsm8k, tmp_path / "junk.parquet")
    (tmp_path / "junk.arrow").write_bytes(b"ARROW1 not really")
    with pytest.raises(BareError, match="junk.arrow: not an Arrow file"):
        import_seeds(store, gsm8k, tmp_path / "junk.arrow")
    assert store.scalar("SELECT count(*) FROM seeds") == 10


@pytest.mark.parametrize("profile", ["fields", "chat"])
def test_our_own_parquet_exports_come_back_as_candidates(tmp_path, profile):
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store

    with Store(make_review_workspace(tmp_path / "from.db")) as source:
        task = recipes.resolve(source, "gsm8k")
        review.decide(source, [1, 3, 5], "accept", "ann")
        out = export(source, task, tmp_path / f"{profile}.parquet", profile=profile)
        exported = [current.current(source, i).final_fields for i in (1, 5)]
    with Store(tmp_path / "to.db") as target:
        task = recipes.resolve(target, "gsm8k")
        result = import_candidates(target, task, out.path)
        assert (result.added, result.duplicates) == (2, 1)  # #1 and #3 say the same
        back = [c.draft_fields for c in current.of_task(target, "gsm8k")]
    assert back == exported
