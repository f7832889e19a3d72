"""One owner of what a candidate says now (core/workspace/current.py): for every state a candidate
can be in, export, the review list and detail, the editors, embeddings and the
accepted-set measures all read the same final text."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bare_tui.core.datasets.export import export
from bare_tui.core.generation import pipeline
from bare_tui.core.inputs.prompts import parse_fields
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import curation, embeddings
from bare_tui.core.reviewing import review, review_list
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import now, to_json
from conftest import GSM8K_SEEDS, ScriptedBackend, item

DRAFTS = [item(f"Draft question {n}?", f"{n} + 1 = {n + 1}\n#### {n + 1}") for n in range(1, 10)]
# Another item altogether: a refinement that drifted from its draft (core/inputs/drift.py).
DRIFTED = item("Kiera purchased 200 apples at the market and sold most of them to a bakery. "
               "How many apples are left?", "200 - 180 = 20\n#### 20")
REFINED = {n: item(f"Refined question {n}?", f"{n} + 1 = {n + 1}\n#### {n + 1}")
           for n in range(1, 9)}
EDIT = {"question": "Edited question 6?", "answer": "6 + 1 = 7\n#### 7"}
UNPARSED = "no labels at all"


class HashEncoder:
    """A stand-in embedding model: one fixed unit vector per distinct text."""

    def encode(self, texts, **_):
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
            vector = np.random.default_rng(seed).normal(size=8).astype(np.float32)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows)


@pytest.fixture
def states(store, gsm8k):
    """Candidate n in each state; 8 had a parsed refinement, then one that did not parse."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS[:7]), 7)
    outputs = [REFINED[1], REFINED[2], UNPARSED, REFINED[4], REFINED[5], REFINED[6],
               REFINED[7]]
    pipeline.refine(store, gsm8k, ScriptedBackend(outputs))
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS[7:8]), 8)
    pipeline.refine(store, gsm8k, ScriptedBackend([REFINED[8]]))
    with store.transaction():  # a later refinement of #8 that did not parse
        run = store.scalar("SELECT max(run_id) FROM refinements")
        store.insert("refinements", {"candidate_id": 8, "run_id": run, "seed": 1,
                                     "raw_text": UNPARSED, "fields": None, "valid": 0,
                                     "parse_error": "no labels", "created_at": now(),
                                     "validation": to_json([])})
    pipeline.draft(store, gsm8k, ScriptedBackend(DRAFTS[8:]), 9)
    pipeline.refine(store, gsm8k, ScriptedBackend([DRIFTED]), retries=1)
    review.decide(store, [4], "accept", "ann")
    review.decide(store, [5], "accept_draft", "ann")
    review.decide(store, [6], "edit", "ann", fields=EDIT)
    review.decide(store, [7], "reject", "ann")
    # #2 stays pending with its refinement, #1 too; #3's refinement did not parse.
    review.decide(store, [1], "reject", "ann")
    review.undo(store, "ann")
    return store


def fields_of(text: str, gsm8k) -> dict[str, str]:
    return parse_fields(gsm8k, text)


CASES = {  # candidate: (what it is, status, final version, final text)
    1: ("refined, pending", "pending", "refined", REFINED[1]),
    2: ("refined, pending (a second one)", "pending", "refined", REFINED[2]),
    3: ("refinement did not parse", "pending", "draft", DRAFTS[2]),
    4: ("accepted", "accepted", "refined", REFINED[4]),
    5: ("accepted as draft", "accepted", "draft", DRAFTS[4]),
    6: ("edited", "pending", "edited", None),
    7: ("rejected", "rejected", "refined", REFINED[7]),
    8: ("latest refinement unparsed, an earlier one parsed", "pending", "refined", REFINED[8]),
    9: ("every refinement drifted", "pending", "draft", DRAFTS[8]),
}


def test_a_list_row_reads_what_the_whole_candidate_says(states: Store, gsm8k):
    """The list reads a few columns of the view; the detail reads them all."""
    rows = review_list.summaries(states, list(CASES))
    whole = current.many(states, list(CASES))
    assert set(rows) == set(whole) == set(CASES)
    for candidate, state in whole.items():
        row = rows[candidate]
        assert (row.status, row.final_version, row.valid, row.refined, row.verified,
                row.drifted) == (state.status, state.final_version, state.final_valid is not False,
                                 state.refined, state.final_verified, state.refinement_drifted)
        assert row.title == state.final_or_raw(gsm8k.field_names)["question"].splitlines()[0]
    assert {row.final_version for row in rows.values()} == {"refined", "draft", "edited"}
    assert any(row.drifted for row in rows.values())


@pytest.mark.parametrize("candidate", list(CASES), ids=[case[0] for case in CASES.values()])
def test_every_reader_agrees_on_the_final_text(states: Store, gsm8k, tmp_path: Path,
                                               candidate: int):
    _what, status, version, text = CASES[candidate]
    expected = EDIT if text is None else fields_of(text, gsm8k)

    shown = current.current(states, candidate)  # the review detail, and what e / E open
    assert (shown.status, shown.final_version) == (status, version)
    assert shown.final_or_raw(gsm8k.field_names) == expected
    assert shown.edited == (version == "edited")

    summary = review_list.summaries(states, [candidate])[candidate]  # the review list
    assert summary.title == expected["question"] and summary.status == status

    result = export(states, gsm8k, tmp_path / "all.jsonl", profile="fields", status="any",
                    include_invalid=True)
    manifest = json.loads(result.manifest_path.read_text())
    lines = result.path.read_text().splitlines()
    assert json.loads(lines[manifest["candidate_ids"].index(candidate)]) == expected

    finals = {i.ref_id: i.text for i in embeddings.items(states, gsm8k) if i.kind == "final"}
    assert finals[candidate] == embeddings.text_of(gsm8k, expected, "")

    embeddings.embed(states, gsm8k, encoder=HashEncoder())  # the accepted-set measures
    ids, matrix = curation.current_vectors(states, gsm8k)
    wanted = HashEncoder().encode([embeddings.text_of(gsm8k, expected, "")])[0]
    assert np.allclose(matrix[ids.index(candidate)], wanted)


def test_filters_read_the_same_state(states: Store, gsm8k):
    assert review_list.candidate_ids(states, gsm8k.name, "accepted") == [4, 5]
    assert review_list.candidate_ids(states, gsm8k.name, "rejected") == [7]
    assert review_list.candidate_ids(states, gsm8k.name, "edited") == [6]
    assert review_list.candidate_ids(states, gsm8k.name, "pending") == [1, 2, 3, 6, 8, 9]
    assert review_list.candidate_ids(states, gsm8k.name, "drifted") == [9]


def test_embedding_a_final_text_reuses_the_vector_of_the_same_text(states: Store, gsm8k):
    calls = []

    class Counting(HashEncoder):
        def encode(self, texts, **kwargs):
            calls.extend(texts)
            return super().encode(texts, **kwargs)

    texts = [i.text for i in embeddings.items(states, gsm8k)]
    assert embeddings.embed(states, gsm8k, encoder=Counting()) == len(texts)
    assert sorted(calls) == sorted(set(texts))  # each distinct text encoded once
    assert len(calls) < len(texts)
