"""Hostile data and arguments, second pass (F1-F6, F17, F19, F23, F25 and what was seen
beside them): each is imported, refused in one line, or shown, never a traceback, and
nothing is lost."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from bare_tui.core.datasets.dataset_import import import_candidates
from bare_tui.core.inputs import recipes, splits, validation
from bare_tui.core.inputs.seeds import import_seeds, read_seeds
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, run_cli

QUESTION = "Ann has 2 pens and buys 3. How many pens?"
ANSWER = "2 + 3 = 5\n#### 5"


def one_line_error(result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def csv_file(path: Path, question: str) -> Path:
    path.write_text('question,answer\n"' + question.replace('"', '""') + '","'
                    + ANSWER + '"\n', encoding="utf-8")
    return path


# --- F1: a CSV field over 128 KiB ----------------------------------------------------------

@pytest.mark.parametrize("command", ["seeds", "candidates"])
def test_f1_a_csv_field_over_128_kib_imports_like_jsonl(tmp_path, command):
    big = "How many? " + "x" * 200_000
    path = csv_file(tmp_path / "big.csv", big)
    db = tmp_path / "w.db"
    result = run_cli(command, "import", str(path), "--task", "gsm8k", "--db", str(db))
    assert result.returncode == 0, result.stderr
    table = "seeds" if command == "seeds" else "candidates"
    with sqlite3.connect(db) as conn:
        stored = [json.loads(r[0])["question"] for r in conn.execute(f"SELECT fields FROM {table}")]
    assert stored == [big]


# --- F2: half an emoji ------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["seeds", "candidates"])
def test_f2_a_lone_surrogate_is_one_line_naming_the_record(tmp_path, command):
    path = tmp_path / "scraped.jsonl"
    path.write_text(json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n"
                    + '{"question": "Half an emoji \\ud83d here?", "answer": "#### 1"}\n')
    db = tmp_path / "w.db"
    line = one_line_error(run_cli(command, "import", str(path), "--task", "gsm8k",
                                  "--db", str(db)))
    assert "scraped.jsonl:2: field 'question' holds half of a character" in line
    assert not db.exists()  # nothing imported: not even the workspace the command made


# --- F3: a file name that is not UTF-8 -------------------------------------------------------

@pytest.mark.parametrize("command", ["seeds", "candidates"])
def test_f3_a_file_name_that_is_not_utf8_imports_and_is_stored_escaped(tmp_path, command):
    folder = os.fsencode(tmp_path)
    raw = folder + b"/caf\xe9.jsonl"
    with open(raw, "w") as handle:
        handle.write(json.dumps({"question": QUESTION, "answer": ANSWER}) + "\n")
    db = tmp_path / "w.db"
    result = run_cli(command, "import", os.fsdecode(raw), "--task", "gsm8k", "--db", str(db))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        if command == "seeds":
            (source,) = conn.execute("SELECT source FROM seeds").fetchone()
            assert source.endswith("caf\\xe9.jsonl:1")
        else:
            (origin,) = conn.execute("SELECT origin FROM candidates").fetchone()
            assert json.loads(origin)["file"].endswith("caf\\xe9.jsonl")
            (params,) = conn.execute("SELECT params FROM runs").fetchone()
            assert json.loads(params)["file"].endswith("caf\\xe9.jsonl")


# --- F4: an integer of thousands of digits --------------------------------------------------

@pytest.mark.parametrize("command", ["seeds", "candidates"])
def test_f4_a_json_integer_of_5000_digits_is_one_line(tmp_path, command):
    path = tmp_path / "big.jsonl"
    path.write_text('{"question": "q?", "answer": ' + "9" * 5000 + "}\n")
    line = one_line_error(run_cli(command, "import", str(path), "--task", "gsm8k",
                                  "--db", str(tmp_path / "w.db")))
    assert "big.jsonl:1: Exceeds the limit" in line


# --- F5: a role that is a list -----------------------------------------------------------------

@pytest.mark.parametrize("record", [
    {"messages": [{"role": ["user"], "content": "x"}, {"role": {"a": 1}, "content": "y"}]},
    {"conversations": [{"from": ["human"], "value": "x"}, {"from": None, "value": "y"}]},
])
def test_f5_a_chat_role_that_is_a_list_is_one_line(tmp_path, record):
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps(record) + "\n")
    line = one_line_error(run_cli("candidates", "import", str(path), "--task", "gsm8k",
                                  "--db", str(tmp_path / "w.db")))
    assert "chat.jsonl:1: the record's turns" in line


def test_an_unpacked_chat_record_is_named_by_what_it_has(store, gsm8k, tmp_path):
    """Also seen: the message named fields the record never had."""
    path = tmp_path / "chat.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "no template"}]})
                    + "\n")
    with pytest.raises(BareError) as caught:
        import_candidates(store, gsm8k, path)
    message = str(caught.value)
    assert "(it has: 'messages')" in message and "field 'answer'" in message


# --- F6: bytes that are not UTF-8 in arguments and the environment ---------------------------

@pytest.fixture
def reviewed_db(tmp_path) -> Path:
    from conftest import make_review_workspace

    return make_review_workspace(tmp_path / "w.db")


@pytest.mark.parametrize("option", ["--reason", "--reviewer"])
def test_f6_non_utf8_text_options_are_one_line(reviewed_db, option):
    bad = os.fsdecode(b"caf\xe9")
    line = one_line_error(run_cli("reject", "1", option, bad, "--db", str(reviewed_db)))
    assert f"{option} is not UTF-8 text" in line
    with sqlite3.connect(reviewed_db) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_f6_non_utf8_licence_is_one_line(reviewed_db, tmp_path):
    line = one_line_error(run_cli("export", str(tmp_path / "out.jsonl"), "--status", "any",
                                  "--license", os.fsdecode(b"mit\xff"), "--db",
                                  str(reviewed_db)))
    assert "--license is not UTF-8 text" in line
    assert not (tmp_path / "out.jsonl").exists()


def test_f6_a_non_utf8_export_path_writes_that_file_and_stores_it_escaped(reviewed_db,
                                                                         tmp_path):
    target = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.jsonl")
    result = run_cli("export", target, "--status", "any", "--profile", "fields", "--db",
                     str(reviewed_db))
    assert result.returncode == 0, result.stderr
    assert os.path.exists(target) and "caf\\xe9.jsonl" in result.stdout
    with sqlite3.connect(reviewed_db) as conn:
        (path,) = conn.execute("SELECT path FROM exports").fetchone()
    assert path.endswith("caf\\xe9.jsonl")


def test_f6_non_utf8_reviewer_in_the_environment_is_one_line(reviewed_db):
    env = {"BARE_TUI_REVIEWER": os.fsdecode(b"mall\xf6ry")}
    line = one_line_error(run_cli("accept", "1", "--db", str(reviewed_db), env=env))
    assert "$BARE_TUI_REVIEWER: reviewer is not UTF-8 text" in line


def test_f6_a_latin1_login_still_decides(reviewed_db):
    """$USER of a Latin-1 login: decisions are stored under its name, escaped."""
    result = run_cli("accept", "1", "--db", str(reviewed_db),
                     env={"USER": os.fsdecode(b"Jos\xe9")})
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(reviewed_db) as conn:
        assert conn.execute("SELECT reviewer FROM events").fetchall() == [("Jos\\xe9",)]


# --- F17: a FIFO named *.gguf ------------------------------------------------------------------

def test_f17_a_fifo_named_gguf_is_skipped(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    os.mkfifo(models / "trap.gguf")
    result = run_cli("models", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "trap" not in result.stdout and "gemma" in result.stdout.lower()


# --- F19: a decision without a reviewer, a negative schema version ------------------------------

def test_f19_status_by_reviewer_with_a_null_reviewer(reviewed_db):
    assert run_cli("accept", "1", "--reviewer", "alice", "--db", str(reviewed_db)
                   ).returncode == 0
    assert run_cli("reject", "2", "--reviewer", "bob", "--db", str(reviewed_db)
                   ).returncode == 0
    with sqlite3.connect(reviewed_db) as conn:
        conn.execute("UPDATE events SET reviewer = NULL WHERE candidate_id = 2")
        conn.execute("UPDATE decisions SET reviewer = NULL WHERE candidate_id = 2")
    result = run_cli("status", "--by-reviewer", "--db", str(reviewed_db))
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout and "(unnamed)" in result.stdout


def test_f19_a_negative_schema_version_is_one_line(tmp_path):
    db = tmp_path / "w.db"
    with Store(db):
        pass
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = -3")
    line = one_line_error(run_cli("status", "--db", str(db)))
    assert "its schema version is -3" in line


# --- F23: a recipe update that adds a field the export uses -----------------------------------

def test_f23_a_field_added_by_a_recipe_update_is_missing_not_a_traceback(reviewed_db,
                                                                        tmp_path):
    source = recipes.builtin_source("gsm8k") or ""
    source = source.replace('user = "', 'user = "[{difficulty}] ', 1)
    source += ('\n[[fields]]\nname = "difficulty"\nlabel = "Difficulty"\n'
               'checks = ["nonempty"]\n')
    recipe = tmp_path / "gsm8k.toml"
    recipe.write_text(source)
    assert "{difficulty}" in source
    assert run_cli("accept", "1", "--db", str(reviewed_db)).returncode == 0
    result = run_cli("export", str(tmp_path / "out.jsonl"), "--task", str(recipe),
                     "--update-recipe", "--db", str(reviewed_db))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "1 invalid" in result.stdout or "invalid: 1" in result.stdout or \
        "failing" in result.stdout, result.stdout
    assert (tmp_path / "out.jsonl").read_text() == ""
    included = run_cli("export", str(tmp_path / "all.jsonl"), "--task", str(recipe),
                       "--include-invalid", "--db", str(reviewed_db))
    assert included.returncode == 0, included.stderr
    row = json.loads((tmp_path / "all.jsonl").read_text().splitlines()[0])
    assert row["messages"][-2]["content"].startswith("[] ")


def test_f23_validation_names_a_missing_field(gsm8k):
    assert validation.validate(gsm8k, {"question": "q?"}) == ["answer: is missing"]


# --- F25: a pattern with nested repetition ----------------------------------------------------

def test_f25_a_catastrophic_pattern_is_bounded(store, tmp_path):
    source = (recipes.builtin_source("gsm8k") or "").splitlines()
    at = next(i for i, line in enumerate(source) if line.startswith("pattern = "))
    source[at] = "pattern = '^(a|aa)+$'"
    task = recipes.parse_recipe("\n".join(source))
    started = time.monotonic()
    problems = validation.validate(task, {"question": "q?", "answer": "a" * 60 + "!"})
    assert time.monotonic() - started < 5  # unbounded, this takes longer than the universe
    assert problems and "was not checked against" in problems[0]
    assert validation.validate(task, {"question": "q?", "answer": "aaaa"}) == []


# --- also seen ---------------------------------------------------------------------------------

def test_split_names_that_differ_only_in_case_are_refused():
    with pytest.raises(BareError, match="differ only in case"):
        splits.parse("train=0.5,Train=0.5")


def test_agreement_limit_must_not_be_negative(reviewed_db):
    result = run_cli("agreement", "--limit", "-3", "--db", str(reviewed_db))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_seeds_of_a_big_csv_read_back_whole(tmp_path, gsm8k):
    path = csv_file(tmp_path / "s.csv", "q" * 300_000)
    ((fields, where),) = read_seeds(path, gsm8k).records
    assert len(fields["question"]) == 300_000 and where.endswith("s.csv:3")


def test_import_with_surrogates_keeps_earlier_imports(store, gsm8k, tmp_path):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    path = tmp_path / "x.jsonl"
    path.write_text('{"question": "\\udc80?", "answer": "#### 1"}\n')
    with pytest.raises(BareError):
        import_candidates(store, gsm8k, path)
    assert store.scalar("SELECT count(*) FROM seeds") == 200


def test_moving_onto_an_item_held_elsewhere_gives_up_the_one_left_behind(review_db):
    """Also seen: teammates skipped an item nobody was looking at."""
    from bare_tui.core.reviewing import leases

    with Store(review_db) as store:
        leases.join(store, "window-a", "alice", "gsm8k")
        leases.join(store, "window-b", "bob", "gsm8k")
        assert leases.claim(store, "window-a", 1) is None
        assert leases.claim(store, "window-b", 2) is None
        assert leases.holders(store, "window-a", [2]) == {2: "bob"}
        assert leases.claim(store, "window-b", 1) == "alice"  # held: bob moved onto it
        assert leases.holders(store, "window-a", [1, 2]) == {}
        assert leases.holders(store, "window-b", [1, 2]) == {1: "alice"}
