import json
from pathlib import Path

import pytest

from bare_tui.core.inputs.seeds import import_seeds, parse_mapping
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS


def test_import_jsonl_then_reimport_skips_duplicates(store, gsm8k):
    result = import_seeds(store, gsm8k, GSM8K_SEEDS)
    assert (result.added, result.duplicates) == (200, 0)
    again = import_seeds(store, gsm8k, GSM8K_SEEDS)
    assert (again.added, again.duplicates) == (0, 200)
    first = store.seeds("gsm8k")[0]
    assert first["fields"]["question"].startswith("Natalia sold clips")
    assert store.scalar("SELECT source FROM seeds WHERE id = ?", (first["id"],)).endswith(":1")


def test_csv_with_mapping(store, gsm8k, tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_text('problem,solution\n"Two, plus two?","2+2=4\n#### 4"\nSix?,#### 6\n')
    result = import_seeds(store, gsm8k, path, parse_mapping(["question=problem",
                                                             "answer=solution"]))
    assert result.added == 2
    assert store.seeds("gsm8k")[0]["fields"] == {"question": "Two, plus two?",
                                                 "answer": "2+2=4\n#### 4"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"question": "a", "answer": "b"}\n{"question": "c", "answer": \n',
         "bad.jsonl:2: invalid JSON"),
        # The message keeps the position (issue: it was cut after "at").
        ("bad.jsonl", '{"question": "a b", "answer": "c"}\n{"question": "x\x01", "answer": 1}\n',
         "bad.jsonl:2: invalid JSON: Invalid control character at column 16"),
        ("bad.jsonl", '{"question": "a", "answer": "b"}\n\n[1, 2]\n',
         "bad.jsonl:3: expected a JSON object"),
        ("bad.jsonl", '{"question": "a", "answer": "b"}\n{"question": "c"}\n',
         "bad.jsonl:2: missing field 'answer' (the record has: 'question')"),
        ("bad.jsonl", '{"question": "a", "answer": {"x": 1}}\n', "bad.jsonl:1: field 'answer'"),
        ("bad.csv", "question,answer\na,b\nc,d,e\n", "bad.csv:3: more values"),
        ("bad.csv", "question,answer\na,b\nc,\n", "bad.csv:3: field 'answer' is empty; "
         "--skip-invalid imports the other records"),
        ("bad.csv", "question,answer\na,b\nc\n", "bad.csv:3: missing field 'answer'"),
        ("empty.jsonl", "\n\n", "no seed records"),
        ("seeds.txt", "x", "unknown seed file type"),
    ],
)
def test_malformed_seed_files_name_the_line_and_import_nothing(
        store, gsm8k, tmp_path: Path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(BareError) as caught:
        import_seeds(store, gsm8k, path)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert store.seeds("gsm8k") == []


def test_binary_file_and_bad_mapping(store, gsm8k, tmp_path: Path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"question": "\xff\xfe"}\n')
    with pytest.raises(BareError, match="not UTF-8"):
        import_seeds(store, gsm8k, path)
    with pytest.raises(BareError, match="FIELD=COLUMN"):
        parse_mapping(["question"])
    good = tmp_path / "g.jsonl"
    good.write_text(json.dumps({"question": "a", "answer": "b"}) + "\n")
    with pytest.raises(BareError, match="unknown field 'qestion'"):
        import_seeds(store, gsm8k, good, {"qestion": "q"})
    with pytest.raises(BareError, match="seed file not found"):
        import_seeds(store, gsm8k, tmp_path / "missing.jsonl")


@pytest.mark.parametrize("name, text", [
    ("bom.jsonl", '{"question": "Two?", "answer": "#### 2"}\n'),
    ("bom.csv", 'question,answer\nTwo?,#### 2\n'),
])
def test_a_utf8_bom_from_a_spreadsheet_is_accepted(store, gsm8k, tmp_path: Path, name, text):
    path = tmp_path / name
    path.write_bytes("\ufeff".encode() + text.encode())
    assert import_seeds(store, gsm8k, path).added == 1
    assert store.seeds("gsm8k")[0]["fields"] == {"question": "Two?", "answer": "#### 2"}


def test_skip_invalid_imports_the_rest_and_lists_what_it_left_out(store, gsm8k, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"question": "a b", "answer": "#### 1"}\n'
                    '{"question": "c d", "answer": "  "}\n'
                    '{"question": oops}\n'
                    '{"question": "e f"}\n'
                    '{"question": "g h", "answer": "#### 2"}\n')
    result = import_seeds(store, gsm8k, path, skip_invalid=True)
    assert result.added == 2 and [s["fields"]["question"] for s in store.seeds("gsm8k")] == [
        "a b", "g h"]
    assert [line.split(": ", 1)[0].rsplit(":", 1)[1] for line in result.skipped] == [
        "2", "3", "4"]
    assert "field 'answer' is empty" in result.skipped[0]
    assert "invalid JSON" in result.skipped[1] and "missing field 'answer'" in result.skipped[2]
    with pytest.raises(BareError, match="no seed records found .3 left out as invalid"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"question": ""}\n{}\n[]\n')
        import_seeds(store, gsm8k, bad, skip_invalid=True)
