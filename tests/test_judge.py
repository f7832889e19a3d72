"""The IR judge: lineups, answers, the rate with its interval, runs stored for audit,
the review's verdicts, and the judge served over HTTP."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from bare_tui.core.generation.backends import Generation
from bare_tui.core.measures import judge
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import make_review_workspace, run_cli


def test_the_item_sits_at_a_uniform_place_among_distinct_real_seeds():
    rng = random.Random(5)
    seeds = list(range(1, 11))
    places = Counter()
    for _ in range(8000):
        lineup = judge.lineup(rng, seeds, exclude={3})
        assert len(set(lineup.seed_ids)) == 3 and 3 not in lineup.seed_ids
        assert set(lineup.seed_ids) <= set(seeds)
        order = lineup.order()
        assert order.count(None) == 1 and order.index(None) + 1 == lineup.position
        places[lineup.position] += 1
    assert sorted(places) == [1, 2, 3, 4]
    # Each place within 4 standard deviations of 2000 (sd = sqrt(8000 * 1/4 * 3/4) = 38.7).
    assert all(abs(count - 2000) < 155 for count in places.values()), places
    with pytest.raises(BareError, match="needs 3 real items beside each item; its pool has 2"):
        judge.lineup(rng, [1, 2, 3], exclude={1})


@pytest.mark.parametrize(("reply", "answer"), [
    ("Example 2 has a wrong sum.\nAnswer: 2", 2),
    ("Answer: 1\nOn second thought, example 3 is odd.\nanswer: 3", 3),
    ("ANSWER: **4**", 4),
    ("The low-quality one is example 2.\nAnswer: Example 2", 2),
    ("Answer: (3)", 3),
    ("I think it is the second one.", None),
    ("Answer: 7", None),  # no such place
    ("Answer: two", None),
    ("", None),
])
def test_the_last_answer_line_is_read(reply, answer):
    assert judge.parse_answer(reply) == answer


def test_wilson_interval_against_hand_computed_values():
    # p = 0.75, n = 100, z^2 = 3.841459: centre (0.75 + 0.019207) / 1.038415 = 0.740752,
    # half 1.959964 * sqrt(0.001875 + 0.000096036) / 1.038415 = 0.083796.
    low, high = judge.wilson(75, 100)
    assert low == pytest.approx(0.6570, abs=1e-4) and high == pytest.approx(0.8246, abs=1e-4)
    # 0 of 10: the interval starts at 0 and ends at z^2 / (n + z^2) = 0.27753.
    low, high = judge.wilson(0, 10)
    assert low == 0 and high == pytest.approx(0.27753, abs=1e-5)
    assert judge.wilson(10, 10)[1] == pytest.approx(1.0)
    rate = judge.Rate(trials=100, not_detected=75)
    assert rate.value == 0.75
    assert rate.text() == "IR 75% (95% 66%-82%) over 100 trials; chance is 75%"


class Picky:
    """A judge that always names one place (or says nothing usable)."""

    def __init__(self, reply: str):
        self.reply, self.asked = reply, []

    def chat_many(self, jobs, sampling):
        for key, messages, seed in jobs:
            self.asked.append((messages, seed))
            yield key, Generation(self.reply, 10, 5, 1.0, "stop")

    def describe(self):
        return {"model": "picky", "model_sha256": "1" * 64}


def test_a_judge_run_is_stored_for_audit(drafted, gsm8k):
    items = judge.to_judge(drafted, gsm8k)
    assert [i.candidate_id for i in items] == [1, 2, 3]
    result = judge.judge(drafted, gsm8k, Picky("Example 1 is worse.\nAnswer: 1"), items,
                         trials=2, rng_seed=9)
    assert (result.produced, result.status) == (6, "done")
    rows = drafted.query("SELECT * FROM judgments ORDER BY candidate_id, trial")
    assert len(rows) == 6
    for row in rows:
        assert row["detected"] == int(row["position"] == 1) and row["picked"] == 1
        assert row["reply"].endswith("Answer: 1")
    rate = judge.rate(drafted, "gsm8k")
    assert rate.trials == 6 and rate.not_detected == sum(r["position"] != 1 for r in rows)
    # The same seed gives the same lineups and judge seeds.
    again = Picky("Answer: 1")
    judge.judge(drafted, gsm8k, again, items, trials=2, rng_seed=9)
    second = drafted.query("SELECT lineup, position, seed FROM judgments WHERE run_id = "
                           "(SELECT max(run_id) FROM judgments) ORDER BY candidate_id, trial")
    assert second == [{k: r[k] for k in ("lineup", "position", "seed")} for r in rows]
    # The review hears the latest run's verdict per candidate.
    verdicts = judge.verdicts(drafted, [1, 2, 3])
    assert all(trials == 2 for _, trials in verdicts.values())


def test_an_unreadable_reply_is_no_verdict(drafted, gsm8k):
    """A reply with no 'Answer: N' names nothing: it is left out of IR (not read as a
    detection, which made IR 0% for a judge that never answered in format)."""
    items = judge.to_judge(drafted, gsm8k)
    judge.judge(drafted, gsm8k, Picky("They all look fine to me."), items, rng_seed=1)
    rate = judge.rate(drafted, "gsm8k")
    assert (rate.trials, rate.unread, rate.value) == (3, 3, None)
    assert rate.text().startswith("IR: none: the judge's 3 replies could not be read")
    assert "--judge FILE.gguf or --judge-server URL" in rate.text()
    assert drafted.scalar("SELECT count(*) FROM judgments WHERE picked IS NULL") == 3
    partly = judge.Rate(trials=10, not_detected=6, unread=2)
    assert partly.value == 0.75 and "over 8 trials; 2 unread replies left out" in partly.text()


def test_a_judged_item_equal_to_a_seed_never_meets_that_seed(store, gsm8k, tmp_path):
    from bare_tui.core.inputs.seeds import import_seeds
    from conftest import GSM8K_SEEDS

    four = tmp_path / "four.jsonl"
    four.write_text("".join(GSM8K_SEEDS.read_text().splitlines(keepends=True)[:4]))
    import_seeds(store, gsm8k, four)
    twin = store.seeds("gsm8k")[2]
    item = judge.Item(1, "final", dict(twin["fields"]))
    own = dataclasses.replace(gsm8k, judge_pool="")  # lineups from the task's seeds
    judge.judge(store, own, Picky("Answer: 2"), [item], trials=20, rng_seed=3)
    lineups = [json.loads(row[0]) for row in store.conn.execute("SELECT lineup FROM judgments")]
    assert len(lineups) == 20
    # Only three seeds are left, so every lineup is those three and the item.
    assert all(sorted(x for x in lineup if x is not None) == sorted(
        s["id"] for s in store.seeds("gsm8k") if s["id"] != twin["id"]) for lineup in lineups)
    assert len({lineup.index(None) for lineup in lineups}) > 1


def test_the_review_list_filters_and_sorts_by_verdict(drafted, gsm8k):
    from bare_tui.core.reviewing import review_list

    items = judge.to_judge(drafted, gsm8k)
    judge.judge(drafted, gsm8k, Picky("Answer: 1"), items, trials=4, rng_seed=2)
    verdicts = judge.verdicts(drafted, [1, 2, 3])
    detected = [i for i, (not_detected, trials) in verdicts.items() if not_detected < trials]
    assert review_list.candidate_ids(drafted, "gsm8k", "judge: detected") == sorted(detected)
    worst = review_list.candidate_ids(drafted, "gsm8k", "judge: most detected first")
    shares = [1 - verdicts[i][0] / verdicts[i][1] for i in worst]
    assert sorted(worst) == [1, 2, 3] and shares == sorted(shares, reverse=True)
    assert judge.verdict_text(2, 2) == "judge: not detected, 2/2 trials"
    assert judge.verdict_text(0, 3) == "judge: detected, 3/3 trials"
    assert judge.verdict_text(1, 4) == "judge: not detected in 1 of 4 trials"


def test_the_dataset_card_gives_the_judge_results(drafted, gsm8k, tmp_path):
    from bare_tui.core.datasets.export import export

    judge.judge(drafted, gsm8k, Picky("Answer: 1"), judge.to_judge(drafted, gsm8k),
                trials=2, rng_seed=4)
    rate = judge.rate(drafted, "gsm8k")
    card = export(drafted, gsm8k, tmp_path / "out.jsonl", status="any",
                  include_invalid=True).card_path.read_text()
    assert f"## Judge\n\n{rate.text()}. Each trial shows the judge model (`picky`" in card


@pytest.mark.models
def test_the_judge_command_with_the_embedded_model(tmp_path):
    db = str(make_review_workspace(tmp_path / "w.db"))
    first = run_cli("judge", "--db", db, "--limit", "2", "--max-tokens", "24",
                    "--rng-seed", "5")
    assert first.returncode == 0, first.stderr
    assert "a judge that small is weak" in " ".join(first.stderr.split())
    assert "judge: 2 samples on cpu" in first.stderr
    with Store(Path(db)) as store:
        rows = store.query("SELECT candidate_id, lineup, position, seed, reply, picked, "
                           "detected FROM judgments ORDER BY candidate_id")
        run = store.query("SELECT kind, model, rng_seed, params FROM runs WHERE kind = 'judge'")
    read = sum(r["picked"] is not None for r in rows)
    said = " ".join(first.stdout.split())
    if read:  # IR over the replies that name an item, the others left out
        assert re.search(rf"judge run \d+: IR \d+% \(95% \d+%-\d+%\) over {read} trials",
                         said), said
    else:  # the 135M model rarely writes 'Answer: N': no IR, and the fix
        assert "IR: none: the judge's 2 replies could not be read" in said
        assert "--judge FILE.gguf or --judge-server URL" in said
    assert [r["candidate_id"] for r in rows] == [1, 2]
    assert all(r["reply"].strip() for r in rows)
    assert all(r["detected"] == int(r["picked"] in (None, r["position"])) for r in rows)
    assert run[0]["model"] == "smollm2-135m-instruct" and run[0]["rng_seed"] == 5
    assert json.loads(run[0]["params"])["sampling"]["max_tokens"] == 24
    # Judged ones are skipped; --again judges them anew with the same lineups and seeds.
    again = run_cli("judge", "--db", db, "--limit", "2", "--max-tokens", "24",
                    "--rng-seed", "5", "--again")
    assert again.returncode == 0, again.stderr
    with Store(Path(db)) as store:
        second = store.query("SELECT candidate_id, lineup, position, seed FROM judgments "
                             "WHERE run_id = (SELECT max(run_id) FROM judgments)"
                             " ORDER BY candidate_id")
    assert second == [{k: r[k] for k in ("candidate_id", "lineup", "position", "seed")}
                      for r in rows]


async def test_the_review_shows_and_filters_by_the_verdict(review_db):
    from bare_tui.core.inputs.recipes import resolve
    from bare_tui.core.reviewing.review_list import FILTERS
    from bare_tui.tui.widgets.diff_view import DiffView
    from conftest import make_app

    with Store(review_db) as store:
        task = resolve(store, "gsm8k")
        judge.judge(store, task, Picky("Answer: 2"), judge.to_judge(store, task), trials=3,
                    rng_seed=6)
        verdicts = judge.verdicts(store, [1, 2, 3, 4, 5])
    app = make_app(review_db)
    async with app.run_test(size=(120, 32)) as pilot:
        lines = app.screen.query_one(DiffView).plain_lines()
        assert any(judge.verdict_text(*verdicts[1]) in line for line in lines), lines
        await pilot.press("f")
        app.screen.query_one("OptionList").highlighted = list(FILTERS).index("judge: detected")
        await pilot.press("enter")
        detected = sorted(i for i, (kept, trials) in verdicts.items() if kept < trials)
        assert 0 < len(detected) < 5 and app.review_screen.candidates.ids == detected


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_the_verdict_under_the_heading_snapshot(snap_compare, review_db, size):
    from bare_tui.core.inputs.recipes import resolve
    from conftest import make_app

    with Store(review_db) as store:
        task = resolve(store, "gsm8k")
        judge.judge(store, task, Picky("Answer: 2"), judge.to_judge(store, task), trials=2,
                    rng_seed=6)
    assert snap_compare(make_app(review_db), terminal_size=size)
