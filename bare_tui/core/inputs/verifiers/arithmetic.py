"""`arithmetic`: the worked answer's arithmetic adds up (GSM8K style).

Every calculator annotation `<<expr=result>>` must evaluate to its result (within a
tolerance), and so must every plain equation whose left side is arithmetic ("0.90 x 200
= 180", with x and × for times, and a percent answer such as "12/20 = 60%"), since
generated answers often carry no annotation at all (`check_plain = false` checks
annotations only). The final `#### n` must be one of the results the solution computes
(or that result in hundredths: a share given in percent, dollars in cents) or a number
the solution writes: real GSM8K answers end with a conversion in words ("0.5 hour,
which is 30 minutes") often enough. An answer with no arithmetic in it is "not
checkable", not wrong (unless `require_annotations` is set).

Expressions are evaluated by a small evaluator over the syntax tree of numbers and
`+ - * / // ** % ( )`: never `eval`, and bounded, so that a huge power, deep nesting or a
10,000-digit number is a problem reported at once, not a hang.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from typing import Any

from bare_tui.core.inputs.verifiers.base import Verifier
from bare_tui.errors import BareError

ANNOTATION = re.compile(r"<<([^<>]*)>>")
# A plain equation: "=" then a number that ends the equation (not "= 5A" or "= 1.2Y",
# algebra; "= 1/4" or "= 3 1/2", fractions; nor "= 4 * 12", a chain of steps checked link
# by link), after a run of arithmetic as people write it (with $, ×, −, %), found by
# walking back from the "=" at most MAX_EXPRESSION characters: linear in the text, so a
# hostile answer of 100,000 spaces or operators is read in one pass.
RESULT = re.compile(r"=[ \t]*\$?[ \t]*(-?(?:\d[\d,]{0,40}(?:\.\d{1,20})?|\.\d{1,20}))"
                    r"(?![\w(/]|\.\d|[ \t]+\d+/\d|[ \t]*[-+*/×x][ \t]*[\d(.$])")
LEFT = frozenset("0123456789.,$ \t+-*/×x−–()%")
ANNOTATED = "@"  # what stands for an annotation when plain equations are read
WRITTEN_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?<![\w.])\.\d+")
TIMES = re.compile(r"(?<=[\d)])\s*[x×]\s*(?=[\d(.$])")  # "0.90 x 200"; not "4x + 20"
WRITTEN = str.maketrans({"−": "-", "–": "-", "$": " "})
FINAL = re.compile(r"-?[\d,]*\.?\d+")  # the answer after the last "####", at most 40 long
DIGIT_COMMAS = re.compile(r"(?<=\d),(?=\d{3}\b)")
MAX_EXPRESSION = 200  # characters: GSM8K's longest is far shorter
MAX_DIGITS = 30  # in one number
MAX_MAGNITUDE = 1e30  # of any value computed on the way


class Unsafe(Exception):
    """An expression this evaluator will not compute; the text says why."""


def number(text: str) -> float:
    """A number as GSM8K writes it: thousands separators, a leading dot, a sign."""
    cleaned = DIGIT_COMMAS.sub("", text.strip()[:MAX_DIGITS + 20]).rstrip(".")
    if len(text.strip()) > MAX_DIGITS + 20 or not re.fullmatch(r"-?(\d+\.?\d*|\.\d+)",
                                                               cleaned):
        raise Unsafe(f"{text.strip()[:40]!r} is not a number")
    return float(cleaned)


def evaluate(expression: str) -> float:
    """The value of an arithmetic expression; Unsafe says why there is none."""
    text = DIGIT_COMMAS.sub("", expression.strip())
    if len(text) > MAX_EXPRESSION:
        raise Unsafe(f"the expression is {len(text):,} characters (at most {MAX_EXPRESSION})")
    if not text:
        raise Unsafe("the expression is empty")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise Unsafe(f"{text[:40]!r} is not arithmetic") from None
    return _value(tree.body)


def _check(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise Unsafe("a value on the way is too large")
    return value


OPERATIONS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b, ast.FloorDiv: lambda a, b: a // b,
}


def _value(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if isinstance(node.value, int) and node.value.bit_length() > 100:
            raise Unsafe("a number is too long")
        return _check(float(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > 64:
                raise Unsafe("an exponent beyond 64")
            if abs(left) > 1 and abs(right) * math.log10(abs(left)) > 30:
                raise Unsafe("a power is too large")
            try:
                return _check(float(left ** right))
            except (OverflowError, ZeroDivisionError, TypeError):
                raise Unsafe("a power has no real value") from None
        operation = OPERATIONS.get(type(node.op))
        if operation is None:
            raise Unsafe(f"{type(node.op).__name__} is not arithmetic")
        if isinstance(node.op, (ast.Div, ast.Mod, ast.FloorDiv)) and right == 0:
            raise Unsafe("division by zero")
        return _check(operation(left, right))
    raise Unsafe(f"{type(node).__name__} is not arithmetic")


def final_answer(text: str) -> str | None:
    """The number after the last "####", when that is all that follows it."""
    if "####" not in text:
        return None
    tail = text[text.rfind("####") + 4:].strip()
    return tail if len(tail) <= 40 and FINAL.fullmatch(tail) else None


class Arithmetic(Verifier):
    name = "arithmetic"
    version = "1"
    description = ("calculator annotations <<expr=result>> and plain equations add up, "
                   "and the final '#### n' is a result the solution reaches (GSM8K style)")
    options = {
        "tolerance": "how far a stated result may be from its value (default 0.01, "
                     "for rounded results like <<10/3=3.33>>)",
        "require_annotations": "an answer without annotations is a problem (default false)",
        "check_plain": "plain equations like '20/4 = 5' must compute too (default true)",
    }

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(options)
        tolerance = self.settings.get("tolerance", 0.01)
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
                or tolerance < 0:
            raise BareError("tolerance must be a number of at least 0")
        self.tolerance = float(tolerance)
        self.require = bool(self.settings.get("require_annotations", False))
        self.check_plain = bool(self.settings.get("check_plain", True))

    def problems(self, text: str, item: Mapping[str, str]) -> list[str] | None:
        found: list[str] = []
        results: list[float] = []  # what the solution computes, in order
        annotations = list(ANNOTATION.finditer(text))
        for index, match in enumerate(annotations, 1):
            expression, equals, stated = match.group(1).rpartition("=")
            where = f"annotation {index} <<{match.group(1)[:60]}>>"
            if not equals:
                found.append(f"{where} has no '=result'")
                continue
            try:
                value = evaluate(expression)
                # a result may be written as a fraction: <<3/4=3/4>>
                result = (evaluate(stated) if re.fullmatch(r"\s*\d+/\d+\s*", stated)
                          else number(stated))
            except Unsafe as exc:
                found.append(f"{where}: {exc}")
                continue
            if not self.close(value, result):
                found.append(f"{where}: {expression.strip()} is {value:g}, not {stated.strip()}")
            results.append(value)
        body = text[:text.rfind("####")] if "####" in text else text
        plain = self.plain_equations(body, found) if self.check_plain else []
        results += plain
        if not annotations and self.require:
            found.append("no calculator annotation <<expr=result>> to check")
        final = final_answer(text)
        if results and final is None:  # (its shape is the recipe's checks' to judge)
            found.append("no final '#### <number>' line")
        elif results and final is not None:
            self.check_final(final, results, body, found)
        if not found and not results:
            return None  # no arithmetic in it to check
        return found

    def check_final(self, stated: str, results: list[float], body: str,
                    found: list[str]) -> None:
        """The final answer is a result (or its hundredfold), or a number written."""
        try:
            answer = number(stated)
        except Unsafe as exc:
            found.append(f"the final answer: {exc}")
            return
        written = [float(DIGIT_COMMAS.sub("", n)) for n in WRITTEN_NUMBER.findall(
            ANNOTATION.sub(" ", body)) if len(n) <= MAX_DIGITS]
        if not any(self.close(value, answer) or self.close(value * 100, answer)
                   for value in results) and not any(self.close(value, answer)
                                                     for value in written):
            found.append(f"the final answer {stated} is none of the results "
                         f"(the last is {results[-1]:g}) nor written in the solution")

    def plain_equations(self, text: str, found: list[str]) -> list[float]:
        """The values of the plain equations whose left side is arithmetic; one that
        computes another value than it states is a problem (prose is passed over)."""
        values = []
        # "a = <<a=b>>b" is the annotation's to check: the marker keeps it from matching
        text = ANNOTATION.sub(ANNOTATED, text)
        for match in RESULT.finditer(text):
            start = match.start()
            begin = start
            while begin > 0 and text[begin - 1] in LEFT and start - begin < MAX_EXPRESSION:
                begin -= 1
            if begin > 0 and text[begin - 1] in LEFT:
                continue  # a run longer than any arithmetic: not an equation
            written = text[begin:start]
            left = TIMES.sub("*", written).translate(WRITTEN)
            left = re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", left).strip(" ,\t%")
            if not re.search(r"\d\s*[-+*/]\s*[\d(.]", left) or left[0] in "+-*/)":
                continue  # prose, or a left side that begins in the words before it
            try:
                value, stated = evaluate(left), number(match.group(1))
            except Unsafe:
                continue
            if not (self.close(value, stated) or self.close(value * 100, stated)):
                found.append(f"{written.strip()} is {value:g}, not {match.group(1)}")
            values.append(value)
        return values

    def close(self, value: float, stated: float) -> bool:
        return abs(value - stated) <= max(self.tolerance, 1e-9 * abs(stated))
