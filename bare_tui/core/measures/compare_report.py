"""A comparison's report (core/measures/compare.py) for people: a table of the arms, the
histograms of their pairwise similarities side by side, and what was compared how."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bare_tui.core.measures import diversity, judge
from bare_tui.core.workspace import yields
from bare_tui.text import clean

HEADER = ["arm", "model", "temp", "grammar", "items", "parsed", "pass", "verified (95% CI)",
          "similarity (95% CI)", "IR (95% CI)", "judged", "tok/s", "wall"]
MIN_ITEMS = 200  # below this, a report warns that its intervals are wide
NAMES = {"base": "base drafts", "instruct": "instruct-only", "bare": "BARE"}


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _share(count: int, total: int, interval: list[float] | None) -> str:
    if not total or interval is None:
        return "-"
    return f"{count / total:.0%} ({100 * interval[0]:.0f}-{100 * interval[1]:.0f})"


def rows(data: dict[str, Any], *, models: bool = True) -> list[list[str]]:
    """One row per arm, cells as text (`models`: with the model's name)."""
    table = []
    for arm in data["arms"]:
        interval = arm["ir_interval"]
        ir = (f"{arm['ir']:.0%} ({100 * interval[0]:.0f}-{100 * interval[1]:.0f})"
              if arm["ir"] is not None else "unread" if arm["ir_trials"] else "-")
        spread = arm.get("similarity_interval")
        similarity = (f"{arm['similarity']:.3f} ({spread['low']:.3f}-{spread['high']:.3f})"
                      if spread else _number(arm["similarity"], ".3f"))
        grammar = {True: "yes", False: "no"}.get(arm.get("constrained"), "-")
        table.append([arm["arm"], arm["model"], _number(arm["temperature"], "g"), grammar,
                      str(arm["made"]), yields.share(arm["parsed"], arm["made"]),
                      yields.share(arm["passing"], arm["made"]),
                      _share(arm.get("verified", 0), arm["parsed"], arm.get("verified_interval")),
                      similarity, ir, str(arm["ir_trials"]), _number(arm["tokens_per_s"], ".1f"),
                      f"{arm['wall_s']:.0f} s"])
    return table if models else [row[:1] + row[3:] for row in table]


# The table in two parts, for a terminal 80 columns wide: how each arm was made, and
# what was measured.
PARTS = (("arm", "grammar", "items", "parsed", "pass", "verified (95% CI)", "tok/s", "wall"),
         ("arm", "similarity (95% CI)", "IR (95% CI)", "judged"))


def parts(data: dict[str, Any]) -> list[tuple[list[str], list[list[str]]]]:
    """The table (without models) as PARTS: [(columns, rows)]."""
    columns = header(models=False)
    table = rows(data, models=False)
    split = []
    for part in PARTS:
        index = [columns.index(name) for name in part]
        split.append((list(part), [[row[i] for i in index] for row in table]))
    return split


def header(*, models: bool = True) -> list[str]:
    """The table's columns; without `models`, also without the model's temperature."""
    return HEADER if models else [HEADER[0], *HEADER[3:]]


def _signed(value: float, spec: str = ".3f") -> str:
    return format(value, "+" + spec).replace("-", "\u2212")


def _interval(gap: dict[str, float], spec: str = ".3f") -> str:
    return f"95% interval {_signed(gap['low'], spec)} to {_signed(gap['high'], spec)}"


def similarity_verdict(first: str, data: dict[str, Any]) -> str | None:
    """Whether `first` ("base" or "bare") is more diverse than instruct-only, in words:
    lower mean similarity is more diverse."""
    gap = data.get("differences", {}).get(f"{first}-instruct similarity")
    if gap is None:
        return None
    arms = {arm["arm"]: arm for arm in data["arms"]}
    who = NAMES[first]
    numbers = (f"similarity {arms[first]['similarity']:.3f} vs "
               f"{arms['instruct']['similarity']:.3f}, difference {_signed(gap['value'])}, "
               f"{_interval(gap)}")
    opening = who[0].upper() + who[1:]
    if gap["high"] < 0:
        return f"{opening} {_are(who)} more diverse than instruct-only: {numbers}."
    if gap["low"] > 0:
        return f"{opening} {_are(who)} less diverse than instruct-only: {numbers}."
    return (f"The data cannot tell whether {who} {_are(who)} more or less diverse than "
            f"instruct-only: {numbers}, which holds 0.")


def _are(who: str) -> str:
    return "are" if who.endswith("s") else "is"


def ir_verdict(data: dict[str, Any]) -> str | None:
    """Whether BARE's items pass the judge more often than instruct-only's."""
    gap = data.get("differences", {}).get("bare-instruct IR")
    arms = {arm["arm"]: arm for arm in data["arms"]}
    if gap is None or arms["bare"]["ir"] is None or arms["instruct"]["ir"] is None:
        return None
    numbers = (f"IR {arms['bare']['ir']:.0%} vs {arms['instruct']['ir']:.0%}, difference "
               f"{_signed(100 * gap['value'], '.0f')} points, 95% interval "
               f"{_signed(100 * gap['low'], '.0f')} to {_signed(100 * gap['high'], '.0f')}")
    if gap["low"] > 0:
        return f"BARE's items pass the judge more often than instruct-only's: {numbers}."
    if gap["high"] < 0:
        return f"BARE's items pass the judge less often than instruct-only's: {numbers}."
    return (f"The data cannot tell whether BARE's items pass the judge more or less often "
            f"than instruct-only's: {numbers}, which holds 0.")


def refining_verdict(data: dict[str, Any]) -> str | None:
    """Whether refining changed IR: each draft and its refinement in the same lineup."""
    paired = data.get("differences", {}).get("base-bare IR paired")
    if paired is None:
        return None
    first, second = paired["first_only"], paired["second_only"]
    numbers = (f"{paired['pairs']} drafts and their refinements in the same lineups; "
               f"{second} passed only refined, {first} only as drafts; McNemar exact "
               f"p = {paired['p_value']:.3f}")
    if paired["p_value"] < 0.05:
        way = "raised" if second > first else "lowered"
        return f"Refining {way} IR: {numbers}."
    return f"The data cannot tell whether refining changed IR: {numbers}."


def _unread_arms(data: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """Arms that were judged but none of whose replies could be read."""
    return [arm["arm"] for arm in data["arms"]
            if arm["arm"] in names and arm["ir"] is None and arm.get("ir_trials")]


def verdicts(data: dict[str, Any]) -> list[str]:
    """The paper's claims, one plain sentence each, or that the data cannot tell (and,
    where the judge's replies could not be read, why)."""
    found = [similarity_verdict("bare", data), similarity_verdict("base", data)]
    unread = _unread_arms(data, ("instruct", "bare"))
    found.append(ir_verdict(data) or (unread and (
        "The data cannot tell whether BARE's items pass the judge more often than "
        f"instruct-only's: the judge's replies on the {' and '.join(unread)} arm"
        f"{'s' * (len(unread) > 1)} could not be read.")))
    unread = _unread_arms(data, ("base", "bare"))
    found.append(refining_verdict(data) or (unread and (
        "The data cannot tell whether refining changed IR: the judge's replies on the "
        f"{' and '.join(unread)} arm{'s' * (len(unread) > 1)} could not be read.")))
    return [line for line in found if line]


def warnings(data: dict[str, Any]) -> list[str]:
    """What weakens the verdicts: too few items, a judge grading its own work, a judge
    that favours a place or does not land near chance on real items."""
    lines = []
    judged = data.get("judge", {})
    if judged.get("self_judged"):
        lines.append(f"Self-judged: the judge ({judged['model']}) wrote or refined the "
                     f"{', '.join(judged['self_judged'])} arm(s); a judge favours its own "
                     "model's text. Name another with --judge FILE.gguf or --judge-server URL.")
    if data["n"] < MIN_ITEMS:
        needs = []
        for key, what in (("bare-instruct similarity", "BARE from instruct-only on "
                           "similarity"), ("bare-instruct IR", "BARE from instruct-only on IR"),
                          ("base-instruct similarity", "base drafts from instruct-only on "
                           "similarity")):
            gap = data.get("differences", {}).get(key)
            if gap and gap.get("items_to_separate"):
                needs.append(f"about {gap['items_to_separate']:,} per arm would separate "
                             f"{what}")
        lines.append(f"Only {data['n']} items per arm (fewer than {MIN_ITEMS}): intervals are "
                     "wide" + (f"; at the gaps observed, {'; '.join(needs)} (95% interval "
                               "clear of 0, 80% power)." if needs else "."))
    calibration = judged.get("calibration")
    if calibration and calibration["ir"] is not None:
        low, high = calibration["interval"]
        near = "holds" if low <= judge.CHANCE <= high else "misses"
        lines.append(f"Calibration: shown {calibration['read']} real items among real ones, "
                     f"the judge gave IR {calibration['ir']:.0%} (95% {low:.0%}-{high:.0%}); "
                     f"75% is expected, and the interval {near} it.")
    elif calibration:
        lines.append(f"Calibration: none of the judge's {calibration['trials']} replies on "
                     "real items could be read.")
    counts = judged.get("positions")
    if counts and sum(counts):
        p_value = judged.get("positions_p")
        shown = ", ".join(f"{place}: {count}" for place, count in enumerate(counts, 1))
        flag = ("" if p_value is None else
                f"; it favours a place (chi-square p = {p_value:.3f}): IR leans on where an "
                "item stands" if judged.get("positions_uneven", p_value < 0.05) else
                f"; no sign of a favourite place (chi-square p = {p_value:.2f})")
        lines.append(f"Places the judge named (each 25% when it has no favourite): "
                     f"{shown}{flag}.")
    return lines


def positions_chart(data: dict[str, Any], width: int = 30) -> list[str]:
    """The places the judge named, as a histogram of text bars (25% each is even)."""
    counts = data.get("judge", {}).get("positions") or []
    total = sum(counts)
    if not total:
        return []
    top = max(counts)
    return ["place  share  answers"] + [
        f"{place:>5}  {count / total:>5.0%}  {'#' * round(width * count / top):<{width}} {count}"
        for place, count in enumerate(counts, 1)]


def findings(data: dict[str, Any]) -> list[str]:
    """What the numbers say about the paper's two claims, whichever way they go."""
    arms = {arm["arm"]: arm for arm in data["arms"]}
    lines = []
    base, bare = arms["base"]["similarity"], arms["bare"]["similarity"]
    if bare is not None and base is not None:
        lines.append(f"Refining moved the mean similarity from {base:.4f} (base) to "
                     f"{bare:.4f} (bare).{_drift(arms['bare'])} The paper found base drafts "
                     "more diverse than instruct-only (0.313 vs 0.421 at 70B, with another "
                     "embedding model).")
    rated = [(name, arms[name]) for name in ("base", "instruct", "bare")
             if arms[name]["ir"] is not None]
    if rated:
        lines.append("IR (chance is 75%): " + ", ".join(
            f"{name} {arm['ir']:.0%}" for name, arm in rated) + ".")
    unread = [(name, arms[name].get("ir_trials")) for name in ("base", "instruct", "bare")
              if arms[name]["ir"] is None and arms[name].get("ir_trials")]
    for name, trials in unread:
        lines.append(f"No IR for the {name} arm: {judge.UNREAD.format(n=trials)}.")
    return lines


def _drift(bare: dict[str, Any]) -> str:
    """The bare arm's drift (core/inputs/drift.py): refinements that replaced their draft
    bring the instruct model's sameness back."""
    drifted, parsed = bare.get("drifted"), bare["parsed"]
    if drifted is None or not parsed:
        return ""
    return (f" {drifted} of {parsed} refinements ({yields.share(drifted, parsed)}) drifted "
            "from their draft" + (": items of the instruct model's own, which lose the "
                                  "drafts' diversity." if drifted else "."))


def histogram(data: dict[str, Any]) -> list[str]:
    shown = data["histograms"]
    if not shown:
        return []
    edges = next(iter(shown.values()))["edges"]
    return diversity.overlay_text(edges, {name: h["counts"] for name, h in shown.items()},
                                  width=14)


def heading(data: dict[str, Any]) -> str:
    self_judged = " (self-judged)" if data.get("judge", {}).get("self_judged") else ""
    return (f"Comparison {data['comparison']}: task {data['task']}, {data['n']} items per "
            f"arm{self_judged}")


def method(data: dict[str, Any]) -> str:
    """How the comparison was made and measured, in one paragraph."""
    params, judged = data["params"], data.get("judge", {})
    when = datetime.fromtimestamp(data["created_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    sha = judged.get("model_sha256") or "-"
    return (f"{when}; recipe sha256 `{data['recipe_sha256'][:16]}…`; rng seed "
            f"{params.get('rng_seed')}; grammar: {params.get('constrain', 'refine')}; judge "
            f"`{judged.get('model', '-')}` (sha256 `{sha[:16]}`), protocol "
            f"{judged.get('protocol', 'strict')}, {params.get('trials', 1)} trial(s) per item, "
            f"lineups of 4 (chance 75%) from {judged.get('pool') or 'the seeds'}; embeddings "
            f"{data['embedding_model']}. Intervals: bootstrap (items resampled, 2,000 times) "
            "for similarity, Wilson for shares and IR, Newcombe for the IR difference, "
            "McNemar's exact test for drafts vs refinements in the same lineups.")


def markdown(data: dict[str, Any]) -> str:
    lines = [f"# {heading(data)}", "", *verdicts(data), "", *warnings(data), "",
             method(data), "", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(data)]
    lines += ["", "Models:", ""]
    lines += [f"- {arm['arm']}: `{arm['model']}` sha256 `{arm['model_sha256']}`"
              for arm in data["arms"]]
    seeds = data.get("seeds_similarity")
    if seeds is not None:
        lines += ["", f"The seeds' own mean similarity: {seeds:.4f}."]
    lines += ["", *findings(data), "", "IR and similarity are the paper's proxies for "
              "quality and diversity, not its fine-tuning results.", "",
              "Pairwise cosine similarity within each arm (share of pairs per bin):", "",
              "```", *histogram(data), "```", ""]
    chart = positions_chart(data)
    if chart:
        lines += ["Places the judge named in its lineups:", "", "```", *chart, "```", ""]
    return clean("\n".join(lines))  # model names come from servers: no escapes run
