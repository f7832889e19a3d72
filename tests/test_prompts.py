import pytest

from bare_tui.core.inputs import prompts, recipes

GSM8K = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
SHOTS = [
    {"question": "Tom has 3 apples and buys 2 more. How many?", "answer": "3 + 2 = 5\n#### 5"},
    {"question": "A box holds 4 pens. How many pens in 3 boxes?", "answer": "4 * 3 = 12\n#### 12"},
]


def test_base_prompt_has_the_paper_layout():
    prompt = prompts.base_prompt(GSM8K, SHOTS)
    assert prompt.startswith(GSM8K.description)
    assert prompt.endswith("\n\nEXAMPLE START\n")
    assert prompt.count("EXAMPLE START") == 3 and prompt.count("EXAMPLE DONE") == 2
    assert "EXAMPLE START\nQuestion:\nTom has 3 apples" in prompt
    assert "#### 5\nEXAMPLE DONE\n\nEXAMPLE START\nQuestion:\nA box" in prompt


def test_refine_message_carries_instruction_format_examples_and_draft():
    draft = {"question": "Sam has 2 cats.", "answer": "#### 2"}
    [message] = prompts.refine_messages(GSM8K, SHOTS, draft)
    content = message["content"]
    assert message["role"] == "user"
    assert content.startswith("Improve the given grade school math word problem.")
    assert "Do not change the theme." in content
    assert "Question:\n[question]\nAnswer:\n[answer]" in content
    assert "Tom has 3 apples" in content and "A box holds 4 pens" in content
    assert content.index("Tom has 3 apples") < content.index("Sam has 2 cats.")
    assert content.endswith("Do not include any commentary.")


def test_refine_message_uses_raw_text_when_draft_did_not_parse():
    [message] = prompts.refine_messages(GSM8K, [], "  some garbled draft  ")
    assert "to improve:\n\nsome garbled draft\n" in message["content"]
    assert "Here are some examples" not in message["content"]


@pytest.mark.parametrize(
    "text",
    [
        "Question:\nHow many?\nAnswer:\n2 + 2 = 4\n#### 4\n",
        "Question: How many?\nAnswer: 2 + 2 = 4\n#### 4",
        "**Question:** How many?\n\n**Answer:** 2 + 2 = 4\n#### 4",
        "EXAMPLE START\nQuestion:\nHow many?\nAnswer:\n2 + 2 = 4\n#### 4\nEXAMPLE DONE\ntrailing",
        "```\nquestion:\nHow many?\nanswer:\n2 + 2 = 4\n#### 4\n```",
        "## Question:\nHow many?\n## Answer:\n2 + 2 = 4\n#### 4\n\nQuestion:\nAnother one?",
    ],
)
def test_parse_accepts_common_layouts(text):
    assert prompts.parse_fields(GSM8K, text) == {
        "question": "How many?", "answer": "2 + 2 = 4\n#### 4"
    }


def test_parse_multiline_values_and_missing_labels():
    fields = prompts.parse_fields(GSM8K, "Question:\nline one\nline two\nAnswer:\nx\ny")
    assert fields == {"question": "line one\nline two", "answer": "x\ny"}
    with pytest.raises(prompts.ParseError, match="no 'Answer:' label"):
        prompts.parse_fields(GSM8K, "Question:\nonly a question")
    with pytest.raises(prompts.ParseError, match="no 'Question:' label"):
        prompts.parse_fields(GSM8K, "just prose")


def test_parse_drops_a_repeated_label():
    fields = prompts.parse_fields(GSM8K, "Question:\nQuestion: How many?\nAnswer:\n#### 4")
    assert fields == {"question": "How many?", "answer": "#### 4"}


def test_parse_survives_huge_hostile_output():
    hostile = "Question:\n" + ("[bold]\x1b[2J" * 20000) + "\nAnswer:\n" + "9" * 100000
    fields = prompts.parse_fields(GSM8K, hostile)
    assert fields["question"].startswith("[bold]\x1b[2J")
    assert len(fields["answer"]) == 100000


def test_labels_alone_on_their_line_win_over_labels_inside_a_value():
    """A question that mentions "Answer: ..." stays whole when the real labels stand
    alone on their lines, as written items and constrained output have them."""
    text = ("Question:\nA shop sells pens.\nAnswer: not known yet. How many are left?\n"
            "Answer:\nThey sold 3 of 5.\nQuestion: what is left?\n5 - 3 = 2\n#### 2\n")
    assert prompts.parse_fields(GSM8K, text) == {
        "question": "A shop sells pens.\nAnswer: not known yet. How many are left?",
        "answer": "They sold 3 of 5.\nQuestion: what is left?\n5 - 3 = 2\n#### 2"}
    # Inline and decorated labels still parse when there are no labels on their own.
    assert prompts.parse_fields(GSM8K, "**Question:** How many?\n**Answer:** #### 4") == {
        "question": "How many?", "answer": "#### 4"}
