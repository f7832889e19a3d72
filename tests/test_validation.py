from bare_tui.core import tasks
from bare_tui.core.validation import validate

GSM8K = tasks.parse_recipe(tasks.builtin_source("gsm8k"))
REVIEWS = tasks.parse_recipe(tasks.builtin_source("reviews"))


def test_gsm8k_answer_must_end_with_a_number_after_hashes():
    assert validate(GSM8K, {"question": "Q?", "answer": "2+2=4\n#### 4"}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "#### 1,250.50 "}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "#### -$3"}) == []
    assert validate(GSM8K, {"question": "Q?", "answer": "the answer is 4"}) == [
        "answer: must end with '#### <number>'"
    ]
    assert validate(GSM8K, {"question": " ", "answer": "#### 4"}) == ["question: is empty"]


def test_label_from_fixed_set_and_single_line():
    assert validate(REVIEWS, {"review": "Nice.", "sentiment": "Positive"}) == []
    assert validate(REVIEWS, {"review": "Nice.", "sentiment": "great"}) == [
        "sentiment: must be one of: positive, negative, mixed"
    ]
    problems = validate(REVIEWS, {"review": "x" * 1501, "sentiment": "mixed\nreally"})
    assert problems == [
        "review: is longer than 1500 characters",
        "sentiment: must be a single line",
        "sentiment: must be one of: positive, negative, mixed",
    ]
