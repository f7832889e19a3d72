"""How the IR judge is asked (core/measures/judge.py), and how its reply is read.

- `paper` follows the BARE reference code (pgasawa/BARE, its tasks' IR prompts): a system
  prompt saying that all but one example came from a high-quality AI and one is of low
  quality, four criteria to weigh, reasoning asked for, and a last line "Answer: N"; the
  reference judge ran at its API's default temperature (1.0) with 1,000 tokens.
- `strict` is the earlier prompt: the real items called people's writing and the odd one
  a weak model's, one sentence of reason, greedy, 256 tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.recipes import Recipe, Sampling

K = 4
# "Answer: 3", "**Answer:** [3]", "Answer: Question 3", "answer: (example #3)"
ANSWER = re.compile(r"answer\s*[:：]\s*[*\[(]*\s*(?:(?:example|question|number)\s*)?#?\s*"
                    r"\**\[?(\d+)", re.IGNORECASE)

Messages = Callable[[Recipe, Sequence[dict[str, str]]], list[dict[str, str]]]


def parse_answer(reply: str, k: int = K) -> int | None:
    """The number on the reply's last `Answer:` line (1..k), or None."""
    found = None
    for line in reply.splitlines():
        match = ANSWER.search(line)
        if match:  # a number of thousands of digits is no place in a lineup
            digits = match.group(1)
            found = int(digits) if len(digits) <= 4 else 0
    return found if found is not None and 1 <= found <= k else None


def _blocks(task: Recipe, texts: Sequence[dict[str, str]]) -> str:
    return "\n\n".join(f"Example {i}:\n{prompts.render_example(task, fields)}"
                       for i, fields in enumerate(texts, start=1))


def paper_messages(task: Recipe, texts: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    k = len(texts)
    places = f"1, 2, ..., {k}"
    system = (
        f"You are an expert at evaluating {task.things or task.thing + ' examples'}.\n\n"
        f"You will be shown {k} examples. Each example is a {task.thing}. All but one of "
        "them is generated from a high quality AI while one of them is of low quality.\n\n"
        f"Your task is to identify which example ({places}) appears to be of low quality. "
        "Consider factors like:\n\n"
        "1. Differing natural language patterns and flow\n"
        "2. Differing question structure, clarity, and difficulty\n"
        "3. Context and specificity\n"
        "4. Any subtle artifacts or unnatural patterns\n\n"
        "Analyze each example carefully and explain your reasoning. End with "
        f"'Answer: [Example Number]' where Example Number is {places}.")
    user = (f"Here are {k} examples. One of them is of low quality. Please identify which "
            f"one:\n\n{_blocks(task, texts)}\n\nAnalyze each example and explain which one "
            "you think is of low quality. End with 'Answer: [Example Number]'.")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def strict_messages(task: Recipe, texts: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    return [{"role": "user", "content": (
        f"Here are {len(texts)} examples of a {task.thing}. All but one were written by "
        f"people; one was written by a weak model and is of low quality.\n\n"
        f"{_blocks(task, texts)}\n\n"
        f"Which example is of low quality? Give your reason in one sentence, then end "
        f"your answer with a last line of the form 'Answer: N', where N is the example's "
        f"number (1 to {len(texts)}).")}]


@dataclass(frozen=True)
class Protocol:
    name: str
    messages: Messages
    sampling: Sampling


PROTOCOLS = {
    "paper": Protocol("paper", paper_messages, Sampling(temperature=1.0, max_tokens=1000)),
    "strict": Protocol("strict", strict_messages, Sampling(temperature=0.0, max_tokens=256)),
}
DEFAULT = "paper"


def protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown judge protocol {name!r}; one of "
                         f"{', '.join(PROTOCOLS)}") from None
