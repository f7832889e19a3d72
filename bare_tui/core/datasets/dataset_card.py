"""The dataset card (README.md) written beside every export.

Written with huggingface_hub's DatasetCard: front matter in the dataset hubs'
conventions (core/datasets/card_metadata.py), then a body from the workspace: the recipe
and its sampling, the models with their sha256, counts by status and the yield, BARE's
diversity of the exported set against the seeds, who reviewed and when, how much they
agreed, the rejects by tag, and how to load the files.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bare_tui.core.datasets.card_metadata import Licence, metadata, metadata_problems
from bare_tui.core.datasets.export_files import CARD_MARK, Layout
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import curation, diversity, embeddings, judge
from bare_tui.core.reviewing import agreement, tags
from bare_tui.core.workspace import current, yields
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, from_json, ids_param
from bare_tui.errors import BareError
from bare_tui.text import clean


def _date(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d") if stamp else "-"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(map(cell, row)) + " |" for row in rows), ""]


def _generation(store: Store, task: Recipe, ids: list[int]) -> list[str]:
    if not ids:
        return ["Nothing exported, so no models to name.", ""]
    runs = store.query(
        "SELECT kind, model, model_sha256, params, count(*) AS n FROM runs WHERE id IN ("
        f" SELECT run_id FROM candidates WHERE id {IN_IDS}"
        f" UNION SELECT run_id FROM refinements WHERE candidate_id {IN_IDS})"
        " GROUP BY kind, model, model_sha256, params ORDER BY kind, model",
        (ids_param(ids), ids_param(ids)))
    rows = []
    for run in runs:
        sampling = (from_json(run["params"]) or {}).get("sampling", {})
        sha = (run["model_sha256"] or "-")[:16]
        rows.append([run["kind"], f"`{Path(run['model'] or '-').name}`", f"`{sha}…`",
                     sampling.get("temperature", "-"), sampling.get("top_p", "-"),
                     sampling.get("min_p", "-"), sampling.get("max_tokens", "-"),
                     "yes" if sampling.get("constrain") else "no", run["n"]])
    imported = store.scalar(
        f"SELECT count(*) FROM candidates WHERE id {IN_IDS} AND origin IS NOT NULL",
        (ids_param(ids),))
    shots = ("the first seeds" if task.shot_selection == "static"
             else "seeds drawn at random for each prompt")
    lines = [f"Recipe `{task.name}` (sha256 `{task.sha256[:16]}…`): each draft prompt shows "
             f"{task.shot_count} examples, {shots}.", ""]
    lines += _table(["stage", "model", "sha256", "temperature", "top_p", "min_p",
                     "max_tokens", "grammar", "runs"], rows)
    if imported:
        lines += [f"{imported} of the items were imported from an existing dataset "
                  "(`bare-tui candidates import`) rather than drafted.", ""]
    lines += ["Full model hashes are in the manifest.", ""]
    return lines


def _preference(manifest: dict[str, Any]) -> list[str]:
    """How many pairs of each kind a `dpo` export holds, or labels a `kto` one."""
    if "pairs" in manifest:
        kinds = ", ".join(f"{kind} {count}" for kind, count in manifest["pairs"].items())
        return ["", f"Preference pairs: {manifest['rows']} ({kinds}). Each row prefers one "
                "version of an item to another and says which decision made it (`kind`): "
                "an edit or a merge over the refinement it replaced, the refinement over "
                "its draft or the draft over its refinement (whichever the curator "
                "accepted), a picked alternative over one not picked."]
    if "labels" in manifest:
        labels = manifest["labels"]
        return ["", f"KTO rows: {manifest['rows']}, labelled true for an accepted item "
                f"({labels['accepted']}) and false for a rejected one ({labels['rejected']})."]
    return []


def _verification(manifest: dict[str, Any]) -> list[str]:
    """Which verifiers ran, and what the export left out for them."""
    names = manifest.get("verifiers") or []
    if not names:
        return ["No verifier ran: the recipe names none, so items were checked for their "
                "shape only, not for being right."]
    left_out = manifest["skipped"].get("unverified", 0)
    included = manifest["filters"].get("include_unverified")
    said = (f"{left_out} item{'' if left_out == 1 else 's'} whose final text fails a "
            "verifier were left out" if left_out else "no item failed a verifier")
    return [f"Verifiers: {', '.join(f'`{name}`' for name in names)}; "
            + ("items failing one were included (--include-unverified)." if included
               else f"{said}.")]


def _decontamination(manifest: dict[str, Any]) -> list[str]:
    """The evaluation sets checked against, and how many items were removed."""
    found = manifest.get("decontamination") or {}
    sets = found.get("flagged_sets") or []
    if not sets:
        return ["", "Decontamination: no flag against any evaluation set is recorded "
                "(`bare-tui decontam --against SET` checks one)."]
    removed = found.get("left_out", 0)
    return ["", f"Decontamination against {', '.join(f'`{name}`' for name in sets)}: "
            + (f"{removed} flagged item{'' if removed == 1 else 's'} removed."
               if not manifest["filters"].get("include_flagged")
               else "flagged items were included (--include-flagged).")]


def _counts(store: Store, task: Recipe) -> list[str]:
    status = Counter(item.status for item in current.of_task(store, task.name))
    lines = _table(["status", "items"], [[name, status.get(name, 0)]
                                          for name in ("accepted", "pending", "rejected")])
    return [*lines, *(f"- {line}" for line in yields.measure(store, task.name).lines()), ""]


def _diversity(store: Store, task: Recipe, ids: list[int], model: embeddings.Model) -> list[str]:
    have, matrix = curation.current_vectors(store, task, model)
    seed_matrix = embeddings.vectors(store, task, "seed", model)[1]
    wanted = set(ids)
    rows = [row for row, candidate in enumerate(have) if candidate in wanted]
    seeds = diversity.diversity(seed_matrix) if len(seed_matrix) >= 2 else None
    if len(rows) < 2:
        why = ("a single item has no pair to compare" if rows else "the exported items have "
               "no embeddings yet (`bare-tui embed`, then export again)")
        lines = [f"Not measured for the exported items: {why}.", ""]
        if seeds:
            lines += _table(["set", "items", "mean similarity"],
                            [["seeds", seeds.size, f"{seeds.mean_similarity:.4f}"]])
        return lines
    exported = diversity.diversity(matrix[rows])
    lines = ["BARE's diversity metric: the mean pairwise cosine similarity of the items' "
             "embeddings (lower is more diverse).", ""]
    table = [["exported", exported.size, f"{exported.mean_similarity:.4f}"]]
    if seeds:
        table.append(["seeds", seeds.size, f"{seeds.mean_similarity:.4f}"])
    # What refining did to the whole task's diversity: drifted refinements raise it. The
    # proposed items are the current texts already read above.
    drafts = curation.set_vectors(store, task, "drafts", model)
    for label, whole in (("all drafts", drafts), ("all proposed items", matrix)):
        if len(whole) >= 2:
            table.append([label, len(whole),
                          f"{diversity.mean_pairwise_cosine(whole):.4f}"])
    lines += _table(["set", "items", "mean similarity"], table)
    if len(rows) < len(ids):
        lines += [f"Measured over the {len(rows)} of {len(ids)} exported items that have "
                  "embeddings.", ""]
    how = "a sample of pairs" if exported.sampled else "all pairs"
    lines += [f"Pairwise similarities ({how}; share of pairs per bin):", "", "```",
              *diversity.overlay_text(exported.edges, {
                  "exported": exported.counts, **({"seeds": seeds.counts} if seeds else {})}),
              "```", ""]
    return lines


def _judge(store: Store, task: Recipe, ids: list[int]) -> list[str]:
    rate = judge.rate(store, task.name, candidate_ids=ids) if ids else judge.Rate(0, 0)
    if not rate.trials:
        return []
    models = [f"`{Path(r['model']).name}`, sha256 `{(r['model_sha256'] or '-')[:16]}…`, "
              f"protocol {r['protocol'] or 'strict'}"
              for r in store.query(
                  "SELECT DISTINCT r.model, r.model_sha256, j.protocol FROM runs r JOIN"
                  f" judgments j ON j.run_id = r.id WHERE j.candidate_id {IN_IDS}",
                  (ids_param(ids),))]
    return ["## Judge", "",
            f"{rate.text()}. Each trial shows the judge model ({'; '.join(models)}) an "
            f"item among {judge.K - 1} real items at a random place and asks which one is "
            "of low quality; IR is the share of trials in which the item was not picked "
            "(the latest judge run of each item).", ""]


def _reviewers(store: Store, task: Recipe) -> list[str]:
    rows = store.query(
        "SELECT coalesce(d.reviewer, '-') AS reviewer, sum(d.status = 'accepted') AS accepted,"
        " sum(d.status = 'rejected') AS rejected, min(d.updated_at) AS first,"
        " max(d.updated_at) AS last FROM decisions d JOIN candidates c ON c.id = d.candidate_id"
        " WHERE c.task = ? AND d.status != 'pending' GROUP BY d.reviewer ORDER BY d.reviewer",
        (task.name,))
    if not rows:
        return ["No review decisions: the items were exported unreviewed.", ""]
    return _table(["reviewer", "accepted", "rejected", "first decision", "last decision"],
                  [[r["reviewer"], r["accepted"], r["rejected"], _date(r["first"]),
                    _date(r["last"])] for r in rows])


def _agreement(store: Store, task: Recipe) -> list[str]:
    """How much reviewers agreed on the items several of them decided (the whole task)."""
    found = agreement.measure(store, task.name, task.tags)
    if not found.items:
        return []

    def number(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    interval = (f" (95% interval {found.interval[0]:.3f} to {found.interval[1]:.3f}, "
                "bootstrap over items)" if found.interval else "")
    lines = [f"{found.items} items were decided by two or more of {len(found.reviewers)} "
             f"reviewers, who decided them alike on {found.agreed}. Krippendorff's alpha "
             f"(nominal): {number(found.alpha)}{interval}.", ""]
    lines += _table(["reviewers", "items", "agree", "Cohen's kappa"],
                    [[" & ".join(pair.reviewers), pair.items, pair.agreed, number(pair.kappa)]
                     for pair in found.pairs])
    if found.tags:
        lines += _table(["tag", "items any reviewer tagged", "all tagged", "alpha"],
                        [[t.tag, t.items, t.all_gave, number(t.alpha)] for t in found.tags])
    return lines


def _tags(store: Store, task: Recipe) -> list[str]:
    """Rejected items per tag and the version each tag was given to (the whole task)."""
    found = tags.counts(store, task.name, task.tags)
    if not any(count.total for count in found):
        return []
    return ["## Rejects by tag (the whole task)", "",
            "What curators named when they rejected an item, and whether the tag was given "
            "to the draft, the refinement or an edit: what refining fixes and what it makes.",
            "", *_table(["tag", "drafts", "refinements", "edits"],
                        [[count.tag, *(count.by_version[v] for v in tags.VERSIONS)]
                         for count in found])]


def _loading(layout: Layout) -> list[str]:
    builder = "parquet" if layout.format == "parquet" else "json"
    files = ", ".join(f'"{split}": "{path.name}"' for split, path in layout.data.items())
    lines = ["```python", "from datasets import load_dataset", ""]
    if layout.card.name == "README.md":
        lines += ["# the folder: its splits come from this card's configs",
                  f'dataset = load_dataset("{layout.folder}")', ""]
    lines += ["# or the files themselves",
              f'dataset = load_dataset("{builder}", data_files={{{files}}})', "```", ""]
    return lines


def _reviewed(store: Store, ids: list[int]) -> str:
    decided = store.scalar(f"SELECT count(*) FROM decisions WHERE candidate_id {IN_IDS}"
                           " AND status != 'pending'", (ids_param(ids),)) if ids else 0
    if not decided:
        return "; no one has reviewed them yet"
    return f"; a curator reviewed {'them' if decided == len(ids) else f'{decided} of them'}"


def card(store: Store, task: Recipe, layout: Layout, manifest: dict[str, Any],
         licence: Licence, embedding_model: embeddings.Model = None) -> str:
    """The whole card as Markdown."""
    counts = {split: info["count"] for split, info in manifest["files"].items()}
    ids = manifest["candidate_ids"]
    total = sum(counts.values())
    lines = [f"# {task.name}: {task.count_of(total)}", "",
             f"Made with BARE (Base-Refine) in bare-tui {manifest['bare_tui_version']}: a "
             "base model drafted diverse candidates from a few seed examples and an "
             f"instruct model refined each one{_reviewed(store, ids)}. Written "
             f"{_date(manifest['created_at'])}, export {manifest['export_id']} of this "
             "workspace.", ""]
    lines += _table(["split", "file", "items"],
                    [[split, f"`{layout.data[split].name}`", count]
                     for split, count in counts.items()])
    filters = manifest["filters"]
    chosen = [f"status {filters['status']}"]
    if filters.get("since_last"):
        chosen.append("only items no earlier export wrote")
    if not filters.get("include_invalid"):
        chosen.append("passing the recipe's checks")
    if manifest.get("verifiers") and not filters.get("include_unverified"):
        chosen.append("not failing a verifier")
    if not filters.get("include_flagged"):
        chosen.append("not flagged by decontamination")
    lines += [f"Profile `{manifest['profile']}`, format {layout.format}; items chosen by "
              f"{', '.join(chosen)}.", "", *_verification(manifest),
              *_decontamination(manifest)]
    lines += _preference(manifest)
    split = manifest.get("split")
    if split and len(counts) > 1:
        how = ("stratified by diversity cluster" if split["stratified_by_cluster"]
               else "not stratified (no clusters)")
        lines.append(f"Splits drawn with seed {split['rng_seed']}, {how}.")
    lines += ["", "## Licence", ""]
    lines.append(f"`{licence.id}`, from {licence.source}." if licence.id not in
                 ("unknown", "other") else
                 f"`{licence.id}`: {licence.source}. This is a placeholder: set the licence "
                 "of the seeds and models before publishing (`bare-tui export --license ID`).")
    lines += ["", "## Generation", "", *_generation(store, task, ids)]
    lines += ["## Counts and yield (the whole task)", "", *_counts(store, task)]
    lines += ["## Diversity", "", *_diversity(store, task, ids, embedding_model)]
    lines += _judge(store, task, ids)
    lines += ["## Review", "", *_reviewers(store, task), *_agreement(store, task)]
    lines += _tags(store, task)
    lines += ["## Loading", "", *_loading(layout)]
    return _written(metadata(layout, counts, licence, task), lines)


def _written(data: Any, body: list[str]) -> str:
    """The card as huggingface_hub's DatasetCard writes it: front matter, our mark, the
    body. Names in it come from outside (a server's model list, reviewers, a licence):
    a reader's `cat README.md` must not run their terminal escapes."""
    from huggingface_hub import DatasetCard

    problems = metadata_problems(data)
    if problems:
        raise BareError(f"the dataset card's front matter would not pass the Hub's checks: "
                        f"{problems[0]}")
    text = clean("\n".join(body).rstrip())
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{CARD_MARK}\n\n{text}\n").content
