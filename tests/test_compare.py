"""`compare`: three arms from the same seeds and streams, kept out of the task's queue
and exports, judged, and reported as a table, Markdown and JSON, and in the TUI."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from bare_tui.core.datasets.export import export
from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import compare, compare_measures, compare_report
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


def _compare(store, task, n=3, into_queue=False, trials=1, **options):
    plan = compare.plan(store, task, n, into_queue=into_queue, params={"rng_seed": 4})
    models = Arms()
    runs = compare.generate(store, task, plan, n, models, rng_seed=4, base=task.base,
                            instruct=task.refine.replace(temperature=1.0), refine=task.refine,
                            trials=trials, **options)
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
    # The instruct arm is asked in a chat for an example like the examples, as the
    # paper's independent baseline is: no request for novelty.
    asked = [request for request, _ in models.instruct.calls if isinstance(request, list)
             and "Now it's your turn." in request[0]["content"]]
    assert len(asked) == 3 and not any("different" in m[0]["content"] for m in asked)
    # No arm is grammar-constrained (the paper's arms), and each run says so.
    assert [json.loads(store.scalar("SELECT params FROM runs WHERE id = ?", (runs[arm][stage],))
                       )["constrained"] for arm, stage in (("base", "draft"),
            ("instruct", "draft"), ("bare", "refine"))] == [False, False, False]
    assert set(runs["bare"]) == {"draft", "refine", "judge"}
    refined = store.scalar("SELECT count(*) FROM refinements WHERE run_id = ?",
                           (runs["bare"]["refine"],))
    assert refined == 3  # every draft of the base arm that parses
    data = compare_measures.report(store, gsm8k, plan.comparison)
    arms = {arm["arm"]: arm for arm in data["arms"]}
    assert (arms["base"]["made"], arms["base"]["parsed"], arms["base"]["passing"]) == (3, 3, 2)
    assert (arms["bare"]["made"], arms["instruct"]["made"]) == (3, 3)
    assert arms["instruct"]["temperature"] == 1.0
    assert all(arm["ir_trials"] == arm["parsed"] for arm in data["arms"])
    text = compare_report.markdown(data)
    assert "| base | scripted | 0.7 | no | 3 | 100% | 67% |" in text
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
    assert "Provide an example of a grade school math word problem in the following " \
        "format:\nQuestion:\n[question]\nAnswer:\n[answer]" in text
    assert "Here are some examples:\n\nQuestion:\nQ1?" in text
    assert text.endswith("Now it's your turn. Start your response with the question.")
    assert "different" not in text
    # The novelty request stays available as a recipe option.
    novel = dataclasses.replace(gsm8k, instruct_novelty=True)
    asked = prompts.instruct_messages(novel, [{"question": "Q1?", "answer": "#### 1"}])
    assert "should be different in content from the examples" in asked[0]["content"]


def test_constrain_chooses_the_arms_under_grammar(store, gsm8k, monkeypatch):
    monkeypatch.setattr(ScriptedBackend, "takes_grammar", True, raising=False)
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    base, instruct, refine = gsm8k.base, gsm8k.refine, gsm8k.refine
    assert [s.constrain for s in compare.constrained("none", base, instruct, refine)] == [
        False, False, False]
    assert [s.constrain for s in compare.constrained("refine", base, instruct, refine)] == [
        False, False, True]
    assert [s.constrain for s in compare.constrained("all", base, instruct, refine)] == [
        True, True, True]
    plan, runs, _ = _compare(store, gsm8k, constrain="refine")
    constrained = {arm: json.loads(store.scalar("SELECT params FROM runs WHERE id = ?", (
        runs[arm]["refine" if arm == "bare" else "draft"],)))["constrained"]
        for arm in ("base", "instruct", "bare")}
    assert constrained == {"base": False, "instruct": False, "bare": True}
    data = compare_measures.report(store, gsm8k, plan.comparison)
    assert [row[3] for row in compare_report.rows(data)] == ["no", "no", "yes"]


ARM = {"constrained": False, "ir_unread": 0, "drifted": None}
REPORT = {
    "comparison": 2, "task": "gsm8k", "recipe_sha256": "ab" * 32, "n": 32,
    "params": {"rng_seed": 7, "trials": 1, "judge": None, "constrain": "none"},
    "created_at": 1796000000.0,
    "embedding_model": "all-MiniLM-L6-v2", "seeds_similarity": 0.4301, "chance": 0.75,
    "arms": [
        {**ARM, "arm": "base", "model": "gemma3-270m", "model_sha256": "a5" * 32,
         "temperature": 0.7, "made": 32, "parsed": 27, "passing": 19, "verified": 12,
         "verified_interval": [0.28, 0.63], "similarity": 0.3512,
         "similarity_interval": {"value": 0.3512, "low": 0.331, "high": 0.372, "se": 0.01},
         "ir": 0.52, "ir_interval": [0.34, 0.69], "ir_trials": 27, "tokens_per_s": 9.1,
         "wall_s": 410.0},
        {**ARM, "arm": "instruct", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
         "temperature": 1.0, "made": 32, "parsed": 30, "passing": 21, "verified": 20,
         "verified_interval": [0.49, 0.81], "similarity": 0.4123,
         "similarity_interval": {"value": 0.4123, "low": 0.389, "high": 0.436, "se": 0.012},
         "ir": 0.4, "ir_interval": [0.25, 0.58], "ir_trials": 30, "tokens_per_s": 14.2,
         "wall_s": 233.0},
        {**ARM, "arm": "bare", "model": "smollm2-135m-instruct", "model_sha256": "b1" * 32,
         "temperature": 0.7, "made": 27, "parsed": 27, "passing": 25, "verified": 18,
         "verified_interval": [0.48, 0.81], "similarity": 0.3656,
         "similarity_interval": {"value": 0.3656, "low": 0.344, "high": 0.387, "se": 0.011},
         "ir": 0.48, "ir_interval": [0.31, 0.66], "ir_trials": 27, "tokens_per_s": 15.0,
         "wall_s": 260.0}],
    "histograms": {
        "base": {"edges": [i / 10 for i in range(-2, 11)],
                 "counts": [0, 2, 10, 40, 90, 110, 80, 40, 20, 5, 3, 1]},
        "instruct": {"edges": [i / 10 for i in range(-2, 11)],
                     "counts": [0, 0, 3, 20, 60, 120, 110, 70, 40, 20, 5, 2]},
        "bare": {"edges": [i / 10 for i in range(-2, 11)],
                 "counts": [0, 1, 8, 35, 85, 115, 85, 45, 22, 6, 2, 1]}},
    "differences": {
        "bare-instruct similarity": {"value": -0.0468, "low": -0.078, "high": -0.015,
                                     "se": 0.016, "items_to_separate": 24},
        "base-instruct similarity": {"value": -0.0611, "low": -0.093, "high": -0.029,
                                     "se": 0.016, "items_to_separate": 14},
        "bare-instruct IR": {"value": 0.08, "low": -0.17, "high": 0.32, "se": 0.13,
                             "items_to_separate": 832},
        "base-bare IR paired": {"pairs": 27, "first_only": 3, "second_only": 2,
                                "p_value": 1.0}},
    "judge": {"protocol": "paper", "model": "qwen2.5-7b-instruct", "model_sha256": "c3" * 32,
              "pool": "gsm8k-train (7,273 real items, 200 equal to the task's seeds left out)",
              "self_judged": [], "positions": [22, 21, 20, 21], "positions_p": 0.99,
              "calibration": {"trials": 16, "read": 16, "ir": 0.69,
                              "interval": [0.44, 0.86]}},
}


def _with(report, key, **changes):
    return {**report, "differences": {**report["differences"],
                                      key: {**report["differences"][key], **changes}}}


def test_the_verdicts_say_better_worse_or_cannot_tell():
    verdicts = compare_report.verdicts(REPORT)
    assert verdicts[0] == ("BARE is more diverse than instruct-only: similarity 0.366 vs "
                           "0.412, difference \u22120.047, 95% interval \u22120.078 to "
                           "\u22120.015.")
    assert verdicts[1].startswith("Base drafts are more diverse than instruct-only: "
                                  "similarity 0.351 vs 0.412")
    assert verdicts[2] == ("The data cannot tell whether BARE's items pass the judge more or "
                           "less often than instruct-only's: IR 48% vs 40%, difference +8 "
                           "points, 95% interval \u221217 to +32, which holds 0.")
    assert verdicts[3] == ("The data cannot tell whether refining changed IR: 27 drafts and "
                           "their refinements in the same lineups; 2 passed only refined, 3 "
                           "only as drafts; McNemar exact p = 1.000.")
    worse = _with(REPORT, "bare-instruct similarity", value=0.03, low=0.01, high=0.05)
    assert compare_report.verdicts(worse)[0].startswith(
        "BARE is less diverse than instruct-only: similarity 0.366 vs 0.412, difference "
        "+0.030, 95% interval +0.010 to +0.050")
    unsure = _with(REPORT, "bare-instruct similarity", low=-0.06, high=0.01)
    assert compare_report.verdicts(unsure)[0].startswith(
        "The data cannot tell whether BARE is more or less diverse than instruct-only")
    better = _with(REPORT, "bare-instruct IR", value=0.3, low=0.1, high=0.45)
    assert compare_report.verdicts(better)[2].startswith(
        "BARE's items pass the judge more often than instruct-only's: IR 48% vs 40%")
    lower = _with(REPORT, "bare-instruct IR", value=-0.3, low=-0.45, high=-0.1)
    assert "pass the judge less often" in compare_report.verdicts(lower)[2]
    raised = _with(REPORT, "base-bare IR paired", first_only=1, second_only=11,
                   p_value=0.0063)
    assert compare_report.verdicts(raised)[3].startswith("Refining raised IR: 27 drafts")


def test_the_warnings_name_size_self_judging_calibration_and_places():
    warnings = compare_report.warnings(REPORT)
    assert warnings[0] == (
        "Only 32 items per arm (fewer than 200): intervals are wide; at the gaps observed, "
        "about 24 per arm would separate BARE from instruct-only on similarity; about 832 "
        "per arm would separate BARE from instruct-only on IR; about 14 per arm would "
        "separate base drafts from instruct-only on similarity (95% interval clear of 0, "
        "80% power).")
    assert warnings[1] == ("Calibration: shown 16 real items among real ones, the judge gave "
                           "IR 69% (95% 44%-86%); 75% is expected, and the interval holds it.")
    assert warnings[2] == ("Places the judge named (each 25% when it has no favourite): 1: 22, "
                           "2: 21, 3: 20, 4: 21; no sign of a favourite place (chi-square "
                           "p = 0.99).")
    own = {**REPORT, "judge": {**REPORT["judge"], "self_judged": ["instruct", "bare"],
                               "positions": [40, 10, 8, 6], "positions_p": 0.0001}}
    warnings = compare_report.warnings(own)
    assert warnings[0].startswith("Self-judged: the judge (qwen2.5-7b-instruct) wrote or "
                                  "refined the instruct, bare arm(s)")
    assert "it favours a place (chi-square p = 0.000)" in warnings[-1]
    assert compare_report.heading(own) == ("Comparison 2: task gsm8k, 32 items per arm "
                                           "(self-judged)")
    text = compare_report.markdown(own)
    assert text.startswith("# Comparison 2: task gsm8k, 32 items per arm (self-judged)\n\n"
                           "BARE is more diverse than instruct-only")
    assert "protocol paper" in text and "from gsm8k-train (7,273 real items" in text
    assert "not its fine-tuning results" in text
    chart = compare_report.positions_chart(own)
    assert chart[1].split() == ["1", "62%", "#" * 30, "40"]
    assert chart[4].split() == ["4", "9%", "#" * 4, "6"]
    assert "Places the judge named in its lineups:\n\n```\nplace  share  answers" in text


def test_a_report_saved_by_an_earlier_version_still_reads():
    """Reports saved before intervals and the judge's section existed open as they are."""
    old = {key: value for key, value in REPORT.items() if key not in ("differences", "judge")}
    old["arms"] = [{key: value for key, value in arm.items() if key not in (
        "constrained", "verified", "verified_interval", "similarity_interval")}
        for arm in REPORT["arms"]]
    assert compare_report.verdicts(old) == []
    assert compare_report.heading(old) == "Comparison 2: task gsm8k, 32 items per arm"
    assert compare_report.rows(old, models=False)[0][1:8] == [
        "-", "32", "84%", "59%", "-", "0.351", "52% (34-69)"]
    assert "protocol strict" in compare_report.markdown(old)


def test_the_report_says_which_way_the_numbers_went():
    lines = compare_report.findings(REPORT)
    assert lines[0].startswith("Refining moved the mean similarity from 0.3512 (base) to "
                               "0.3656 (bare).")
    assert lines[-1] == "IR (chance is 75%): base 52%, instruct 40%, bare 48%."
    histogram = compare_report.histogram(REPORT)
    assert histogram[0].split() == ["similarity", "base", "instruct", "bare"]
    row = compare_report.rows(REPORT, models=False)[0]
    assert row[5:8] == ["44% (28-63)", "0.351 (0.331-0.372)", "52% (34-69)"]


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
        # The verdicts open the view, and the table carries the intervals.
        verdicts = str(app.screen.query_one("#verdicts").render())
        assert verdicts.startswith("BARE is more diverse than instruct-only: similarity "
                                   "0.366 vs 0.412")
        assert "which holds 0" in verdicts
        assert [str(cell) for cell in table.get_row_at(0)][5:8] == [
            "44% (28-63)", "0.351 (0.331-0.372)", "52% (34-69)"]
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
        for arm in REPORT["arms"]], "differences": {
        key: gap for key, gap in REPORT["differences"].items() if "similarity" in key}}
    said = compare_report.verdicts(unread)
    assert said[2:] == [
        "The data cannot tell whether BARE's items pass the judge more often than "
        "instruct-only's: the judge's replies on the instruct and bare arms could not be read.",
        "The data cannot tell whether refining changed IR: the judge's replies on the base "
        "and bare arms could not be read."]
    found = compare_report.findings(unread)
    assert not any(line.startswith("IR (chance") for line in found)
    assert found[-1] == ("No IR for the bare arm: the judge's 27 replies could not be read "
                         "(none ends with 'Answer: N'); a judge that small cannot follow the "
                         "format: name a stronger one with --judge FILE.gguf or "
                         "--judge-server URL.")
    assert [row[9] for row in compare_report.rows(unread)] == ["unread"] * 3
    assert "No IR for the base arm" in compare_report.markdown(unread)


@pytest.mark.models
def test_compare_on_the_embedded_models(tmp_path):
    db = str(tmp_path / "w.db")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                   "--db", db).returncode == 0
    out = tmp_path / "report"
    # A seed whose drafts parse, so that every arm has items (the bare arm refines only
    # drafts that parse).
    result = run_cli("compare", "--db", db, "-n", "2", "--max-tokens", "80",
                     "--judge-max-tokens", "24", "--rng-seed", "5", "--out", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert [arm["arm"] for arm in data["arms"]] == ["base", "instruct", "bare"]
    assert data["arms"][0]["model"] == "gemma3-270m"
    assert data["arms"][1]["model"] == "smollm2-135m-instruct"
    assert data["arms"][0]["made"] == data["arms"][1]["made"] == data["arms"][2]["made"] == 2
    assert "| arm | model |" in out.with_suffix(".md").read_text()
    said = " ".join(result.stdout.split())
    assert "Comparison 1: task gsm8k, 2 items per arm (self-judged)" in said
    assert "Only 2 items per arm (fewer than 200): intervals are wide" in said
    assert "protocol paper" in said and "from gsm8k-train (7,273 real items" in said
    assert "warning: the judge is the model that writes the instruct and bare arm(s)" in \
        " ".join(result.stderr.split())
    assert all(arm["constrained"] is False for arm in data["arms"])
    with Store(Path(db)) as store:
        assert review_list.candidate_ids(store, "gsm8k") == []  # out of the queue
        saved = compare.latest(store, "gsm8k")
    assert saved is not None and saved[0]["comparison"] == 1
    exported = run_cli("export", str(tmp_path / "x.jsonl"), "--db", db, "--status", "any",
                       "--no-embed")
    assert exported.returncode == 0 and "wrote 0 items" in exported.stdout


def test_compare_refuses_the_stage_grammar_flags_for_its_own(tmp_path):
    result = run_cli("compare", "--db", str(tmp_path / "w.db"), "-n", "4", "--no-constrain")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: compare chooses the arms under grammar with --constrain none|refine|all "
        "(default none, as in the paper); --no-constrain and --constrain-drafts are for run, "
        "draft and refine")
    assert not (tmp_path / "w.db").exists()
