import json

import pytest

from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.validation import validate
from conftest import GSM8K_SEEDS

GSM8K = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
REVIEWS = recipes.parse_recipe(recipes.builtin_source("reviews"))


HINT = "answer: must end with one '#### <number>' line, like '#### 1,250' or '#### -3.5'"


def test_gsm8k_answer_must_end_with_a_number_after_hashes():
    assert validate(GSM8K, {"question": "Q?", "answer": "2+2=4\n#### 4"}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "#### 1,250.50 "}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "#### -3\n"}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "the answer is 4"}) == [HINT]
    assert validate(GSM8K, {"question": " ", "answer": "#### 4"}) == ["question: is empty"]


@pytest.mark.parametrize("answer", [
    "#### $10", "#### ,5", "#### 1,2,3", "#### 12,5", "#### -$3", "#### .5", "#### 4 apples",
    "5 + 5 = 10\n#### 10\n#### 10", "#### 3\nso the answer is 3", "####",
])
def test_gsm8k_check_refuses_what_gsm8k_never_writes(answer):
    assert validate(GSM8K, {"question": "Q?", "answer": answer}) == [HINT]


def test_gsm8k_check_accepts_every_shipped_seed():
    seeds = [json.loads(line) for line in GSM8K_SEEDS.read_text().splitlines() if line.strip()]
    assert len(seeds) == 200
    assert [s["answer"][-20:] for s in seeds if validate(GSM8K, s)] == []


def test_label_from_fixed_set_and_single_line():
    assert validate(REVIEWS, {"review": "Nice.", "sentiment": "Positive"}) == []
    assert validate(REVIEWS, {"review": "Nice.", "sentiment": "great"}) == [
        "sentiment: must be one of: positive, negative, mixed"
    ]
    problems = validate(REVIEWS, {"review": "x" * 601, "sentiment": "mixed\nreally"})
    assert problems == [
        "review: is longer than 600 characters",
        "sentiment: must be a single line",
        "sentiment: must be one of: positive, negative, mixed",
    ]


def test_max_lines_bounds_a_value():
    assert validate(REVIEWS, {"review": "One.\nTwo.\n\n", "sentiment": "mixed"}) == []
    assert validate(REVIEWS, {"review": "1\n2\n3\n4", "sentiment": "mixed"}) == [
        "review: has more than 3 lines"]
    assert validate(GSM8K, {"question": "a\nb\nc\nd", "answer": "#### 4"}) == [
        "question: has more than 3 lines"]
