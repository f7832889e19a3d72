"""Fuzzing the loaders of outside files: whatever a seed file or a recipe holds, loading
it gives a result or one BareError line, never another exception (a traceback)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import read_seeds
from bare_tui.errors import BareError

EXAMPLES = 2000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))
GSM8K = recipes.parse_recipe(recipes.builtin_source("gsm8k") or "")
RECIPE_KEYS = ["name", "thing", "description", "fields", "shots", "base", "refine", "export",
               "refine_instruction", "count", "selection", "label", "checks", "pattern",
               "one_of", "max_chars", "grammar", "temperature", "max_tokens", "stop", "user",
               "assistant", "system", "top_k", "constrain"]

# --- generating TOML ---------------------------------------------------------------------------

scalars = st.one_of(
    st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["{question}", "{answer.__class__}", "{", "}", "{0}", "{answer!r}",
                     "nonempty", "number", "(", "static", "random", "x" * 300]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
keys = st.one_of(st.sampled_from(RECIPE_KEYS), st.text(max_size=8))
tables = st.dictionaries(keys, values, max_size=6)


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else toml_string(key)


def toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 1e+20, inf and -inf are TOML as Python writes them
    if isinstance(value, str):
        return toml_string(value)
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def toml_document(top: dict[str, Any], sections: dict[str, dict[str, Any]],
                  fields: list[dict[str, Any]]) -> str:
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, table in sections.items():
        lines.append(f"[{toml_key(name)}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    for table in fields:
        lines.append("[[fields]]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


VALID = recipes.builtin_source("gsm8k") or ""

recipe_texts = st.one_of(
    # Structured: plausible keys with values of any type, in any table.
    st.builds(toml_document, tables,
              st.dictionaries(st.sampled_from(["shots", "base", "refine", "export", "x"]),
                              tables, max_size=3),
              st.lists(tables, max_size=3)),
    # A real recipe with a line replaced, removed or added.
    st.builds(lambda index, line: "\n".join(
        (lambda lines: lines[:index % len(lines)] + [line] + lines[index % len(lines) + 1:])(
            VALID.splitlines())), st.integers(0, 200),
        st.one_of(st.text(max_size=40), st.builds(lambda k, v: f"{toml_key(k)} = {toml_value(v)}",
                                                  keys, values))),
    # Anything at all.
    st.text(max_size=300),
)


@FUZZ
@given(recipe_texts)
def test_recipe_loader_never_raises_anything_but_a_one_line_error(text: str):
    try:
        task = recipes.parse_recipe(text, origin="fuzz.toml")
    except BareError as exc:
        assert str(exc).startswith("fuzz.toml: ")
    else:
        assert task.fields and task.name


# --- generating seed files ------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=10)
records = st.dictionaries(st.sampled_from(["question", "answer", "problem", "", "\x1b"]),
                          json_values, max_size=4)


def jsonl(lines: list[Any]) -> bytes:
    import json

    return "\n".join(json.dumps(line) for line in lines).encode()


seed_files = st.one_of(
    st.tuples(st.just(".jsonl"), st.builds(jsonl, st.lists(st.one_of(records, json_values),
                                                            max_size=4))),
    st.tuples(st.sampled_from([".jsonl", ".csv", ".tsv"]), st.binary(max_size=200)),
    st.tuples(st.sampled_from([".csv", ".tsv"]), st.builds(
        lambda rows: "\n".join(",".join(row) for row in rows).encode(),
        st.lists(st.lists(st.sampled_from(["question", "answer", "q", '"', "a,b", "", "\x00"]),
                          max_size=4), max_size=4))),
    st.tuples(st.just(".jsonl"), st.builds(lambda depth: (
        '{"question": "q", "answer": ' + "[" * depth + "]" * depth + "}").encode(),
        st.integers(0, 50_000))),
)


@FUZZ
@given(seed_files)
def test_seed_loader_never_raises_anything_but_a_one_line_error(file: tuple[str, bytes]):
    suffix, content = file
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"seeds{suffix}"
        path.write_bytes(content)
        try:
            seeds = read_seeds(path, GSM8K).records
        except BareError as exc:
            assert "\n" not in str(exc)
        else:
            assert seeds and all(set(fields) == {"question", "answer"} for fields, _ in seeds)


# --- `candidates import`: the four shapes a dataset comes in -------------------------------------

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["\ud83d", "half \udce9 byte", "[bold]x[/]", "\x1b]0;t\x07", "",
                     "x" * 5000, "Question:\nq?\nAnswer:\n#### 1", "{question}"]),
)
hostile_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=8)
roles = st.one_of(st.sampled_from(["user", "assistant", "system", "human", "gpt", ""]),
                  hostile_json)


def dumps(value: Any) -> str:
    import json

    return json.dumps(value)


def jsonl_text(records: list[Any], huge: bool) -> bytes:
    lines = [dumps(record) for record in records]
    if huge:  # an integer of thousands of digits, which json.dumps cannot write
        lines.append('{"question": "q", "answer": ' + "9" * 5000 + "}")
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def csv_text(rows: list[list[str]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8", "surrogatepass")


def turns(role: str, content: str, user: str, assistant: str) -> Any:
    return st.lists(st.one_of(
        st.builds(lambda q, a: [{role: user, content: q}, {role: assistant, content: a}],
                  hostile_text, hostile_text),  # plausible: one of each side
        st.lists(st.one_of(st.fixed_dictionaries({role: roles, content: hostile_json}),
                           hostile_json), max_size=3)), min_size=1, max_size=3)


plausible_fields = st.fixed_dictionaries({"question": hostile_text, "answer": hostile_text})
dataset_shapes = {
    "csv": st.builds(csv_text, st.one_of(
        st.builds(lambda rows: [["question", "answer"], *rows],
                  st.lists(st.lists(hostile_text, min_size=2, max_size=2), max_size=3)),
        st.lists(st.lists(st.one_of(st.sampled_from(["question", "answer"]), hostile_text),
                          max_size=3), max_size=4))),
    "jsonl": st.builds(jsonl_text, st.lists(st.one_of(plausible_fields, st.dictionaries(
        st.sampled_from(["question", "answer", "other"]), hostile_json, max_size=3)),
        max_size=4), st.booleans()),
    "chat": st.builds(jsonl_text, st.lists(st.builds(
        lambda parts: {"messages": [turn for part in parts for turn in part]},
        turns("role", "content", "user", "assistant")), max_size=3), st.booleans()),
    "sharegpt": st.builds(jsonl_text, st.lists(st.builds(
        lambda parts, system: {"conversations": [turn for part in parts for turn in part],
                               "system": system},
        turns("from", "value", "human", "gpt"), hostile_json), max_size=3), st.booleans()),
}


def _fuzz_import(shape: str, content: bytes, folder: Path, store: Any) -> bool:
    """True when the file imported."""
    from bare_tui.core.datasets.dataset_import import import_candidates

    path = folder / ("data.csv" if shape == "csv" else "data.jsonl")
    path.write_bytes(content)
    before = store.scalar("SELECT count(*) FROM candidates")
    try:
        result = import_candidates(store, GSM8K, path)
    except BareError as exc:
        assert "\n" not in str(exc)
        assert store.scalar("SELECT count(*) FROM candidates") == before
        return False
    assert result.added + result.duplicates + result.seeds >= 1
    assert store.scalar("SELECT count(*) FROM candidates") == before + result.added
    return True


def _fuzz_shape(shape: str) -> None:
    from bare_tui.core.workspace.store import Store

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "w.db") as store:
        store.save_task(GSM8K.name, VALID, GSM8K.sha256)

        outcomes: list[bool] = []

        @FUZZ
        @given(dataset_shapes[shape])
        def run(content: bytes) -> None:
            outcomes.append(_fuzz_import(shape, content, Path(folder), store))

        run()
        # Both ways were taken: files that imported, and files refused in one line.
        assert len(outcomes) >= EXAMPLES and any(outcomes) and not all(outcomes)
        print(f"{shape}: {sum(outcomes)} of {len(outcomes)} files imported")


def test_candidates_import_of_csv_gives_items_or_one_line():
    _fuzz_shape("csv")


def test_candidates_import_of_jsonl_gives_items_or_one_line():
    _fuzz_shape("jsonl")


def test_candidates_import_of_chat_records_gives_items_or_one_line():
    _fuzz_shape("chat")


def test_candidates_import_of_sharegpt_records_gives_items_or_one_line():
    _fuzz_shape("sharegpt")
