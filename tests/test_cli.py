"""The real `bare-tui` command in a subprocess: help, one-line errors, scripted review."""

from pathlib import Path

import pytest

from conftest import GSM8K_SEEDS, run_cli


def one_line_error(result, *fragments: str) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_help_lists_commands_and_every_command_has_examples():
    import argparse

    from bare_tui.cli import build_parser

    result = run_cli("--help")
    assert result.returncode == 0
    commands = next(action for action in build_parser()._actions
                    if isinstance(action, argparse._SubParsersAction)).choices
    assert {"demo", "seeds", "draft", "run", "export", "judge", "embed"} <= set(commands)
    for command, parser in commands.items():
        assert command in result.stdout
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        words = [command, next(iter(groups[0].choices))] if groups else [command]
        sub = run_cli(*words, "--help")
        assert sub.returncode == 0 and "examples:\n  bare-tui" in sub.stdout, words


def test_malformed_seed_files_report_file_and_line(tmp_path: Path):
    db = str(tmp_path / "w.db")
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"question": "q", "answer": "a"}\n{"question": oops}\n')
    one_line_error(run_cli("seeds", "import", str(bad), "--task", "gsm8k", "--db", db),
                   f"{bad}:2: invalid JSON")
    csv = tmp_path / "seeds.csv"
    csv.write_text("question,answer\nq,a\nq2\n")
    one_line_error(run_cli("seeds", "import", str(csv), "--task", "gsm8k", "--db", db),
                   f"{csv}:3: missing field 'answer'")
    status = run_cli("status", "--db", db, "--task", "gsm8k")
    # nothing half-imported: the failed first imports did not even leave a workspace
    assert status.returncode == 1 and "no workspace at" in status.stderr


def test_unknown_task(tmp_path: Path):
    db = str(tmp_path / "w.db")
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", db)
    one_line_error(run_cli("status", "--task", "nope", "--db", db),
                   "unknown task 'nope'", "gsm8k")


@pytest.mark.parametrize("command", [("status",), ("export", "x.jsonl"), ("accept", "1"),
                                     ("undo",), ("refine",), ("stats",)])
def test_commands_that_only_read_never_create_a_workspace(tmp_path: Path, command):
    """In an empty folder, they say there is none and how to make one."""
    one_line_error(run_cli(*command, cwd=tmp_path), "no workspace at data/bare.db",
                   "`bare-tui demo`", "seeds import")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [None, b"plain text", b"GGUF\x03\x00\x00\x00\x01"])
def test_missing_or_non_gguf_model(tmp_path: Path, content):
    db = str(tmp_path / "w.db")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                   "--db", db).returncode == 0
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    result = run_cli("draft", "-n", "1", "--db", db, "--base", str(model))
    expected = {None: "base model not found", b"plain text": "is not a GGUF file"}
    one_line_error(result, expected.get(content, "corrupt or truncated GGUF file"))


def test_unwritable_export_path(tmp_path: Path):
    db = str(tmp_path / "w.db")
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", db)
    one_line_error(run_cli("export", "/sys/nope.jsonl", "--db", db), "cannot write")
    one_line_error(run_cli("export", str(tmp_path / "no" / "x.jsonl"), "--db", db),
                   "does not exist")


def test_decisions_on_unknown_ids_and_bad_flags(tmp_path: Path):
    db = str(tmp_path / "w.db")
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", db)
    one_line_error(run_cli("accept", "5", "--db", db), "no candidate with id 5")
    one_line_error(run_cli("draft", "--db", db, "--task", "gsm8k"), "-n N")
    result = run_cli("draft", "-n", "x")
    assert result.returncode == 2 and "expected a whole number, got 'x'" in result.stderr


@pytest.mark.parametrize("flags, says", [
    (("run", "-n", "-5"), "argument -n: must be at least 0, got -5"),
    (("draft", "-n", "3", "--parallel", "0"), "argument --parallel: must be at least 1, got 0"),
    (("run", "-n", "3", "--parallel", "-3"), "argument --parallel: must be at least 1, got -3"),
    (("draft", "--more", "-1"), "argument --more: must be at least 0"),
    (("draft", "-n", "3", "--concurrency", "0"), "argument --concurrency: must be at least 1"),
    (("draft", "-n", "3", "--max-tokens", "0"), "argument --max-tokens: must be at least 1"),
])
def test_negative_counts_and_parallel_get_one_line_errors(tmp_path: Path, flags, says):
    result = run_cli(*flags, "--db", str(tmp_path / "w.db"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "w.db").exists()


def test_parallel_zero_in_config_or_environment_is_refused(tmp_path: Path):
    one_line_error(run_cli("draft", "-n", "1", "--db", str(tmp_path / "w.db"),
                           env={"BARE_TUI_PARALLEL": "0"}), "parallel must be between 1 and")


def test_sampling_defaults_of_the_demo_stay_the_demos():
    from bare_tui.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["demo"]).max_tokens == 300
    for command in ("run", "draft", "refine"):
        assert parser.parse_args([command]).max_tokens is None


@pytest.mark.models
def test_a_recipes_sampling_reaches_runs_params_in_every_command(tmp_path: Path):
    """With no flag given, `draft`, `refine` and `run` sample with the recipe's own
    values, and record them."""
    import json

    from test_integration import readme_recipe

    from bare_tui.core.workspace.store import Store

    recipe, seeds = readme_recipe()
    recipe = recipe.replace("[base]", "[base]\ntemperature = 0.9").replace(
        "max_tokens = 200", "max_tokens = 23", 1).replace("max_tokens = 200", "max_tokens = 31")
    (tmp_path / "trivia.toml").write_text(recipe)
    (tmp_path / "trivia.jsonl").write_text(seeds)
    db = ["--db", str(tmp_path / "w.db"), "--task", "trivia"]
    assert run_cli("seeds", "import", str(tmp_path / "trivia.jsonl"), "--task",
                   str(tmp_path / "trivia.toml"), "--db", str(tmp_path / "w.db")).returncode == 0
    for command in (["draft", "-n", "1"], ["refine", "--refine-unparsed"],
                    ["run", "-n", "2", "--refine-unparsed"]):
        result = run_cli(*command, *db)
        assert result.returncode == 0, result.stderr
    with Store(tmp_path / "w.db") as store:
        runs = [(r["kind"], json.loads(r["params"])["sampling"])
                for r in store.query("SELECT kind, params FROM runs ORDER BY id")]
    # (a draft with no text at all is not refined, so a refine run may be missing)
    assert [kind for kind, _ in runs if kind == "draft"] == ["draft", "draft"]
    assert "refine" in [kind for kind, _ in runs]
    for kind, sampling in runs:
        assert (sampling["temperature"], sampling["max_tokens"]) == (
            (0.9, 23) if kind == "draft" else (0.7, 31)), (kind, sampling)


def test_config_file_and_environment(tmp_path: Path):
    config = tmp_path / "bare-tui.toml"
    config.write_text('[workspace]\ndb = "from-config.db"\n')
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", cwd=tmp_path)
    assert (tmp_path / "from-config.db").is_file()
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", cwd=tmp_path,
            env={"BARE_TUI_DB": str(tmp_path / "env.db")})
    assert (tmp_path / "env.db").is_file()
    config.write_text("[models]\nctx = 'big'\n")
    one_line_error(run_cli("status", cwd=tmp_path), "models.ctx: expected a whole number")


def test_refine_reports_the_unparsed_drafts_it_skips(tmp_path: Path):
    from bare_tui.core.generation import pipeline
    from bare_tui.core.inputs import recipes
    from bare_tui.core.inputs.seeds import import_seeds
    from bare_tui.core.workspace.store import Store
    from conftest import GOOD_DRAFT, ScriptedBackend

    db = tmp_path / "w.db"
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, GSM8K_SEEDS)
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT, "no labels"]), 2)
        pipeline.refine(store, task, ScriptedBackend([GOOD_DRAFT]))
    result = run_cli("refine", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert ("refine: 1 drafts that did not parse were not refined (as in the paper: refining "
            "them would write new items from scratch); --refine-unparsed refines their raw "
            "text") in result.stderr


def test_each_stage_has_its_own_sampling_flags():
    from bare_tui.cli import build_parser
    from bare_tui.cli.generation import overrides
    from bare_tui.core.inputs import recipes

    text = run_cli("run", "--help").stdout
    for flag in ("--draft-temperature", "--refine-temperature", "--draft-max-tokens",
                 "--refine-max-tokens", "--max-tokens", "--refine-unparsed", "--no-constrain",
                 "--constrain-drafts"):
        assert flag in text
    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    args = build_parser().parse_args(["run", "--temperature", "1.1", "--max-tokens", "50",
                                      "--refine-max-tokens", "400"])
    assert overrides(task.base, args, "draft").temperature == 1.1
    assert overrides(task.refine, args, "refine").temperature == 0.7  # the paper's
    assert overrides(task.base, args, "draft").max_tokens == 50
    assert overrides(task.refine, args, "refine").max_tokens == 400
    # The grammar holds refinements and leaves drafts free unless the flags say otherwise.
    assert overrides(task.refine, args, "refine").constrain
    assert not overrides(task.base, args, "draft").constrain
    flipped = build_parser().parse_args(["run", "--no-constrain", "--constrain-drafts"])
    assert not overrides(task.refine, flipped, "refine").constrain
    assert overrides(task.base, flipped, "draft").constrain


@pytest.mark.models
def test_stage_sampling_reaches_each_runs_params(tmp_path: Path):
    import json

    from bare_tui.core.workspace.store import Store

    db = str(tmp_path / "w.db")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                   "--db", db).returncode == 0
    result = run_cli("run", "-n", "1", "--draft-temperature", "1.2", "--max-tokens", "8",
                     "--refine-max-tokens", "12", "--refine-unparsed", "--constrain-drafts",
                     "--db", db)
    assert result.returncode == 0, result.stderr
    with Store(db) as store:
        runs = {r["kind"]: json.loads(r["params"])
                for r in store.query("SELECT kind, params FROM runs")}
    params = {kind: run["sampling"] for kind, run in runs.items()}
    assert (params["draft"]["temperature"], params["draft"]["max_tokens"]) == (1.2, 8)
    assert (params["refine"]["temperature"], params["refine"]["max_tokens"]) == (0.7, 12)
    # Whether output was constrained, and how the reply was opened, are in each run.
    assert runs["draft"]["constrained"] and runs["refine"]["constrained"]
    assert runs["refine"]["reply_start"] == "Question:\n"
    assert params["refine"]["grammar"].startswith("root ::= value-0")


def test_accepting_a_draft_that_fails_its_checks_says_export_leaves_it_out(tmp_path):
    from conftest import make_review_workspace

    db = str(make_review_workspace(tmp_path / "r.db"))  # #2's draft fails its checks
    done = run_cli("accept", "2", "--draft", "--db", db)
    assert done.returncode == 0 and "accepted (draft): 2" in done.stdout
    warning = " ".join(done.stderr.split())
    assert "warning: #2's draft fails its checks (answer:" in warning
    assert "every export leaves it out" in warning and "--include-invalid" in warning
    quiet = run_cli("accept", "1", "--db", db)  # a usable one: no word
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


def test_a_failed_first_command_leaves_no_workspace(tmp_path):
    db = tmp_path / "new.db"
    failed = run_cli("seeds", "import", str(tmp_path / "missing.jsonl"), "--task", "gsm8k",
                     "--db", str(db))
    assert failed.returncode == 1 and "missing.jsonl" in failed.stderr
    assert not db.exists() and not list(tmp_path.glob("new.db*"))
    done = run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", str(db))
    assert done.returncode == 0 and db.exists()
    again = run_cli("seeds", "import", str(tmp_path / "missing.jsonl"), "--task", "gsm8k",
                    "--db", str(db))
    assert again.returncode == 1 and db.exists()  # a workspace it did not make stays


def test_skip_invalid_from_the_command_line_lists_the_lines_left_out(tmp_path):
    data = tmp_path / "items.csv"
    data.write_text("problem,solution\nTom has 2 pens. How many?,#### 2\n,#### 3\n"
                    "Ann has 4 cats. How many?,#### 4\n")
    db = str(tmp_path / "w.db")
    strict = run_cli("candidates", "import", str(data), "--task", "gsm8k", "--db", db,
                     "--map", "question=problem", "--map", "answer=solution")
    one_line_error(strict, f"{data}:3: field 'problem' is empty; --skip-invalid")
    lenient = run_cli("candidates", "import", str(data), "--task", "gsm8k", "--db", db,
                      "--map", "question=problem", "--map", "answer=solution",
                      "--skip-invalid")
    assert lenient.returncode == 0, lenient.stderr
    assert "imported 2 candidates into task gsm8k" in lenient.stdout
    said = " ".join(lenient.stderr.split())
    assert f"left out 1 invalid record: {data}:3: field 'problem' is empty" in said


def test_tasks_takes_db_and_lists_the_workspaces_tasks(tmp_path):
    db = str(tmp_path / "w.db")
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db",
                   db).returncode == 0
    listed = run_cli("tasks", "--db", db)
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "│ gsm8k" in line or "│ reviews" in line]
    assert "workspace" in rows[0] and "built-in" in rows[1]
    shown = run_cli("tasks", "gsm8k", "--db", db)
    assert shown.returncode == 0 and shown.stdout.startswith("# Grade school math")
    one_line_error(run_cli("tasks", "--db", str(tmp_path / "none.db")), "no workspace at")
