"""A GBNF grammar from a recipe's fields: the structure is guaranteed, only the content
is sampled.

The same fields that parse a model's output describe it: the labels in order, each on
its own line with the value below (as `prompts.render_example` writes an item), and per
field what the checks ask for:

- `one_of`: one of the listed values;
- `number` check: a number (optional sign, thousands separators, decimals);
- `single_line`: one non-empty line;
- `max_chars`: a length bound, where it is small enough to spell out in the grammar;
- `max_lines`: at most that many lines (blank ones count);
- `grammar`: a GBNF expression for the value, which may use the rules below; this is how
  a recipe expresses its `pattern` (the built-in gsm8k recipe does).

A free-text field without `max_lines` or `max_chars` is held to the shape of the task's
seeds: at most twice as many lines as its longest seed value (at least 3) and lines at
most twice as long as its longest seed line (at least 200 characters). Small models
that lose the thread otherwise write until their token budget ends, and the item is cut
short; the examples they are shown are what the values should look like.

A `pattern` without a `grammar` cannot be turned into a grammar faithfully, so the value
is left free in the grammar and the pattern is checked after generation, as before; the
returned notes say so. Rules a field's `grammar` may use: `line` (a non-empty line
that neither starts with a blank nor ends with ":" or a blank), `text` (such lines,
blank lines between), `hashless-line` (such a line without `#`, of at most 300
characters), `number`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bare_tui.core.inputs.recipes import Field, Recipe

# Longer bounds expand into more grammar rules than is worth it (a bound of 1000 costs
# about a tenth more per token than none on llama.cpp).
MAX_SPELLED_CHARS = 2000
# Bounds taken from the seeds: this many times their longest, and at least these.
SEED_FACTOR = 2
MIN_LINES = 3
MIN_LINE_CHARS = 200

# A value's lines never start with a blank nor end with ":" or a blank, so a label line
# ("Answer:", "Answer: ") can only start the next field: once the model writes it, the
# item must go on to that field and end.
COMMON_RULES = r"""
line ::= [^\n \t:] | [^\n \t] [^\n]* [^\n \t:]
text ::= line ("\n" line?)*
hashless-line ::= [^\n# \t:] | [^\n# \t] [^\n#]{0,298} [^\n# \t:]
number ::= "-"? ([0-9] [0-9]? [0-9]? ("," [0-9] [0-9] [0-9])+ | [0-9]+) ("." [0-9]+)?
"""


@dataclass(frozen=True)
class Grammar:
    text: str  # GBNF, root rule `root`
    notes: tuple[str, ...]  # what the grammar leaves to the checks after generation
    bounds: tuple[str, ...] = ()  # the bounds it took from the seeds


def literal(text: str) -> str:
    """A GBNF string literal."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _rule_name(index: int) -> str:
    return f"value-{index}"


@dataclass(frozen=True)
class Shape:
    """How long a field's values are in the seeds: lines, and characters of a line."""

    lines: int
    line_chars: int


def seed_shapes(task: Recipe, seeds: Iterable[Mapping[str, str]]) -> dict[str, Shape]:
    """Per field, the longest value among the seeds' fields."""
    shapes: dict[str, Shape] = {}
    for fields in seeds:
        for spec in task.fields:
            lines = str(fields.get(spec.name, "")).strip().splitlines()
            if not lines:
                continue
            known = shapes.get(spec.name, Shape(0, 0))
            shapes[spec.name] = Shape(max(known.lines, len(lines)),
                                      max(known.line_chars, *map(len, lines)))
    return shapes


def _spelled_line(chars: int) -> str:
    """One line of at most `chars` characters, as `line` is."""
    return f"([^\\n \\t:] | [^\\n \\t] [^\\n]{{0,{max(chars - 2, 0)}}} [^\\n \\t:])"


def _value(spec: Field, name: str, rules: list[str], notes: list[str], bounds: list[str],
           shape: Shape | None) -> str:
    """The GBNF expression of one field's value (rule `name`; helper rules go to
    `rules`)."""
    if spec.grammar:
        return f"({spec.grammar})"
    if spec.one_of:
        return "(" + " | ".join(literal(option) for option in spec.one_of) + ")"
    if "number" in spec.checks:
        return "number"
    if spec.pattern is not None:
        notes.append(f"field {spec.name!r}: its pattern is checked after generation "
                     "(give the field a `grammar` to constrain it)")
    spelled = spec.max_chars is not None and spec.max_chars <= MAX_SPELLED_CHARS
    if spec.max_chars is not None and not spelled:
        notes.append(f"field {spec.name!r}: max_chars {spec.max_chars} is checked after "
                     "generation")
    lines = 1 if "single_line" in spec.checks else spec.max_lines
    line_chars = spec.max_chars if spelled else None
    if shape is not None and (lines is None or line_chars is None):
        lines = lines or max(MIN_LINES, SEED_FACTOR * shape.lines)
        line_chars = line_chars or min(MAX_SPELLED_CHARS,
                                       max(MIN_LINE_CHARS, SEED_FACTOR * shape.line_chars))
        bounds.append(f"field {spec.name!r}: at most {lines} lines of at most {line_chars} "
                      "characters, from its seeds")
    line = _spelled_line(line_chars) if line_chars else "line"
    if lines == 1:
        return line
    if line_chars:
        # A rule of its own: llama.cpp refuses a repetition nested in another one.
        rules.append(f"{name}-line ::= {line}")
        line = f"{name}-line"
    if lines is not None:
        # Each line within its bound; a max_chars total is checked after generation.
        return f'({line} ("\\n" {line}?){{0,{lines - 1}}})'
    if spelled:
        return f"([^\\n \\t] ([^\\n] | \"\\n\" [^\\n]){{0,{spec.max_chars - 1}}})"
    return "text"


def build(task: Recipe, started: bool = False,
          seeds: Iterable[Mapping[str, str]] = ()) -> Grammar:
    """The grammar of one item of `task`, as the refine prompt asks for it; `started`:
    of the rest of it, when the reply was opened with the first label for the model
    (`prompts.reply_start`); `seeds`: the task's seed fields, whose shape bounds the
    free-text fields that set no bounds of their own."""
    notes: list[str] = []
    bounds: list[str] = []
    shapes = seed_shapes(task, seeds)
    parts, rules = [], []
    for index, spec in enumerate(task.fields):
        head = ("\n" if index else "") + f"{spec.label}:\n"
        parts.append(f"{literal(head)} {_rule_name(index)}" if index or not started
                     else _rule_name(index))
        helpers: list[str] = []
        value = _value(spec, _rule_name(index), helpers, notes, bounds, shapes.get(spec.name))
        rules += [f"{_rule_name(index)} ::= {value}", *helpers]
    root = "root ::= " + " ".join(parts) + ' "\\n"?'
    text = "\n".join([root, *rules]) + COMMON_RULES
    return Grammar(text, tuple(notes), tuple(bounds))
