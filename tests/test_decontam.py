"""Decontamination against an evaluation set: planted, lightly edited copies of GSM8K
test items are flagged by their n-grams or their embeddings, the seeds are checked, and
the flags are stored and replaced."""

from __future__ import annotations

import json
import random
import re
import sqlite3

import numpy as np
import pytest

from bare_tui.core.measures import decontam
from conftest import GSM8K_SEEDS, run_cli

TEST_SPLIT = decontam.set_path("gsm8k-test")
QUESTIONS = decontam.read_set(TEST_SPLIT, "question")
REWORDINGS = {"How many": "What number of", "has": "owns", "buys": "purchases",
              "each": "every", "total": "overall", "costs": "is priced at", "sells": "sold",
              "wants": "would like", "every": "each", "If": "Suppose"}


def edited(question: str, kind: str, rng: random.Random) -> str:
    if kind == "numbers changed":
        return re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(1, 9)), question)
    if kind == "a clause reworded":
        for old, new in REWORDINGS.items():
            if re.search(rf"\b{old}\b", question):
                return re.sub(rf"\b{old}\b", new, question, count=1)
        return question.replace(" the ", " a ", 1)
    return question + " Everyone was pleased with how the day went."  # a sentence added


@pytest.mark.parametrize("kind", ["numbers changed", "a clause reworded", "a sentence added"])
def test_lightly_edited_copies_of_test_items_are_flagged(kind: str, capsys):
    rng = random.Random(7)
    picked = rng.sample(range(len(QUESTIONS)), 50)
    planted = [edited(QUESTIONS[i], kind, rng) for i in picked]
    assert sum(p != QUESTIONS[i] for p, i in zip(planted, picked, strict=True)) >= 45
    found = decontam.matches(planted, QUESTIONS, encoder=None)
    right = sum(1 for position, matched in found.items()
                if matched[0].item == picked[position])
    with capsys.disabled():
        print(f"\n  {kind}: {right}/50 flagged with the right test item (13-grams)", end="")
    assert right >= 45  # at least 90%
    unrelated = [f"Item {i}: a short note on the weather and the sea." for i in range(50)]
    assert decontam.matches(unrelated, QUESTIONS, encoder=None) == {}


def test_the_seeds_checked_against_the_test_split():
    seeds = [json.loads(line)["question"] for line in GSM8K_SEEDS.read_text().splitlines()]
    found = decontam.matches(seeds, QUESTIONS, encoder=None)
    # one train item (the 21st seed) is a near copy of a test item: a name changed
    assert sorted(found) == [20]
    match = found[20][0]
    assert match.evidence == "13-gram overlap ×21"
    assert QUESTIONS[match.item].startswith("Max bought stamps at the post office")


def test_embedding_matches_work_in_chunks_and_keep_the_nearest():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(300, 32))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    near = items[[5, 17]] + rng.normal(scale=0.05, size=(2, 32))
    far = rng.normal(size=(1000, 32))
    candidates = np.vstack([far, near])
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    found = decontam.embedding_matches(candidates, items, threshold=0.9, chunk=64)
    assert {row: m.item for row, m in found.items()} == {1000: 5, 1001: 17}
    assert found[1000].evidence.startswith("cosine 0.9")


@pytest.mark.models
def test_a_paraphrase_is_flagged_by_its_embedding():
    from bare_tui.core.measures import embeddings

    encoder = embeddings.load_model(None)
    original = QUESTIONS[:200]
    paraphrase = ("Janet has ducks that lay 16 eggs every day. Each morning she eats three "
                  "for breakfast and uses four to bake muffins for her friends. She sells "
                  "the rest at the farmers' market for $2 an egg. How many dollars a day "
                  "does she make there?")
    found = decontam.matches([paraphrase], original, n=13, encoder=encoder)
    assert [m.method for m in found[0]] == ["embedding"], found  # no 13-gram in common
    assert found[0][0].item == 0 and found[0][0].score >= 0.9


def test_decontam_stores_flags_and_a_rerun_replaces_them(tmp_path):
    db = ["--db", str(tmp_path / "w.db")]
    planted = tmp_path / "planted.jsonl"
    rows = [{"question": QUESTIONS[i].replace("How many", "What number of"),
             "answer": "It is <<2+2=4>>4.\n#### 4"} for i in range(3)]
    rows += [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines()[:5]]
    planted.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert run_cli("candidates", "import", str(planted), "--task", "gsm8k", *db).returncode == 0
    result = run_cli("decontam", "--against", "gsm8k-test", "--no-embed", *db)
    assert result.returncode == 0, result.stderr
    assert "clean: 5 of 8 candidates; 3 flagged against gsm8k_test.jsonl (3 by ngram)" in (
        " ".join(result.stdout.split()))
    with sqlite3.connect(tmp_path / "w.db") as conn:
        flags = conn.execute("SELECT candidate_id, method, item, evidence, matched"
                             " FROM contamination ORDER BY candidate_id").fetchall()
    assert [(f[0], f[1], f[2]) for f in flags] == [(1, "ngram", 0), (2, "ngram", 1),
                                                  (3, "ngram", 2)]
    assert flags[0][4] == QUESTIONS[0] and flags[0][3].startswith("13-gram overlap ×")
    again = run_cli("decontam", "--against", "gsm8k-test", "--no-embed", "--ngram", "50",
                    *db)
    assert again.returncode == 0
    with sqlite3.connect(tmp_path / "w.db") as conn:  # replaced, not added to
        assert conn.execute("SELECT count(*) FROM contamination").fetchone()[0] <= 3
    missing = run_cli("decontam", "--against", str(tmp_path / "nope.jsonl"), *db)
    assert missing.returncode == 1 and "no evaluation set" in missing.stderr


def test_export_leaves_flagged_items_out_and_the_card_names_the_set(tmp_path):
    from bare_tui.core.datasets.export import export
    from bare_tui.core.inputs import recipes
    from bare_tui.core.reviewing import review, review_list
    from bare_tui.core.workspace.store import Store
    from bare_tui.tui.screens.review_status import flag_note

    db = ["--db", str(tmp_path / "w.db")]
    planted = tmp_path / "planted.jsonl"
    rows = [{"question": QUESTIONS[0] + " She was glad.", "answer": "<<2+2=4>>4\n#### 4"}]
    rows += [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines()[:2]]
    planted.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert run_cli("candidates", "import", str(planted), "--task", "gsm8k", *db).returncode == 0
    assert run_cli("decontam", "--against", "gsm8k-test", "--no-embed", *db).returncode == 0
    with Store(tmp_path / "w.db") as store:
        task = recipes.resolve(store, "gsm8k")
        assert review_list.candidate_ids(store, "gsm8k", "flagged: contamination") == [1]
        found = decontam.flags(store, [1, 2])
        assert list(found) == [1] and found[1][0].matched == QUESTIONS[0]
        note = flag_note(found[1]).plain
        assert note.startswith("⚠ overlaps gsm8k_test.jsonl item 1 (13-gram overlap ×")
        assert "Janet" in note  # the test item, shown beside the candidate
        review.decide(store, [1, 2, 3], "accept", "ann")
        result = export(store, task, tmp_path / "out.jsonl")
        assert (result.written, result.skipped_flagged) == (2, 1)
        assert "1 flagged by decontamination" in result.summary()[0]
        card = result.card_path.read_text()
        assert "Decontamination against `gsm8k_test.jsonl`: 1 flagged item removed." in card
        every = export(store, task, tmp_path / "all.jsonl", include_flagged=True)
        assert every.written == 3
