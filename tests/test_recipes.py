from pathlib import Path

import pytest

from bare_tui.core.inputs import recipes
from bare_tui.errors import BareError

MINIMAL = """
name = "trivia"
thing = "trivia question"
description = "Trivia questions with short answers."
[[fields]]
name = "question"
[[fields]]
name = "answer"
"""


def test_builtins_load_and_follow_the_paper_defaults():
    assert {"gsm8k", "reviews"} <= set(recipes.builtin_names())
    gsm8k = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    assert gsm8k.field_names == ["question", "answer"]
    assert gsm8k.shot_count == 3 and gsm8k.shot_selection == "static"
    assert gsm8k.base.temperature == 0.7 and gsm8k.base.max_tokens == 1000
    assert gsm8k.base.stop == ("EXAMPLE DONE",)
    assert gsm8k.refine.temperature == 0.7 and gsm8k.refine.stop == ()
    reviews = recipes.parse_recipe(recipes.builtin_source("reviews"))
    assert reviews.shot_selection == "random"
    assert reviews.fields[1].one_of == ("positive", "negative", "mixed")


def test_minimal_recipe_gets_defaults_and_labels():
    task = recipes.parse_recipe(MINIMAL)
    assert [f.label for f in task.fields] == ["Question", "Answer"]
    assert task.base.stop == ("EXAMPLE DONE",) and task.base.max_tokens == 1000
    assert task.sha256 == recipes.parse_recipe(MINIMAL).sha256


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('name = "trivia"', ""), "missing required key 'name'"),
        (lambda t: t + '\n[shots]\nselection = "best"\n', "shots.selection"),
        (lambda t: t + "\n[base]\ntemprature = 0.5\n", "base.temprature: unknown key"),
        (lambda t: t + "\n[base]\nmax_tokens = 0\n", "base.max_tokens: must be between 1 and"),
        (lambda t: t.replace('name = "answer"', 'name = "question"'), "unique"),
        (lambda t: t + '\n[export]\nuser = "{prompt}"\n', "unknown field {prompt}"),
        (lambda t: t.replace('name = "answer"', 'name = "answer"\nchecks = ["shiny"]'),
         "unknown check 'shiny'"),
        (lambda t: t.replace('name = "answer"', "name = \"answer\"\npattern = '(['"),
         "bad pattern"),
        (lambda t: t + "\nthis is not toml", "invalid TOML"),
        (lambda t: t + "\n[review]\ntags = [" + ", ".join(f'"t{i}"' for i in range(10))
         + "]\n", "10 tags, but only 9 number keys"),
        (lambda t: t + '\n[review]\ntags = ["' + "x" * 61 + '"]\n', "at most 60"),
        (lambda t: t + '\n[review]\ntags = ["   "]\n', "review.tags[0]: expected a non-empty"),
    ],
)
def test_bad_recipes_get_one_line_errors(change, message):
    with pytest.raises(BareError) as caught:
        recipes.parse_recipe(change(MINIMAL), origin="my.toml")
    text = str(caught.value)
    assert text.startswith("my.toml: ") and message in text and "\n" not in text


def test_resolve_saves_recipe_and_finds_it_again(store, tmp_path: Path):
    recipe = tmp_path / "trivia.toml"
    recipe.write_text(MINIMAL)
    task = recipes.resolve(store, str(recipe))
    assert store.task_names() == ["trivia"]
    assert recipes.resolve(store, "trivia").source == MINIMAL
    assert recipes.resolve(store, None).name == "trivia"  # the only task
    recipes.resolve(store, "gsm8k")
    with pytest.raises(BareError, match="several tasks"):
        recipes.resolve(store, None)
    assert task.name == "trivia"


def test_unknown_task_lists_builtins(store):
    with pytest.raises(BareError, match="unknown task 'nope': built-ins are gsm8k"):
        recipes.resolve(store, "nope")
    with pytest.raises(BareError, match="recipe file not found"):
        recipes.resolve(store, "missing.toml")


def test_readme_documents_every_sampling_key_with_its_default():
    """README's table of a recipe's sampling keys names each one a recipe may set, with
    the defaults the code has."""
    import dataclasses
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", table, re.M))
    assert set(rows) == {f.name for f in dataclasses.fields(recipes.Sampling)}
    for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens"):
        assert float(rows[name]) == getattr(recipes.REFINE_DEFAULTS, name), name
    assert recipes.BASE_DEFAULTS.stop == ("EXAMPLE DONE",) and not recipes.REFINE_DEFAULTS.stop
    assert (recipes.BASE_DEFAULTS.constrain, recipes.REFINE_DEFAULTS.constrain) == (False, True)


def test_a_count_of_things_never_guesses_a_plural():
    from bare_tui.core.inputs import recipes

    source = recipes.builtin_source("gsm8k")
    task = recipes.parse_recipe(source)
    assert task.count_of(1) == "1 grade school math word problem"
    assert task.count_of(24) == "24 grade school math word problems"
    own = recipes.parse_recipe(source.replace('things = "grade school math word problems"\n',
                                              "").replace('thing = "grade school math word '
                                                          'problem"', 'thing = "SQL question '
                                                          'and query"'))
    assert own.count_of(2) == "2 items" and own.count_of(1) == "1 SQL question and query"


def test_a_misspelt_key_says_which_one_was_meant():
    from bare_tui.core.inputs import recipes
    from bare_tui.errors import BareError

    source = recipes.builtin_source("gsm8k").replace("[[fields]]", "[[feilds]]")
    with pytest.raises(BareError, match=r"feilds: unknown key; did you mean 'fields'\?"):
        recipes.parse_recipe(source)
    with pytest.raises(BareError, match=r"shots.cuont: unknown key; did you mean 'count'\?"):
        recipes.parse_recipe(recipes.builtin_source("gsm8k").replace("count = 3", "cuont = 3"))
