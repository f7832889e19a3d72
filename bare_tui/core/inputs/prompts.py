"""Build the base (draft) and refine prompts of a task, and parse model output into fields.

The base prompt follows the BARE paper: the corpus description, k real examples each
wrapped in `EXAMPLE START` / `EXAMPLE DONE`, then an open `EXAMPLE START` for the base
model to complete. The refine prompt is one chat message asking the instruct model to
improve one draft against the same examples, in the same field format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.schema import fill

EXAMPLE_START = "EXAMPLE START"
EXAMPLE_DONE = "EXAMPLE DONE"

DEFAULT_REFINE_INSTRUCTION = (
    "Improve the given {thing}. Edit it to be more similar in style to the examples, "
    "disambiguate it, and correct any errors. Do not change the theme."
)


class ParseError(ValueError):
    """Model output that does not hold the task's fields."""


def render_example(task: Recipe, fields: Mapping[str, str]) -> str:
    return "\n".join(f"{f.label}:\n{str(fields.get(f.name, '')).strip()}" for f in task.fields)


def base_prompt(task: Recipe, shots: Sequence[Mapping[str, str]]) -> str:
    blocks = [f"{EXAMPLE_START}\n{render_example(task, shot)}\n{EXAMPLE_DONE}" for shot in shots]
    return "\n\n".join([task.description, *blocks, f"{EXAMPLE_START}\n"])


def reply_start(task: Recipe) -> str:
    """How a refinement starts: its first label, as the paper's prompts have the model
    "start your response with the question"."""
    return f"{task.fields[0].label}:\n"


def refine_messages(
    task: Recipe, shots: Sequence[Mapping[str, str]], draft: Mapping[str, str] | str,
    start: str = "",
) -> list[dict[str, str]]:
    """One user message; `draft` is the parsed fields, or the raw text when the draft
    did not parse (the instruct model may still recover it). A `start` (`reply_start`)
    becomes the opening of the model's reply: a last, unfinished assistant message that
    backends which take one continue."""
    instruction = fill(task.refine_instruction or DEFAULT_REFINE_INSTRUCTION,
                       {"thing": task.thing})
    examples = "\n\n".join(render_example(task, shot) for shot in shots)
    draft_text = draft.strip() if isinstance(draft, str) else render_example(task, draft)
    parts = [instruction, f"Write your answer in this format:\n{_layout(task)}"]
    if examples:
        parts.append(f"Here are some examples:\n\n{examples}")
    parts += [
        f"Here is the {task.thing} to improve:\n\n{draft_text}",
        f"Provide only the improved {task.thing} in the format above. "
        "Do not include any commentary.",
    ]
    return _chat(parts, start)


def _layout(task: Recipe) -> str:
    return "\n".join(f"{f.label}:\n[{f.name}]" for f in task.fields)


def _chat(parts: Sequence[str], start: str) -> list[dict[str, str]]:
    """One user message of the parts; `start` opens the model's reply."""
    messages = [{"role": "user", "content": "\n\n".join(parts)}]
    if start:
        messages.append({"role": "assistant", "content": start})
    return messages


def instruct_messages(task: Recipe, shots: Sequence[Mapping[str, str]], start: str = ""
                      ) -> list[dict[str, str]]:
    """The paper's independent instruct-only baseline: a request for an example in the
    recipe's format, then the same examples, then "Now it's your turn." It asks for no
    novelty unless the recipe says `[instruct] novelty = true`."""
    examples = "\n\n".join(render_example(task, shot) for shot in shots)
    parts = [task.description,
             f"Provide an example of a {task.thing} in the following format:\n"
             f"{_layout(task)}\nProvide only the {task.thing} in the given format. "
             "Do not include any commentary."]
    if examples:
        parts.append(f"Here are some examples:\n\n{examples}")
    novelty = (f" Your {task.thing} should be different in content from the examples."
               if task.instruct_novelty else "")
    parts.append(f"Now it's your turn.{novelty} Start your response with the "
                 f"{task.fields[0].label.lower()}.")
    return _chat(parts, start)


def _label_pattern(label: str) -> str:
    # Tolerates the decorations small chat models like to add: "**Answer:**", "## Answer:".
    emphasis = r"(?:\*\*|__)?"
    return (rf"^[ \t]*(?:[#>*_]+[ \t]*)?{re.escape(label)}[ \t]*{emphasis}[ \t]*:"
            rf"{emphasis}[ \t]*")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n")
    text = text.split(EXAMPLE_DONE, 1)[0]
    text = re.sub(r"^\s*" + EXAMPLE_START + r"\s*\n", "", text)
    # Drop a surrounding code fence.
    text = re.sub(r"^\s*```[\w-]*\n", "", text)
    text = re.sub(r"\n```\s*$", "", text)
    return text


def parse_fields(task: Recipe, text: str) -> dict[str, str]:
    """Split output into the task's fields by their labels, in order.

    Labels alone on their line, as items are written (`render_example`) and as the
    output grammar makes them, are looked for first, so that a value that mentions a
    label ("Answer: 4" inside a question) stays whole; failing that, the decorated and
    inline forms small models write ("**Answer:** 4").

    Raises ParseError naming the first label that cannot be found.
    """
    body = _clean(text)
    try:
        return _split(task, body, _strict_label_pattern)
    except ParseError:
        return _split(task, body, _label_pattern)


def _strict_label_pattern(label: str) -> str:
    return rf"^{re.escape(label)}:[ \t]*\n"


def _split(task: Recipe, body: str, label_pattern: Callable[[str], str]) -> dict[str, str]:
    patterns = [re.compile(label_pattern(f.label), re.IGNORECASE | re.MULTILINE)
                for f in task.fields]
    # A value ends where the next label starts; the last one ends at any label that
    # would begin another item, so a run-on draft keeps only its first item.
    any_label = re.compile(
        "|".join(f"(?:{label_pattern(f.label)})" for f in task.fields)
        + rf"|^[ \t]*{EXAMPLE_START}",
        re.IGNORECASE | re.MULTILINE,
    )
    starts: list[tuple[int, int]] = []
    position = 0
    for spec, pattern in zip(task.fields, patterns, strict=True):
        match = pattern.search(body, position)
        if match is None:
            raise ParseError(f"no '{spec.label}:' label found")
        starts.append((match.start(), match.end()))
        position = match.end()
    repeats = [re.compile(_label_pattern(f.label), re.IGNORECASE) for f in task.fields]
    values: dict[str, str] = {}
    for index, spec in enumerate(task.fields):
        value_start = starts[index][1]
        if index + 1 < len(starts):
            value_end = starts[index + 1][0]
        else:
            after = any_label.search(body, value_start)
            value_end = after.start() if after else len(body)
        value = body[value_start:value_end].strip()
        # Small models often repeat the label they were just given ("Question:\nQuestion: ...").
        while (repeat := repeats[index].match(value)) is not None:
            value = value[repeat.end():].strip()
        values[spec.name] = value
    return values
