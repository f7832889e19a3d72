"""The output grammar built from a recipe's fields, and constrained refinements."""

from __future__ import annotations

import pytest

from bare_tui.core import grammar, pipeline, recipes
from bare_tui.core.seeds import import_seeds
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
"""


def _rules(text: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in text.splitlines() if " ::= " in line)


def test_every_check_kind_becomes_a_rule():
    built = grammar.build(recipes.parse_recipe(RECIPE))
    rules = _rules(built.text)
    assert rules["root"] == ('"Ti\\"tle:\\n" value-0 "\\nCount:\\n" value-1 "\\nLevel:\\n" '
                             'value-2 "\\nCode:\\n" value-3 "\\nBody:\\n" value-4 "\\n"?')
    # One line of at most 40 characters, not ending with ":" (a label).
    assert rules["value-0"] == "([^\\n \\t:] | [^\\n \\t] [^\\n]{0,38} [^\\n:])"
    assert rules["value-1"] == "number"
    assert rules["value-2"] == '("easy" | "hard")'
    # A pattern with no grammar for it is not guessed at: the value stays free and the
    # pattern is checked after generation, which the notes say.
    assert rules["value-3"] == "text" and rules["value-4"] == "text"
    assert built.notes == (
        "field 'code': its pattern is checked after generation (give the field a "
        "`grammar` to constrain it)",
        "field 'body': max_chars 5000 is checked after generation")


def test_gsm8k_constrains_its_final_answer_line():
    built = grammar.build(recipes.parse_recipe(recipes.builtin_source("gsm8k")))
    assert _rules(built.text)["value-1"] == '((hashless-line "\\n")* "#### " number)'
    assert built.notes == ()


def test_a_constrained_stage_records_its_grammar(store, gsm8k):
    assert not gsm8k.refine.constrain and not gsm8k.base.constrain  # opt-in for now
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    backend = ScriptedBackend(["Question:\nQ?\nAnswer:\n#### 1"])
    backend.takes_grammar = True
    pipeline.draft(store, gsm8k, backend, 1)
    pipeline.refine(store, gsm8k, backend, sampling=gsm8k.refine.replace(constrain=True))
    import json

    params = {r["kind"]: json.loads(r["params"]) for r in store.query(
        "SELECT kind, params FROM runs")}
    assert params["draft"]["constrained"] is False
    assert params["refine"]["constrained"] is True
    assert params["refine"]["sampling"]["grammar"] == grammar.build(gsm8k).text


def _recipes():
    from test_integration import readme_recipe

    sources = [recipes.builtin_source(name) for name in recipes.builtin_names()]
    return [recipes.parse_recipe(source) for source in [*sources, readme_recipe()[0], RECIPE]]


@pytest.mark.models
def test_the_grammars_load_in_llama_cpp(instruct_backend):
    for task in _recipes():
        text = grammar.build(task).text
        assert instruct_backend._grammar(text) is not None, task.name
    from bare_tui.errors import BareError

    with pytest.raises(BareError, match="could not load the output grammar"):
        instruct_backend._grammar('root ::= "a" undefined-rule')


@pytest.mark.models
@pytest.mark.parametrize("parallel", [1, 3])
def test_constrained_refinements_always_parse(store, instruct_model, parallel, capsys):
    """The embedded 135M instruct model, which often loses the format unconstrained,
    gives refinements that parse when it ends them itself, one at a time and batched."""
    from bare_tui.core.backends.llamacpp import LlamaCppBackend, LlamaOptions
    from conftest import REVIEW_SEEDS

    backend = LlamaCppBackend(instruct_model, LlamaOptions(ctx=2048, parallel=parallel))
    for name, seeds, budget in (("reviews", REVIEW_SEEDS, 200),):
        task = recipes.resolve(store, name)
        import_seeds(store, task, seeds)
        drafts = [s["fields"] for s in store.seeds(name)[-3:]]
        from bare_tui.core.prompts import render_example

        pipeline.draft(store, task, ScriptedBackend([render_example(task, d) for d in drafts]),
                       3)
        pipeline.refine(store, task, backend, rng_seed=4,
                        sampling=task.refine.replace(max_tokens=budget, constrain=True))
        rows = store.query("SELECT r.fields, r.finish_reason, r.raw_text FROM refinements r"
                           " JOIN candidates c ON c.id = r.candidate_id WHERE c.task = ?",
                           (name,))
        assert len(rows) == 3
        stopped = [r for r in rows if r["finish_reason"] == "stop"]
        assert stopped and all(r["fields"] is not None for r in stopped), rows
        with capsys.disabled():
            print(f"\nconstrained refinements, {name}, parallel {parallel}: "
                  f"{sum(r['fields'] is not None for r in rows)}/3 parse "
                  f"({len(stopped)} ended by the model, the rest by the token budget)")
