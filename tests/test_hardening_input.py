"""Bad input of every kind ends in one line that says what is wrong, never a traceback:
seeds, recipes, config files, command-line numbers and GGUF metadata (item 11)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_cli import one_line_error
from test_recipes import MINIMAL as RECIPE

from bare_tui.core.datasets.export import shape
from bare_tui.core.generation import gguf
from bare_tui.core.inputs import recipes
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, run_cli


def recipe_error(text: str) -> str:
    with pytest.raises(BareError) as caught:
        recipes.parse_recipe(text, origin="r.toml")
    message = str(caught.value)
    assert message.startswith("r.toml: ") and "\n" not in message
    return message


# --- seeds ----------------------------------------------------------------------------------

def test_deeply_nested_json_in_seeds_is_one_line(tmp_path: Path):
    seeds = tmp_path / "deep.jsonl"
    seeds.write_text('{"question": "q", "answer": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    one_line_error(run_cli("seeds", "import", str(seeds), "--task", "gsm8k",
                           "--db", str(tmp_path / "w.db")), f"{seeds}:1: JSON nested too deeply")


def test_seed_column_name_with_escapes_is_echoed_cleaned(tmp_path: Path):
    seeds = tmp_path / "s.csv"
    seeds.write_text("\x1b]0;pwned\x07question,\x1b[2Janswer\nq,a\n")
    result = run_cli("seeds", "import", str(seeds), "--task", "gsm8k",
                     "--db", str(tmp_path / "w.db"))
    line = one_line_error(result, "missing field")
    assert "\x1b" not in result.stderr and "\\x1b]0;pwned\\x07question" in line


# --- recipes --------------------------------------------------------------------------------

def test_recipe_that_is_not_utf8_is_one_line(tmp_path: Path):
    path = tmp_path / "r.toml"
    path.write_bytes(RECIPE.encode().replace(b"Trivia", b"Tr\xffvia"))
    with pytest.raises(BareError, match="not UTF-8 text"):
        recipes.load_file(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: "shots = 3\n" + t, "shots: expected a table like [shots]"),
    (lambda t: t.replace('name = "answer"', 'name = "answer"\nmax_chars = "ten"'),
     "fields[1].max_chars: expected a whole number of at least 1, got the string 'ten'"),
    (lambda t: t.replace('name = "answer"', 'name = "answer"\nchecks = "n"'),
     "fields[1].checks: expected an array of strings, got the string 'n'"),
    (lambda t: t + '[export]\nuser = "{question} {"\nassistant = "{answer}"\n',
     "export.user: bad template"),
    (lambda t: t + '[export]\nuser = "{answer.__class__}"\nassistant = "{answer}"\n',
     "export.user: placeholder {answer.__class__} is not a plain {field}"),
    (lambda t: t + '[export]\nuser = "{answer[0]}"\nassistant = "{answer}"\n',
     "placeholder {answer[0]} is not a plain {field}"),
    (lambda t: t + '[export]\nuser = "{answer!r}"\nassistant = "{answer}"\n',
     "placeholder {answer!r} is not a plain {field}"),
    (lambda t: 'refine_instruction = "Fix the {thing.upper}"\n' + t,
     "refine_instruction: placeholder {thing.upper}"),
    (lambda t: t.replace('name = "trivia"', "name = 5"), "name: expected a non-empty string"),
    (lambda t: t + "[base]\ntemperature = \"hot\"\n", "base.temperature: expected a number"),
    (lambda t: t + "[base]\nstop = [1, 2]\n", "base.stop: expected a string or an array"),
    (lambda t: t[:t.index("[[fields]]")] + "fields = 3\n",
     "fields: expected a non-empty array of tables"),
    (lambda t: t + "[shots]\ncount = 99999999999999999\n", "shots.count: must be between"),
    (lambda t: t + "extra = 1\n", "extra: unknown key"),
])
def test_recipe_type_errors_are_readable(change, message):
    assert message in recipe_error(change(RECIPE))


def test_templates_fill_plain_fields_only():
    task = recipes.parse_recipe(RECIPE + '[export]\nuser = "Q: {question} {{literal}}"\n'
                              'assistant = "{answer}"\n')
    item = shape("chat", {"question": "2+2?", "answer": "{question.__class__}"}, task.export)
    assert item["messages"][0]["content"] == "Q: 2+2? {literal}"
    assert item["messages"][1]["content"] == "{question.__class__}"  # values are not templates


# --- config ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    ("workspace = 5\n", "workspace: expected a table like [workspace]"),
    ("keys = 5\n", "keys: expected a table like [keys]"),
    ("[keys]\naccept = 5\n", "keys.accept: expected a non-empty string, got the number 5"),
    ("[models]\nthreads = 1e9\n", "models.threads: expected a whole number"),
    ("[models]\nthread = 4\n", "models.thread: unknown key"),
    ("[server]\nconcurrency = 0\n", "server.concurrency: must be between 1 and"),
    ("[diversity]\nauto_embed = \"maybe\"\n", "diversity.auto_embed: expected true or false"),
])
def test_config_type_errors_are_one_line(tmp_path: Path, text: str, message: str):
    (tmp_path / "bare-tui.toml").write_text(text)
    one_line_error(run_cli("status", cwd=tmp_path), message)


def test_config_that_is_not_utf8_is_one_line(tmp_path: Path):
    (tmp_path / "bare-tui.toml").write_bytes(b"[workspace]\nreviewer = \"\xff\"\n")
    one_line_error(run_cli("status", cwd=tmp_path), "is not UTF-8 text")


# --- command-line numbers ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("accept", str(2**63)), ("reject", str(2**64)), ("draft", "-n", str(2**63)),
    ("draft", "--rng-seed", str(2**63)), ("draft", "--rng-seed", "-1"),
    ("draft", "--concurrency", "0"), ("draft", "--temperature", "nan"),
    ("draft", "--server-timeout", "0"),
])
def test_out_of_range_numbers_on_the_command_line_are_usage_errors(tmp_path: Path, args):
    result = run_cli(*args, "--db", str(tmp_path / "w.db"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "w.db").exists()


def test_largest_id_is_a_clear_not_found(tmp_path: Path):
    db = tmp_path / "w.db"
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k",
                   "--db", str(db)).returncode == 0
    one_line_error(run_cli("accept", str(2**63 - 1), "--db", str(db)),
                   f"no candidate with id {2**63 - 1}")


# --- GGUF metadata ------------------------------------------------------------------------------

def gguf_bytes(metadata: list[tuple[str, int, bytes]]) -> bytes:
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    out = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    for key, kind, value in metadata:
        out += string(key) + struct.pack("<I", kind) + value
    return out


def nested_array(depth: int) -> bytes:
    value = struct.pack("<IQ", 4, 1) + struct.pack("<I", 7)  # [uint32 7]
    for _ in range(depth):
        value = struct.pack("<IQ", 9, 1) + value
    return value


def test_deeply_nested_gguf_metadata_is_one_line(tmp_path: Path):
    path = tmp_path / "deep.gguf"
    path.write_bytes(gguf_bytes([("general.architecture", 9, nested_array(100_000))]))
    with pytest.raises(gguf.GGUFError, match="nested over"):
        gguf.read_metadata(path)
    models = tmp_path / "models"
    models.mkdir()
    path.rename(models / "deep.gguf")
    result = run_cli("models", "--db", str(tmp_path / "w.db"), env={
        "BARE_TUI_MODELS_DIR": str(models), "COLUMNS": "400"})
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "nested over" in " ".join(result.stdout.split())
