"""Preference exports (core/datasets/preference.py): every kind of pair from the
decisions that made it, in TRL's columns, loadable with `datasets`; KTO labels from
accepts and rejects; `--pairs` and the card's counts."""

import json

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from bare_tui.core.datasets.export import export
from bare_tui.core.datasets.preference import PAIR_KINDS
from bare_tui.core.generation import pipeline
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import alternatives, review
from bare_tui.core.reviewing.merging import DRAFT, Merge
from bare_tui.core.workspace import current
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, ScriptedBackend, run_cli

SYSTEM = ("You are an expert at solving math word problems. Think step by step, then give "
          "the numerical answer at the end after '####', like '#### 24'.")


def item(name: str, pens: int, extra: str = "") -> str:
    return (f"Question:\n{name} has {pens} pens and buys 3{extra}. How many?\nAnswer:\n"
            f"{pens} + 3 = {pens + 3}\n#### {pens + 3}\n")


DRAFTS = [item("Ann", n) for n in range(1, 7)]
REFINED = [item("Anna", n, " more") for n in range(1, 7)]
ALTERNATIVES = [item("Anita", 5, " at the shop"), item("Ana", 5, " at school")]
EDITED = {"question": "Ann has 3 pens and buys 3 more pens. How many pens does she have?",
          "answer": "3 + 3 = 6\n#### 6"}


@pytest.fixture
def decided(store, gsm8k):
    """Six items, one decision story each: #1 accepted refinement, #2 accepted draft,
    #3 edited then accepted, #4 merged then accepted, #5 an alternative picked then
    accepted, #6 rejected."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS), 6, rng_seed=1)
    pipeline.refine(store, gsm8k, ScriptedBackend(REFINED), rng_seed=2)
    review.decide(store, [1], "accept", "ann")
    review.decide(store, [2], "accept_draft", "ann")
    review.decide(store, [3], "edit", "ann", fields=EDITED)
    review.decide(store, [3], "accept", "ann")
    four = current.current(store, 4)
    names = list(four.draft_fields)
    merge = Merge(four.draft_fields, four.best_fields, (), (None, None)).choose(names, 0, DRAFT)
    review.decide(store, [4], "merge", "ann", change=review.Change(
        fields=merge.fields(names), merge=merge.to_state()))
    review.decide(store, [4], "accept", "ann")
    assert alternatives.generate(store, gsm8k, ScriptedBackend(ALTERNATIVES), 5, 2,
                                 rng_seed=3).produced == 2
    picked, passed_over = alternatives.of_candidate(store, 5)
    review.decide(store, [5], "pick", "ann", change=review.Change(refinement_id=picked.id))
    review.decide(store, [5], "accept", "ann")
    review.decide(store, [6], "reject", "ann", tags=["off-theme"])
    return store


def fields_of(text: str) -> dict[str, str]:
    question, answer = text.split("\nAnswer:\n")
    return {"question": question.removeprefix("Question:\n").strip(), "answer": answer.strip()}


def expected_pairs(store) -> list[tuple[int, str, dict, dict]]:
    """Every pair, worked out from the decisions themselves (not from the export)."""
    merged = current.current(store, 4).final_fields
    assert merged != fields_of(REFINED[3]) and merged != fields_of(DRAFTS[3])
    return [
        (1, "refinement", fields_of(REFINED[0]), fields_of(DRAFTS[0])),
        (2, "draft", fields_of(DRAFTS[1]), fields_of(REFINED[1])),
        (3, "edit", EDITED, fields_of(REFINED[2])),
        (4, "merge", merged, fields_of(REFINED[3])),
        (5, "refinement", fields_of(ALTERNATIVES[0]), fields_of(DRAFTS[4])),
        (5, "alternative", fields_of(ALTERNATIVES[0]), fields_of(REFINED[4])),
        (5, "alternative", fields_of(ALTERNATIVES[0]), fields_of(ALTERNATIVES[1])),
    ]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_every_pair_kind_loads_in_trls_columns_and_matches_its_decisions(
        decided, gsm8k, tmp_path, suffix):
    out = tmp_path / f"prefs.{suffix}"
    result = export(decided, gsm8k, out, profile="dpo")
    assert (result.rows, result.written) == (7, 5)
    assert result.kinds == {"refinement": 2, "draft": 1, "edit": 1, "merge": 1,
                            "alternative": 2}
    assert "wrote 7 pairs from 5 items" in result.summary()[0]
    rows = load_dataset("json" if suffix == "jsonl" else "parquet", data_files=str(out),
                        split="train")
    # TRL's DPO trainer reads prompt, chosen and rejected: strings in its standard format
    assert {"prompt", "chosen", "rejected"} <= set(rows.column_names)
    for column in ("prompt", "chosen", "rejected"):
        assert rows.features[column].dtype == "string"
    got = sorted((r["candidate_id"], r["kind"], r["prompt"], r["chosen"], r["rejected"])
                 for r in rows)
    want = sorted((cid, kind, chosen["question"], chosen["answer"], rejected["answer"])
                  for cid, kind, chosen, rejected in expected_pairs(decided))
    assert got == want
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["pairs"] == {"edit": 1, "merge": 1, "refinement": 2, "draft": 1,
                                 "alternative": 2}
    assert manifest["files"]["train"]["rows"] == 7
    card = DatasetCard.load(result.card_path)
    assert ("Preference pairs: 7 (edit 1, merge 1, refinement 2, draft 1, alternative 2)"
            in card.text)


def test_the_chat_variant_is_trls_conversational_format(decided, gsm8k, tmp_path):
    out = tmp_path / "prefs.jsonl"
    export(decided, gsm8k, out, profile="dpo-chat", pairs="edit")
    [row] = load_dataset("json", data_files=str(out), split="train")
    assert row["prompt"] == [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": EDITED["question"]}]
    assert row["chosen"] == [{"role": "assistant", "content": EDITED["answer"]}]
    assert row["rejected"] == [{"role": "assistant",
                                "content": fields_of(REFINED[2])["answer"]}]


def test_pairs_chooses_the_kinds(decided, gsm8k, tmp_path):
    result = export(decided, gsm8k, tmp_path / "a.jsonl", profile="dpo",
                    pairs="merge, alternative")
    kinds = [json.loads(line)["kind"] for line in (tmp_path / "a.jsonl").open()]
    assert sorted(kinds) == ["alternative", "alternative", "merge"]
    assert result.skipped_no_pair == 3  # #1, #2 and #3 make no pair of those kinds
    with pytest.raises(BareError, match="--pairs: unknown kind 'edits'"):
        export(decided, gsm8k, tmp_path / "b.jsonl", profile="dpo", pairs="edits")
    with pytest.raises(BareError, match="--pairs chooses the kinds of pairs of profile dpo"):
        export(decided, gsm8k, tmp_path / "c.jsonl", profile="chat", pairs="edit")
    assert not (tmp_path / "b.jsonl").exists() and not (tmp_path / "c.jsonl").exists()
    assert set(PAIR_KINDS) == {"edit", "merge", "refinement", "draft", "alternative"}


def test_kto_labels_are_the_accepts_and_rejects(decided, gsm8k, tmp_path):
    review.decide(decided, [2], "reject", "bob")  # a second thought: now rejected
    out = tmp_path / "kto.parquet"
    result = export(decided, gsm8k, out, profile="kto", split={"train": 0.5, "test": 0.5})
    assert result.rows == 6 and result.kinds == {"accepted": 4, "rejected": 2}
    rows = [r for split in ("train", "test") for r in load_dataset(
        "parquet", data_files=str(tmp_path / f"kto-{split}.parquet"), split="train")]
    labels = {r["candidate_id"]: r["label"] for r in rows}
    status = {i: review.decision_state(decided, i).status for i in range(1, 7)}
    assert labels == {i: s == "accepted" for i, s in status.items()}
    assert labels == {1: True, 2: False, 3: True, 4: True, 5: True, 6: False}
    by_id = {r["candidate_id"]: r for r in rows}
    assert by_id[3]["prompt"] == EDITED["question"]
    assert by_id[3]["completion"] == EDITED["answer"]
    card = DatasetCard.load(result.card_path)
    assert "KTO rows: 6, labelled true for an accepted item (4) and false" in card.text


def test_the_command_line_writes_pairs(decided, tmp_path):
    out = run_cli("export", str(tmp_path / "p.jsonl"), "--profile", "dpo", "--pairs",
                  "refinement", "--db", str(decided.path), "--no-embed")
    assert out.returncode == 0, out.stderr
    assert "wrote 2 pairs from 2 items [refinement: 2]" in out.stderr + out.stdout
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 2
    bad = run_cli("export", str(tmp_path / "q.jsonl"), "--profile", "kto", "--pairs",
                  "edit", "--db", str(decided.path))
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --pairs chooses")
