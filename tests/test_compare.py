"""`compare`: three arms from the same seeds and streams, kept out of the task's queue
and exports, judged, and reported as a table, Markdown and JSON, and in the TUI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bare_tui.core.datasets.export import export
from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import compare, compare_report, judge
from bare_tui.core.reviewing import review_list
from bare_tui.core.workspace.store import Store
from conftest import BAD_DRAFT, GOOD_DRAFT, GSM8K_SEEDS, ScriptedBackend, make_app, run_cli

OTHER = "Question:\nCal has 4 cups and breaks 1. How many?\nAnswer:\n4 - 1 = 3\n#### 3\n"


class Arms:
    """Scripted models: the base one drafts, the instruct one writes items and judges."""

    def __init__(self):
        self.base = ScriptedBackend([GOOD_DRAFT, BAD_DRAFT, OTHER])
        self.instruct = ScriptedBackend([OTHER, "Answer: 1"])

    def __call__(self, role: str):
        return self.base if role == "base" else self.instruct


def _compare(store, task, n=3, into_queue=False, trials=1):
    plan = compare.plan(store, task, n, into_queue=into_queue, params={"rng_seed": 4})
    models = Arms()
    runs = compare.generate(store, task, plan, n, models, rng_seed=4, base=task.base,
                            instruct=task.refine.replace(temperature=1.0), refine=task.refine,
                            judge_sampling=judge.SAMPLING, trials=trials)
    return plan, runs, models


def test_arms_share_seeds_and_streams_and_stay_out_of_the_queue(store, gsm8k, tmp_path):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    plan, runs, models = _compare(store, gsm8k)
    assert plan.tasks == {"base": "gsm8k~compare1", "bare": "gsm8k~compare1",
                          "instruct": "gsm8k~compare1-instruct"}
    # The task itself holds nothing: its queue and its exports see no arm item.
    assert review_list.candidate_ids(store, "gsm8k") == []
    assert export(store, gsm8k, tmp_path / "x.jsonl", status="any").written == 0
    assert store.task_names() == ["gsm8k"]  # commands without --task still find it
    shots = {task: [row[0] for row in store.conn.execute(
        "SELECT shot_ids FROM candidates WHERE task = ? ORDER BY sample_index", (task,))]
        for task in set(plan.tasks.values())}
    seeds = {task: [row[0] for row in store.conn.execute(
        "SELECT seed FROM candidates WHERE task = ? ORDER BY sample_index", (task,))]
        for task in set(plan.tasks.values())}
    assert seeds["gsm8k~compare1"] == seeds["gsm8k~compare1-instruct"]
    first = {task: [json.loads(s) for s in ids] for task, ids in shots.items()}
    texts = {task: [[store.scalar("SELECT fields FROM seeds WHERE id = ?", (i,)) for i in ids]
                    for ids in lists] for task, lists in first.items()}
    assert texts["gsm8k~compare1"] == texts["gsm8k~compare1-instruct"]  # the same shots
    # The instruct arm is asked in a chat for one new item like the examples.
    asked = [request for request, _ in models.instruct.calls if isinstance(request, list)]
    assert any("different in content from the examples" in m[0]["content"] for m in asked)
    assert set(runs["bare"]) == {"draft", "refine", "judge"}
    refined = store.scalar("SELECT count(*) FROM refinements WHERE run_id = ?",
                           (runs["bare"]["refine"],))
    assert refined == 3  # every draft of the base arm that parses
    data = compare.report(store, gsm8k, plan.comparison)
    arms = {arm["arm"]: arm for arm in data["arms"]}
    assert (arms["base"]["made"], arms["base"]["parsed"], arms["base"]["passing"]) == (3, 3, 2)
    assert (arms["bare"]["made"], arms["instruct"]["made"]) == (3, 3)
    assert arms["instruct"]["temperature"] == 1.0
    assert all(arm["ir_trials"] == arm["parsed"] for arm in data["arms"])
    text = compare_report.markdown(data)
    assert "| base | scripted | 0.7 | 3 | 100% | 67% |" in text
    assert f"| {arms['base']['ir_trials']} |" in text
    assert "IR (chance is 75%)" in text


def test_into_queue_makes_the_bare_arm_reviewable(store, gsm8k):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    plan, runs, _ = _compare(store, gsm8k, into_queue=True)
    assert plan.tasks["base"] == "gsm8k" and plan.tasks["instruct"] == "gsm8k~compare1-instruct"
    assert len(review_list.candidate_ids(store, "gsm8k")) == 3
    # A second comparison adds its own items beside the first's.
    _compare(store, gsm8k, into_queue=True)
    assert len(review_list.candidate_ids(store, "gsm8k")) == 6


def test_the_instruct_prompt_reads_as_the_papers_baseline(gsm8k):
    messages = prompts.instruct_messages(gsm8k, [{"question": "Q1?", "answer": "#### 1"}],
                                         "Question:\n")
    assert messages[-1] == {"role": "assistant", "content": "Question:\n"}
    text = messages[0]["content"]
    assert "Question:\nQ1?" in text and "Write one new grade school math word problem" in text


REPORT = {
    "comparison": 2, "task": "gsm8k", "recipe_sha256": "ab" * 32, "n": 32,
    "params": {"rng_seed": 7, "trials": 1, "judge": None}, "created_at": 1796000000.0,
    "embedding_model": "all-MiniLM-L6-v2", "seeds_similarity": 0.4301, "chance": 0.75,
    "arms": [
        {"arm": "base", "model": "gemma3-270m", "model_sha256": "a5" * 32, "temperature": 0.7,
         "made": 32, "parsed": 27, "passing": 19, "similarity": 0.3512, "ir": 0.52,
         "ir_interval": [0.34, 0.69], "ir_trials": 27, "tokens_per_s": 9.1, "wall_s": 410.0},
        {"arm": "instruct", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
         "temperature": 1.0, "made": 32, "parsed": 30, "passing": 21, "similarity": 0.4123,
         "ir": 0.4, "ir_interval": [0.25, 0.58], "ir_trials": 30, "tokens_per_s": 14.2,
         "wall_s": 233.0},
        {"arm": "bare", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
         "temperature": 0.7, "made": 27, "parsed": 27, "passing": 25, "similarity": 0.3655,
         "ir": 0.48, "ir_interval": [0.31, 0.66], "ir_trials": 27, "tokens_per_s": 15.0,
         "wall_s": 260.0}],
    "histograms": {
        "base": {"edges": [i / 10 for i in range(-2, 11)],
                 "counts": [0, 2, 10, 40, 90, 110, 80, 40, 20, 5, 3, 1]},
        "instruct": {"edges": [i / 10 for i in range(-2, 11)],
                     "counts": [0, 0, 3, 20, 60, 120, 110, 70, 40, 20, 5, 2]},
        "bare": {"edges": [i / 10 for i in range(-2, 11)],
                 "counts": [0, 1, 8, 35, 85, 115, 85, 45, 22, 6, 2, 1]}},
}


def test_the_report_says_which_way_the_numbers_went():
    lines = compare_report.findings(REPORT)
    assert lines[0].startswith("Diversity: the base arm's items are less similar to each "
                               "other than the instruct arm's (0.3512 vs 0.4123)")
    flipped = {**REPORT, "arms": [{**REPORT["arms"][0], "similarity": 0.5}, *REPORT["arms"][1:]]}
    assert "are more similar" in compare_report.findings(flipped)[0]
    assert lines[-1] == "IR (chance is 75%): base 52%, instruct 40%, bare 48%."
    histogram = compare_report.histogram(REPORT)
    assert histogram[0].split() == ["similarity", "base", "instruct", "bare"]


def _saved(db: Path) -> None:
    with Store(db) as store:
        with store.transaction() as conn:
            conn.execute("INSERT INTO comparisons (task, n, params, report, report_md,"
                         " created_at) VALUES ('gsm8k', 32, '{}', ?, ?, 0)",
                         (json.dumps(REPORT), compare_report.markdown(REPORT)))


async def test_the_compare_view_opens_with_v(review_db):
    from textual.widgets import DataTable

    from bare_tui.tui.screens.compare import CompareScreen

    app = make_app(review_db)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert any("no comparison of gsm8k yet" in n.message for n in app._notifications)
    _saved(review_db)
    app = make_app(review_db)
    async with app.run_test(size=(120, 32)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen)
        table = app.screen.query_one(DataTable)
        assert [str(table.get_row_at(i)[0]) for i in range(table.row_count)] == [
            "base", "instruct", "bare"]
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_compare_view_snapshot(snap_compare, review_db, size):
    _saved(review_db)

    async def open_view(pilot):
        await pilot.press("v")
        await pilot.pause()

    assert snap_compare(make_app(review_db), terminal_size=size, run_before=open_view)


def test_compare_view_under_no_color_tells_the_arms_apart(snap_compare, review_db,
                                                          monkeypatch):
    """Without colour the three arms' histograms and legends differ by glyph."""
    _saved(review_db)
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(review_db)
    assert app.no_color

    async def open_view(pilot):
        await pilot.press("v")
        await pilot.pause()
        drawn = pilot.app.screen.query_one("PlotextPlot").plt.build()
        legend = re.sub(r"\x1b\[[0-9;]*m", "", drawn)
        assert all(f"{glyph * 2} {name}" in legend for name, glyph in (
            ("base", "o"), ("instruct", "x"), ("bare", "+")))

    assert snap_compare(app, terminal_size=(100, 30), run_before=open_view)


def test_a_judge_that_never_answers_in_format_gives_no_ir_and_says_why():
    unread = {**REPORT, "arms": [
        {**arm, "ir": None, "ir_interval": None, "ir_unread": arm["ir_trials"]}
        for arm in REPORT["arms"]]}
    found = compare_report.findings(unread)
    assert not any(line.startswith("IR (chance") for line in found)
    assert found[-1] == ("No IR for the bare arm: the judge's 27 replies could not be read "
                         "(none ends with 'Answer: N'); a judge that small cannot follow the "
                         "format: name a stronger one with --judge FILE.gguf or "
                         "--judge-server URL.")
    assert [row[7] for row in compare_report.rows(unread)] == ["unread"] * 3
    assert "No IR for the base arm" in compare_report.markdown(unread)


@pytest.mark.models
def test_compare_on_the_embedded_models(tmp_path):
    db = str(tmp_path / "w.db")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                   "--db", db).returncode == 0
    out = tmp_path / "report"
    result = run_cli("compare", "--db", db, "-n", "2", "--max-tokens", "80",
                     "--judge-max-tokens", "24", "--rng-seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert [arm["arm"] for arm in data["arms"]] == ["base", "instruct", "bare"]
    assert data["arms"][0]["model"] == "gemma3-270m"
    assert data["arms"][1]["model"] == "smollm2-135m-instruct"
    assert data["arms"][0]["made"] == data["arms"][1]["made"] == 2
    assert "| arm | model |" in out.with_suffix(".md").read_text()
    assert "comparison 1" in result.stdout
    with Store(Path(db)) as store:
        assert review_list.candidate_ids(store, "gsm8k") == []  # out of the queue
        saved = compare.latest(store, "gsm8k")
    assert saved is not None and saved[0]["comparison"] == 1
    exported = run_cli("export", str(tmp_path / "x.jsonl"), "--db", db, "--status", "any",
                       "--no-embed")
    assert exported.returncode == 0 and "wrote 0 items" in exported.stdout
