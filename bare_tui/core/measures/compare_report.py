"""A comparison's report (core/measures/compare.py) for people: a table of the arms, the
histograms of their pairwise similarities side by side, and what was compared how."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bare_tui.core.measures import diversity, judge
from bare_tui.core.workspace import yields
from bare_tui.text import clean

HEADER = ["arm", "model", "temp", "items", "parsed", "pass", "similarity", "IR (95% CI)",
          "judged", "tok/s", "wall"]


def _number(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def rows(data: dict[str, Any], *, models: bool = True) -> list[list[str]]:
    """One row per arm, cells as text (`models`: with the model's name)."""
    table = []
    for arm in data["arms"]:
        interval = arm["ir_interval"]
        ir = (f"{arm['ir']:.0%} ({100 * interval[0]:.0f}-{100 * interval[1]:.0f})"
              if arm["ir"] is not None else "unread" if arm["ir_trials"] else "-")
        table.append([arm["arm"], arm["model"], _number(arm["temperature"], "g"),
                      str(arm["made"]), yields.share(arm["parsed"], arm["made"]),
                      yields.share(arm["passing"], arm["made"]), _number(arm["similarity"], ".4f"),
                      ir, str(arm["ir_trials"]), _number(arm["tokens_per_s"], ".1f"),
                      f"{arm['wall_s']:.0f} s"])
    return table if models else [row[:1] + row[3:] for row in table]


def header(*, models: bool = True) -> list[str]:
    """The table's columns; without `models`, also without the model's temperature."""
    return HEADER if models else [HEADER[0], *HEADER[3:]]


def findings(data: dict[str, Any]) -> list[str]:
    """What the numbers say about the paper's two claims, whichever way they go."""
    arms = {arm["arm"]: arm for arm in data["arms"]}
    lines = []
    base, instruct, bare = (arms[name]["similarity"] for name in ("base", "instruct", "bare"))
    if base is not None and instruct is not None:
        verdict = "less" if base < instruct else "more"
        lines.append(f"Diversity: the base arm's items are {verdict} similar to each other "
                     f"than the instruct arm's ({base:.4f} vs {instruct:.4f}); the paper "
                     f"found base drafts more diverse (0.313 vs 0.421 at 70B, with another "
                     "embedding model).")
    if bare is not None and base is not None:
        lines.append(f"Refining moved the mean similarity from {base:.4f} (base) to "
                     f"{bare:.4f} (bare).{_drift(arms['bare'])}")
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


def markdown(data: dict[str, Any]) -> str:
    params = data["params"]
    when = datetime.fromtimestamp(data["created_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Comparison {data['comparison']}: task {data['task']}, {data['n']} items "
             "per arm", "",
             f"{when}; recipe sha256 `{data['recipe_sha256'][:16]}…`; rng seed "
             f"{params.get('rng_seed')}; judge {params.get('judge') or 'the instruct model'}, "
             f"{params.get('trials', 1)} trial(s) per item, lineups of 4 (chance 75%); "
             f"embeddings {data['embedding_model']}.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(data)]
    lines += ["", "Models:", ""]
    lines += [f"- {arm['arm']}: `{arm['model']}` sha256 `{arm['model_sha256']}`"
              for arm in data["arms"]]
    seeds = data.get("seeds_similarity")
    if seeds is not None:
        lines += ["", f"The seeds' own mean similarity: {seeds:.4f}."]
    lines += ["", *findings(data), "", "Pairwise cosine similarity within each arm (share "
              "of pairs per bin):", "", "```", *histogram(data), "```", ""]
    return clean("\n".join(lines))  # model names come from servers: no escapes run
