"""The output grammar built from a recipe's fields, and constrained refinements."""

from __future__ import annotations

import pytest

from bare_tui.core.generation import grammar, pipeline
from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import import_seeds
from conftest import GSM8K_SEEDS, ScriptedBackend

RECIPE = """
name = "probe"
thing = "probe"
description = "d"
[[fields]]
name = "title"
label = 'Ti"tle'
checks = ["single_line"]
max_chars = 40
[[fields]]
name = "count"
label = "Count"
checks = ["number"]
[[fields]]
name = "level"
label = "Level"
one_of = ["easy", "hard"]
[[fields]]
name = "code"
label = "Code"
pattern = '^[A-Z]{3}-\\d+$'
[[fields]]
name = "body"
label = "Body"
max_chars = 5000
[[fields]]
name = "notes"
label = "Notes"
max_lines = 2
"""


def _rules(text: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in text.splitlines() if " ::= " in line)


def test_every_check_kind_becomes_a_rule():
    built = grammar.build(recipes.parse_recipe(RECIPE))
    rules = _rules(built.text)
    assert rules["root"] == ('"Ti\\"tle:\\n" value-0 "\\nCount:\\n" value-1 "\\nLevel:\\n" '
                             'value-2 "\\nCode:\\n" value-3 "\\nBody:\\n" value-4 '
                             '"\\nNotes:\\n" value-5 "\\n"?')
    # One line of at most 40 characters, ending neither with ":" (a label) nor a blank
    # ("Label: ").
    assert rules["value-0"] == "([^\\n \\t:] | [^\\n \\t] [^\\n]{0,38} [^\\n \\t:])"
    assert rules["value-1"] == "number"
    assert rules["value-2"] == '("easy" | "hard")'
    # A pattern with no grammar for it is not guessed at: the value stays free and the
    # pattern is checked after generation, which the notes say.
    assert rules["value-3"] == "text" and rules["value-4"] == "text"
    # At most two lines, the second possibly blank.
    assert rules["value-5"] == '(line ("\\n" line?){0,1})'
    # Opened with the first label for the model, the reply is the rest of the item.
    started = _rules(grammar.build(recipes.parse_recipe(RECIPE), started=True).text)
    assert started["root"] == rules["root"].replace('"Ti\\"tle:\\n" ', "", 1)
    assert built.notes == (
        "field 'code': its pattern is checked after generation (give the field a "
        "`grammar` to constrain it)",
        "field 'body': max_chars 5000 is checked after generation")


def test_free_fields_are_held_to_the_shape_of_the_seeds():
    """A field with no bounds of its own gets twice its seeds' longest (at least 3 lines
    of 200 characters); bounds the recipe sets win, and fields with a form of their own
    (one_of, number, grammar) keep it."""
    task = recipes.parse_recipe(RECIPE)
    seeds = [{"title": "A", "count": "3", "level": "easy", "code": "ABC-1",
              "body": "one\ntwo\nthree", "notes": "n"},
             {"code": "x" * 150, "body": "b" * 1500}]
    built = grammar.build(task, seeds=seeds)
    rules = _rules(built.text)
    assert rules["value-0"] == "([^\\n \\t:] | [^\\n \\t] [^\\n]{0,38} [^\\n \\t:])"  # own
    assert rules["value-1"] == "number" and rules["value-2"] == '("easy" | "hard")'
    # The bounded line is a rule of its own, repeated by name (llama.cpp refuses a
    # repetition inside a repetition).
    for rule, lines, chars in (("value-3", 3, 300), ("value-4", 6, 2000), ("value-5", 2, 200)):
        assert rules[f"{rule}-line"] == (f"([^\\n \\t:] | [^\\n \\t] [^\\n]{{0,{chars - 2}}} "
                                         "[^\\n \\t:])")
        assert rules[rule] == f'({rule}-line ("\\n" {rule}-line?){{0,{lines - 1}}})'
    assert rules["value-5"].endswith("{0,1})")  # max_lines 2, the recipe's own
    assert built.bounds == (
        "field 'code': at most 3 lines of at most 300 characters, from its seeds",
        "field 'body': at most 6 lines of at most 2000 characters, from its seeds",
        "field 'notes': at most 2 lines of at most 200 characters, from its seeds")
    assert grammar.seed_shapes(task, seeds)["body"] == grammar.Shape(3, 1500)


def test_gsm8k_constrains_its_final_answer_line():
    built = grammar.build(recipes.parse_recipe(recipes.builtin_source("gsm8k")))
    assert _rules(built.text)["value-1"] == '((hashless-line "\\n"){0,8} "#### " number)'
    assert built.notes == ()


def test_a_constrained_stage_records_its_grammar(store, gsm8k):
    # On by default for refinements, off for drafts (the base model drafts freely).
    assert gsm8k.refine.constrain and not gsm8k.base.constrain
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    backend = ScriptedBackend(["Question:\nQ?\nAnswer:\n#### 1"])
    backend.takes_grammar = True
    pipeline.draft(store, gsm8k, backend, 1)
    pipeline.refine(store, gsm8k, backend)
    import json

    params = {r["kind"]: json.loads(r["params"]) for r in store.query(
        "SELECT kind, params FROM runs")}
    assert params["draft"]["constrained"] is False
    assert params["refine"]["constrained"] is True
    seeds = [seed["fields"] for seed in store.seeds("gsm8k")]
    assert params["refine"]["sampling"]["grammar"] == grammar.build(gsm8k, seeds=seeds).text


def _recipes_and_seeds() -> list[tuple[recipes.Recipe, list[dict]]]:
    """Every built-in recipe, README's and this file's, each with its seeds."""
    import json

    from test_integration import readme_recipe

    from conftest import REVIEW_SEEDS

    def jsonl(text: str) -> list[dict]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    recipe, trivia_seeds = readme_recipe()
    return [
        (recipes.parse_recipe(recipes.builtin_source("gsm8k")), jsonl(GSM8K_SEEDS.read_text())),
        (recipes.parse_recipe(recipes.builtin_source("reviews")),
         jsonl(REVIEW_SEEDS.read_text())),
        (recipes.parse_recipe(recipe), jsonl(trivia_seeds)),
        (recipes.parse_recipe(RECIPE), [{"code": "x" * 900, "body": "b\n" * 40}]),
    ]


def test_every_recipe_is_covered():
    covered = {task.name for task, _ in _recipes_and_seeds()}
    assert set(recipes.builtin_names()) <= covered


@pytest.mark.models
def test_the_grammars_load_in_llama_cpp(instruct_backend):
    """As runs build them: with the seeds' shape, opened by the first label or not."""
    for task, seeds in _recipes_and_seeds():
        for started in (False, True):
            text = grammar.build(task, started, seeds).text
            assert instruct_backend._grammar(text) is not None, task.name
    from bare_tui.errors import BareError

    with pytest.raises(BareError, match="could not load the output grammar"):
        instruct_backend._grammar('root ::= "a" undefined-rule')


def _accepts(backend, grammar_text: str, text: str) -> bool:
    """Whether llama.cpp's grammar sampler lets `text`, then the end of text, through."""
    import ctypes

    import llama_cpp as lib

    vocab = lib.llama_model_get_vocab(backend.llama._model.model)
    sampler = lib.llama_sampler_init_grammar(vocab, grammar_text.encode(), b"root")

    def allows(token: int) -> bool:
        one = lib.llama_token_data(id=token, logit=0.0, p=0.0)
        array = lib.llama_token_data_array(data=ctypes.pointer(one), size=1, selected=-1,
                                           sorted=False)
        lib.llama_sampler_apply(sampler, ctypes.byref(array))
        return one.logit != float("-inf")

    try:
        for token in backend.llama.tokenize(text.encode(), add_bos=False, special=False):
            if not allows(token):
                return False
            lib.llama_sampler_accept(sampler, token)
        return allows(backend.llama._model.token_eos())
    finally:
        lib.llama_sampler_free(sampler)


@pytest.mark.models
def test_the_grammars_accept_their_own_seeds(instruct_backend):
    """A grammar tighter than the recipe's own examples would force the model away from
    them: each recipe's grammar lets every one of its seeds through, and not a chatty
    reply, nor a seed whose value repeats the first label on a line of its own (with or
    without a blank after the colon), which would start a second item."""
    from bare_tui.core.inputs.prompts import render_example

    for task, seeds in _recipes_and_seeds()[:3]:
        text = grammar.build(task, False, seeds).text
        refused = [seed for seed in seeds
                   if not _accepts(instruct_backend, text, render_example(task, seed))]
        assert refused == [], (task.name, refused[:2])
        assert not _accepts(instruct_backend, text, "Sure! Here is the improved item:")
        last = next(f.name for f in reversed(task.fields) if not f.one_of)
        for label_line in (f"{task.fields[0].label}:", f"{task.fields[0].label}: "):
            seed = {**seeds[0], last: f"{label_line}\n{seeds[0][last]}"}
            assert not _accepts(instruct_backend, text, render_example(task, seed)), (
                task.name, label_line)


BUDGETS = {"gsm8k": 300, "reviews": 150, "trivia": 100}


@pytest.mark.models
def test_constrained_refinements_always_parse(tmp_path, instruct_model, capsys):
    """The embedded 135M instruct model, which often loses the format unconstrained,
    refines drafts of every built-in recipe and README's into items that parse, one at
    a time (llama-cpp-python's sampler) and batched (the parallel engine's), sampling as
    runs do: every refinement that ends on its own parses, and every candidate has one
    that parses. (Now and then a sample loops on one word until its token budget ends,
    cut off inside a value; runs try those again, and so does this test.) Greedy, the
    two engines' refinements are compared and the agreement reported (batched decoding
    rounds differently, and a 135M model's greedy path can turn on it)."""
    from test_integration import readme_recipe

    from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions
    from bare_tui.core.inputs.prompts import render_example
    from bare_tui.core.workspace.store import Store
    from conftest import REVIEW_SEEDS

    recipe, trivia_seeds = readme_recipe()
    (tmp_path / "trivia.toml").write_text(recipe)
    (tmp_path / "trivia.jsonl").write_text(trivia_seeds)
    sources = {"gsm8k": ("gsm8k", GSM8K_SEEDS), "reviews": ("reviews", REVIEW_SEEDS),
               "trivia": (str(tmp_path / "trivia.toml"), tmp_path / "trivia.jsonl")}
    greedy: dict[tuple[str, int], list[dict]] = {}
    for parallel in (1, 3):
        backend = LlamaCppBackend(instruct_model, LlamaOptions(ctx=2048, parallel=parallel))
        for temperature in (0.7, 0.0):
            with Store(tmp_path / f"engine-{parallel}-{temperature}.db") as store:
                for name, (spec, seeds) in sources.items():
                    task = recipes.resolve(store, spec)
                    import_seeds(store, task, seeds)
                    drafts = [render_example(task, s["fields"])
                              for s in store.seeds(name)[-3:]]
                    pipeline.draft(store, task, ScriptedBackend(drafts), 3)
                    pipeline.refine(store, task, backend, rng_seed=4,
                                    retries=pipeline.DEFAULT_RETRIES if temperature else 0,
                                    sampling=task.refine.replace(
                                        max_tokens=BUDGETS[name], temperature=temperature))
                    rows = store.query(
                        "SELECT r.candidate_id, r.fields, r.raw_text, r.finish_reason"
                        " FROM refinements r JOIN candidates c ON c.id = r.candidate_id"
                        " WHERE c.task = ? ORDER BY r.id", (name,))
                    if temperature:
                        finished = [r for r in rows if r["finish_reason"] == "stop"]
                        assert all(r["fields"] is not None for r in finished), (parallel,
                                                                                 rows)
                        assert {r["candidate_id"] for r in rows if r["fields"]} == {
                            r["candidate_id"] for r in rows}, (parallel, rows)
                        assert len({r["candidate_id"] for r in rows}) == 3
                    else:
                        assert len(rows) == 3
                        greedy[name, parallel] = rows
    with capsys.disabled():
        for name in sources:
            pairs = list(zip(greedy[name, 1], greedy[name, 3], strict=True))
            same = sum(a["raw_text"] == b["raw_text"] for a, b in pairs)
            parsed = [sum(r["fields"] is not None for r in greedy[name, p]) for p in (1, 3)]
            print(f"\nconstrained refinements, {name}: sampled 3/3 parse in both engines; "
                  f"greedy {parsed[0]}/3 and {parsed[1]}/3 parse, {same}/3 identical "
                  "between sequential and parallel")
