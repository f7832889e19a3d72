"""A GBNF grammar from a recipe's fields: the structure is guaranteed, only the content
is sampled.

The same fields that parse a model's output describe it: the labels in order, each on
its own line with the value below (as `prompts.render_example` writes an item), and per
field what the checks ask for:

- `one_of`: one of the listed values;
- `number` check: a number (optional sign, thousands separators, decimals);
- `single_line`: one non-empty line;
- `max_chars`: a length bound, where it is small enough to spell out in the grammar;
- `grammar`: a GBNF expression for the value, which may use the rules below; this is how
  a recipe expresses its `pattern` (the built-in gsm8k recipe does).

A `pattern` without a `grammar` cannot be turned into a grammar faithfully, so the value
is left free in the grammar and the pattern is checked after generation, as before; the
returned notes say so. Rules a field's `grammar` may use: `line` (a non-empty line
that does not end with ":"), `text` (such lines, blank lines between), `hashless-line`
(a non-empty line without `#`), `number`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bare_tui.core.recipes import Field, Task

MAX_SPELLED_CHARS = 400  # longer bounds would expand into thousands of grammar rules

# A value's lines never end with ":", so a label line ("Answer:") can only start the next
# field: once the model writes it, the item must go on to that field and end.
COMMON_RULES = r"""
line ::= [^\n \t:] | [^\n \t] [^\n]* [^\n:]
text ::= line ("\n" line?)*
hashless-line ::= [^\n#] [^\n#]*
number ::= "-"? ([0-9] [0-9]? [0-9]? ("," [0-9] [0-9] [0-9])+ | [0-9]+) ("." [0-9]+)?
"""


@dataclass(frozen=True)
class Grammar:
    text: str  # GBNF, root rule `root`
    notes: tuple[str, ...]  # what the grammar leaves to the checks after generation


def literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _rule_name(index: int) -> str:
    return f"value-{index}"


def _value(spec: Field, notes: list[str]) -> str:
    """The GBNF expression of one field's value."""
    if spec.grammar:
        return f"({spec.grammar})"
    if spec.one_of:
        return "(" + " | ".join(literal(option) for option in spec.one_of) + ")"
    if "number" in spec.checks:
        return "number"
    if spec.pattern is not None:
        notes.append(f"field {spec.name!r}: its pattern is checked after generation "
                     "(give the field a `grammar` to constrain it)")
    single = "single_line" in spec.checks
    if spec.max_chars is not None and spec.max_chars <= MAX_SPELLED_CHARS:
        more = max(spec.max_chars - 1, 0)
        middle = max(more - 1, 0)
        return (f"([^\\n \\t:] | [^\\n \\t] [^\\n]{{0,{middle}}} [^\\n:])" if single
                else f"([^\\n \\t] ([^\\n] | \"\\n\" [^\\n]){{0,{more}}})")
    if spec.max_chars is not None:
        notes.append(f"field {spec.name!r}: max_chars {spec.max_chars} is checked after "
                     "generation")
    return "line" if single else "text"


def build(task: Task) -> Grammar:
    """The grammar of one item of `task`, as the refine prompt asks for it."""
    notes: list[str] = []
    parts, rules = [], []
    for index, spec in enumerate(task.fields):
        head = ("\n" if index else "") + f"{spec.label}:\n"
        parts.append(f"{literal(head)} {_rule_name(index)}")
        rules.append(f"{_rule_name(index)} ::= {_value(spec, notes)}")
    root = "root ::= " + " ".join(parts) + ' "\\n"?'
    return Grammar("\n".join([root, *rules]) + COMMON_RULES, tuple(notes))
