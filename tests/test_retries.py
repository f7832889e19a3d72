"""Re-rolls of refinements that fail, the best attempt proposed, and the draft proposed
when the refinement fails checks the draft passes."""

from __future__ import annotations

import json

from bare_tui.core.datasets.export import export
from bare_tui.core.generation import pipeline
from bare_tui.core.inputs import verifying
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.reviewing import review, review_list
from bare_tui.core.workspace import current, yields
from bare_tui.core.workspace.values import now, to_json
from conftest import GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend, item

REFINED = GOOD_DRAFT.replace("Ann", "Anna")
FAILS_CHECKS = item("Anna has 2 pens and buys 3. How many?", "2 + 3 = 5")  # no "#### n"
UNPARSED = "To improve the given problem, here is a complete example:"


def one_draft(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT]), 1, rng_seed=1)


def attempts(store) -> list[tuple[int, bool, bool]]:
    return [(row["seed"], row["fields"] is not None, bool(row["valid"])) for row in store.query(
        "SELECT seed, fields, valid FROM refinements WHERE candidate_id = 1 ORDER BY id")]


def test_failed_refinements_are_tried_again_with_new_seeds(store, gsm8k):
    one_draft(store, gsm8k)
    backend = ScriptedBackend([UNPARSED, FAILS_CHECKS, REFINED])
    result = pipeline.refine(store, gsm8k, backend, retries=2, rng_seed=5)
    tried = attempts(store)
    assert [(parsed, valid) for _, parsed, valid in tried] == [
        (False, False), (True, False), (True, True)]
    assert len({seed for seed, _, _ in tried}) == 3  # each attempt its own recorded seed
    assert (result.produced, result.planned) == (3, 3)
    shown = current.current(store, 1)
    assert shown.final_version == "refined" and shown.final_fields["question"].startswith("Anna")


def test_retries_stop_at_the_limit_and_keep_every_attempt(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([UNPARSED]), retries=2, rng_seed=5)
    assert len(attempts(store)) == 3
    pipeline.refine(store, gsm8k, ScriptedBackend([UNPARSED]), retries=2, rng_seed=5)
    assert len(attempts(store)) == 3  # a refined candidate is not refined again


def test_without_retries_one_attempt(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([UNPARSED, REFINED]), retries=0)
    assert len(attempts(store)) == 1


def test_best_attempt_is_parsed_then_passing_then_latest(store, gsm8k):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([UNPARSED, FAILS_CHECKS, UNPARSED]),
                    retries=2)
    shown = current.current(store, 1)
    assert shown.latest_fields is None  # the latest attempt did not parse
    assert shown.best_fields["answer"] == "2 + 3 = 5"  # the one that parsed is the best
    # A later attempt that parses but fails does not beat an earlier one that passes.
    pipeline.refine(store, gsm8k, ScriptedBackend([REFINED]))  # (already refined: no-op)
    with store.transaction():
        run = store.scalar("SELECT max(run_id) FROM refinements")
        for text, valid in ((REFINED, 1), (FAILS_CHECKS, 0)):
            fields = pipeline.parse_and_check(gsm8k, text)[0]
            store.insert("refinements", {"candidate_id": 1, "run_id": run, "seed": 9,
                                         "raw_text": text, "fields": to_json(fields),
                                         "valid": valid, "created_at": now(),
                                         **verifying.verify(gsm8k, fields).columns()})
    shown = current.current(store, 1)
    assert shown.final_version == "refined" and shown.final_fields["question"].startswith("Anna")


def test_refinement_failing_checks_the_draft_passes_proposes_the_draft(store, gsm8k, tmp_path):
    one_draft(store, gsm8k)
    pipeline.refine(store, gsm8k, ScriptedBackend([FAILS_CHECKS]), retries=1)
    shown = current.current(store, 1)
    assert shown.refinement_failed and shown.final_version == "draft"
    assert review_list.summaries(store, [1])[1].marker == "d"
    review.decide(store, [1], "accept", "ann")  # `a` takes what is proposed: the draft
    assert review.decision_state(store, 1).version == "draft"
    result = export(store, gsm8k, tmp_path / "out.jsonl", profile="fields")
    assert result.written == 1 and "Ann has 2 pens" in result.path.read_text()


def test_yield_counts_parses_passes_and_usable_items(store, gsm8k, tmp_path):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT, UNPARSED, GOOD_DRAFT]), 3)
    pipeline.refine(store, gsm8k, ScriptedBackend([UNPARSED, FAILS_CHECKS, REFINED]),
                    retries=1)
    measured = yields.measure(store, gsm8k.name)
    assert (measured.drafts, measured.drafts_parsed, measured.drafts_passing) == (3, 2, 2)
    # #2 did not parse, so it is not refined. #1: unparsed, then (its retry) one that
    # fails its checks; #3: passing at once.
    assert (measured.refinements, measured.refinements_parsed,
            measured.refinements_passing) == (3, 2, 1)
    assert (measured.usable, measured.candidates) == (2, 3)  # #1 its draft, #3 refined
    assert measured.minutes > 0 and measured.usable_per_minute > 0
    assert measured.lines()[2].startswith("usable items: 2 of 3, ")
    review.decide(store, [1], "reject", "ann")
    assert yields.measure(store, gsm8k.name).usable == 1
    result = export(store, gsm8k, tmp_path / "out.jsonl", status="any", profile="fields")
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["yield"]["usable"] == 1 and manifest["yield"]["refinements"] == 3


class TwoAtATime(ScriptedBackend):
    """Keeps two jobs in flight and finishes them in order, as a parallel backend
    would; records the keys in the order it starts them."""

    def __init__(self, outputs: list[str]):
        super().__init__(outputs)
        self.started: list[object] = []

    def chat_many(self, jobs, sampling):
        source, running = iter(jobs), []
        while True:
            while len(running) < 2 and (job := next(source, None)) is not None:
                self.started.append(job[0])
                running.append(job)
            if not running:
                return
            key, messages, seed = running.pop(0)
            yield key, self.chat(messages, sampling, seed)


def test_retries_join_the_running_batch(store, gsm8k):
    """A retry is handed to the backend as soon as its attempt fails, beside the first
    attempts still running, not in a round after all of them."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([GOOD_DRAFT]), 3, rng_seed=1)
    backend = TwoAtATime([UNPARSED, REFINED, REFINED, REFINED])
    result = pipeline.refine(store, gsm8k, backend, retries=2, rng_seed=5)
    assert backend.started == [1, 2, 1, 3]  # candidate 1 again before candidate 3
    assert (result.produced, result.planned) == (4, 4)
    assert yields.measure(store, gsm8k.name).usable == 3


def test_progress_total_grows_with_the_retries_a_job_plans():
    from bare_tui.core.generation.meter import Meter

    meter = Meter("refine", 2)
    meter.add(1, 10, False, total=2)
    meter.add(2, 10, True, total=3)  # the first one is tried again
    meter.add(3, 10, True, total=3)
    assert (meter.done, meter.total) == (3, 3) and meter.line().startswith("refine: 3/3")


def test_time_left_is_the_pace_so_far_and_grows_while_no_sample_comes():
    """With many sequences at once, samples come in bursts: the time left is the whole
    job's pace, drawn anew at every refresh, not the last burst's."""
    import time

    from bare_tui.core.generation.meter import Meter
    from bare_tui.progress import TimeLeftColumn

    meter = Meter("draft", 10, started=time.perf_counter() - 10)
    column = TimeLeftColumn(meter)
    assert column.render(None).plain == "ETA measuring"
    meter.add(2, 10, True)  # 2 of 10 in 10 s: 40 s left
    assert column.render(None).plain in ("ETA 0:40", "ETA 0:41")
    meter.started -= 10  # 10 s more and no sample: 80 s left at this pace
    assert column.render(None).plain in ("ETA 1:20", "ETA 1:21")


def test_drafts_that_do_not_parse_are_drafted_again_in_their_slot(store, gsm8k):
    """--redraft: an unparsed draft gets new shots and a new seed from its slot's stream;
    every attempt is kept, the slot counts once, and a rerun has nothing to do."""
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    samples = []
    backend = ScriptedBackend([UNPARSED, GOOD_DRAFT, UNPARSED, UNPARSED, UNPARSED])
    result = pipeline.draft(store, gsm8k, backend, 2, rng_seed=3, redraft=2,
                            on_sample=samples.append)
    rows = store.query("SELECT sample_index, seed, fields FROM candidates ORDER BY id")
    # One at a time, a re-draft goes first: slot 0 fails and then parses; slot 1 is
    # drafted again twice and never parses.
    assert [(r["sample_index"], r["fields"] is not None) for r in rows] == [
        (0, False), (0, True), (1, False), (1, False), (1, False)]
    assert len({r["seed"] for r in rows}) == 5
    assert (result.produced, result.planned) == (5, 5)
    assert [s.total for s in samples] == [3, 3, 4, 5, 5]  # grows with the re-drafts
    assert pipeline.count_candidates(store, gsm8k) == 2
    assert pipeline.draft(store, gsm8k, backend, 2).status == "nothing to do"
    # Without the option, one attempt per slot, as before.
    more = pipeline.draft(store, gsm8k, ScriptedBackend([UNPARSED]), 3, rng_seed=3)
    assert (more.produced, pipeline.count_candidates(store, gsm8k)) == (1, 3)


def test_redrafts_stop_once_a_draft_parses(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    pipeline.draft(store, gsm8k, ScriptedBackend([UNPARSED, GOOD_DRAFT]), 1, redraft=5)
    rows = store.query("SELECT sample_index, fields FROM candidates ORDER BY id")
    assert [(r["sample_index"], r["fields"] is not None) for r in rows] == [(0, False),
                                                                           (0, True)]
    # The unparsed attempt is kept, not refined (as any unparsed draft); the slot's
    # parsed draft is.
    assert [c["id"] for c in pipeline.unrefined(store, gsm8k)] == [2]


WRONG_SUM = ("Question:\nAnna has 2 pens and buys 4. How many?\nAnswer:\n"
             "2 + 4 = <<2+4=7>>7\n#### 7\n")


def test_a_refinement_failing_a_verifier_is_retried_and_never_beats_a_verified_draft(
        store, gsm8k):
    """The built-in gsm8k recipe verifies its arithmetic: each version stores its result,
    a refinement that breaks it is tried again, and a verified draft stays proposed."""
    one_draft(store, gsm8k)  # GOOD_DRAFT: 2 + 3 = 5, #### 5
    samples = []
    pipeline.refine(store, gsm8k, ScriptedBackend([WRONG_SUM, WRONG_SUM]), retries=1,
                    on_sample=samples.append)
    assert [(s.parsed, s.valid, s.verified) for s in samples] == [(True, True, False)] * 2
    stored = store.conn.execute("SELECT verified, verification FROM refinements").fetchall()
    assert [row[0] for row in stored] == [0, 0]
    outcome = json.loads(stored[0][1])
    assert outcome == [{"verifier": "arithmetic(answer)", "version": "1", "checked": True,
                        "problems": ["annotation 1 <<2+4=7>>: 2+4 is 6, not 7"]}]
    assert store.scalar("SELECT verified FROM candidates WHERE id = 1") == 1
    shown = current.current(store, 1)
    assert shown.refinement_broke_verified and shown.final_version == "draft"
    assert shown.final_verified is True and shown.verification_problems == []
    measured = yields.measure(store, gsm8k.name)
    assert (measured.drafts_verified, measured.refinements_verified, measured.verified) == (
        1, 0, 1)
    assert measured.lines()[1].endswith("100% pass, 0% verified, 0% drifted)")
    assert measured.lines()[3].startswith("verified items: 1 of 1")
    review.decide(store, [1], "accept_draft", "ann")
    assert yields.measure(store, gsm8k.name).verified == 1


def test_without_verifiers_the_yield_says_none_ran(store):
    from bare_tui.core.inputs import recipes

    text = recipes.builtin_source("gsm8k").replace('verify = ["arithmetic"]', "")
    plain = recipes.parse_recipe(text.replace('name = "gsm8k"', 'name = "plain"'))
    import_seeds(store, plain, GSM8K_SEEDS)
    pipeline.draft(store, plain, ScriptedBackend([GOOD_DRAFT]), 1)
    assert store.scalar("SELECT verified IS NULL AND verification IS NULL FROM candidates")
    assert yields.measure(store, "plain").lines()[3] == (
        "verified items: none (no verifier ran, or none had anything to check)")
