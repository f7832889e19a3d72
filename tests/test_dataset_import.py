"""An existing dataset brought in as candidates: any columns, our own export profiles,
origin, checks, dedup against seeds and earlier imports, refine, review and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bare_tui.core.datasets import preference
from bare_tui.core.datasets.dataset_import import import_candidates, template_pattern
from bare_tui.core.datasets.export import PROFILES, export
from bare_tui.core.generation import pipeline
from bare_tui.core.generation.model_files import file_sha256
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import review
from bare_tui.core.workspace import current
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, make_review_workspace, run_cli


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def _dataset(path: Path, count: int) -> Path:
    """`count` items under other column names; every 10th lacks its final answer line,
    and the first two are copies of seeds."""
    seeds = [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines()[:2]]
    records = [{"problem": s["question"], "solution": s["answer"], "source": "seed copy"}
               for s in seeds]
    for i in range(count - len(records)):
        answer = f"{i} + 1 = {i + 1}" + ("" if i % 10 == 9 else f"\n#### {i + 1}")
        records.append({"problem": f"Tom has {i} marbles and finds one more. How many now?",
                        "solution": answer, "source": "scrape"})
    return _jsonl(path, records)


def test_a_thousand_items_in_with_origin_checks_and_dedup(store, gsm8k, tmp_path):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    data = _dataset(tmp_path / "scraped.jsonl", 1000)
    mapping = {"question": "problem", "answer": "solution"}
    result = import_candidates(store, gsm8k, data, mapping)
    assert (result.added, result.seeds, result.duplicates) == (998, 2, 0)
    # No "#### n" line: added, and flagged by the recipe's checks.
    assert result.failing == sum(i % 10 == 9 for i in range(998)) == 99
    first = current.current(store, 1)
    assert first.origin == {"file": str(data), "line": 3, "sha256": file_sha256(data, None)}
    assert first.draft_fields["question"].startswith("Tom has 0 marbles")
    assert first.status == "pending" and not first.refined
    # Finished items, not drafts: refined only when asked (--refine-imported).
    assert pipeline.unrefined(store, gsm8k) == []
    assert len(pipeline.unrefined(store, gsm8k, include_imported=True)) == 998
    again = import_candidates(store, gsm8k, data, mapping)
    assert (again.added, again.duplicates, again.seeds) == (0, 998, 2)
    run = store.query("SELECT kind, model, model_sha256, produced FROM runs")
    assert run == [{"kind": "import", "model": "scraped.jsonl",
                    "model_sha256": file_sha256(data, None), "produced": 998},
                   {"kind": "import", "model": "scraped.jsonl",
                    "model_sha256": file_sha256(data, None), "produced": 0}]


def test_a_bad_line_imports_nothing(store, gsm8k, tmp_path):
    data = _dataset(tmp_path / "d.jsonl", 5)
    data.write_text(data.read_text() + '{"problem": "x"}\n')
    with pytest.raises(BareError, match=r"d.jsonl:6: missing field 'solution'"):
        import_candidates(store, gsm8k, data, {"question": "problem", "answer": "solution"})
    assert store.scalar("SELECT count(*) FROM candidates") == 0
    # the run says what happened (the bad line came in the first chunk: nothing written)
    (run,) = store.query("SELECT status, produced, error FROM runs")
    assert (run["status"], run["produced"]) == ("failed", 0)
    assert "d.jsonl:6: missing field 'solution'" in run["error"]
    assert run["error"].endswith("(rolled back: 0 candidates removed)")


@pytest.mark.parametrize("profile", [p for p in PROFILES if p not in preference.PROFILES])
def test_our_own_exports_come_back_in_every_profile(tmp_path, profile):
    """An export, in any profile of items (not of preferences), imported into another
    workspace gives back the same fields (through the recipe's [export] templates for the
    chat-like ones)."""
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store

    with Store(make_review_workspace(tmp_path / "from.db")) as source:
        task = recipes.resolve(source, "gsm8k")
        review.decide(source, [1], "accept", "ann")
        out = export(source, task, tmp_path / f"{profile}.jsonl", status="any",
                     profile=profile)
        exported = [current.current(source, i).final_fields for i in (1, 3, 4, 5)]
    with Store(tmp_path / "to.db") as target:
        task = recipes.resolve(target, "gsm8k")
        result = import_candidates(target, task, out.path)
        # #1 and #3 hold the same text: the second is skipped as already imported.
        assert (out.written, result.added, result.duplicates) == (4, 3, 1)
        back = [c.draft_fields for c in current.of_task(target, "gsm8k")]
    assert exported[0] == exported[1] and back == [exported[0], *exported[2:]]


def test_templates_read_their_fields_back():
    pattern = template_pattern("Solve: {question} ({question})\n{answer}!")
    match = pattern.fullmatch("Solve: two plus two (two plus two)\n4!")
    assert match and match.groupdict() == {"question": "two plus two", "answer": "4"}
    assert pattern.fullmatch("Solve: a (b)\n4!") is None  # a field twice, different


def test_the_command_says_what_it_did(tmp_path):
    db = ["--db", str(tmp_path / "w.db")]
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", *db).returncode == 0
    data = _dataset(tmp_path / "d.jsonl", 12)
    args = ("candidates", "import", str(data), "--task", "gsm8k", "--map",
            "question=problem", "--map", "answer=solution", *db)
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert ("imported 10 candidates into task gsm8k (1 failing its checks); skipped 2 the "
            "same as a seed") in " ".join(first.stdout.split())
    assert "imported 0 candidates" in second.stdout and "skipped 10 already imported" in (
        " ".join(second.stdout.split()))


@pytest.mark.models
def test_imported_items_are_refined_only_when_asked_then_reviewed_and_exported(
        store, gsm8k, tmp_path):
    """`refine` leaves imported items as they are; with --refine-imported it refines
    them as drafts (original beside refined, drift measured), and the review and export
    take them like any candidate."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    data = _dataset(tmp_path / "scraped.jsonl", 40)
    import_candidates(store, gsm8k, data, {"question": "problem", "answer": "solution"})
    db = str(store.path)
    plain = run_cli("refine", "--task", "gsm8k", "--db", db, "--limit", "3",
                    "--refine-max-tokens", "120", "--rng-seed", "1")
    assert plain.returncode == 0, plain.stderr
    assert "nothing to do" in plain.stderr
    assert store.scalar("SELECT count(*) FROM refinements") == 0
    asked = run_cli("refine", "--task", "gsm8k", "--db", db, "--limit", "3",
                    "--refine-max-tokens", "120", "--rng-seed", "1", "--retries", "0",
                    "--refine-imported")
    assert asked.returncode == 0, asked.stderr
    assert store.scalar("SELECT count(*) FROM refinements") >= 3
    assert store.scalar("SELECT json_extract(params, '$.refine_imported') FROM runs"
                        " WHERE kind = 'refine'") == 1
    assert store.scalar("SELECT count(*) FROM refinements WHERE fields IS NOT NULL AND"
                        " draft_overlap IS NULL") == 0  # every parsed one measured
    refined = [c for c in current.of_task(store, "gsm8k") if c.refined]
    assert [c.id for c in refined] == [1, 2, 3] and all(c.origin for c in refined)
    review.decide(store, [1, 2], "accept", "ann")
    review.decide(store, [3], "reject", "ann")
    out = export(store, gsm8k, tmp_path / "out.jsonl", profile="fields")
    assert out.written == sum(current.current(store, i).final_valid is not False
                              for i in (1, 2))


async def test_the_review_shows_an_imported_item_as_the_original_and_its_origin(tmp_path):
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store
    from bare_tui.tui.widgets.diff_view import DiffView
    from conftest import make_app

    db = tmp_path / "w.db"
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        import_candidates(store, task, _dataset(tmp_path / "d.jsonl", 4),
                          {"question": "problem", "answer": "solution"})
    app = make_app(db)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.pause()
        shown = "\n".join(app.review_screen.query_one(DiffView).plain_lines())
        assert "from d.jsonl:1" in shown and "Original" in shown and "seed None" not in shown
