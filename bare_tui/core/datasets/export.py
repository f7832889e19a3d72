"""Write the curated set in a fine-tuning profile: one file per split (JSONL or Parquet),
a manifest that chains the task's exports, and a dataset card, all or none.

The profiles (fields, chat, alpaca, sharegpt, and the preference profiles dpo, dpo-chat,
kto, kto-chat) shape the rows: core/datasets/profiles.py.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bare_tui import __version__
from bare_tui.core.datasets import (
    card_metadata,
    dataset_card,
    export_files,
    preference,
    profiles,
)
from bare_tui.core.datasets.export_files import FileExists, Layout
from bare_tui.core.datasets.profiles import Shaping, shape
from bare_tui.core.inputs import splits
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.validation import validate
from bare_tui.core.measures import embeddings
from bare_tui.core.workspace import current, yields
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, ids_param, now, to_json
from bare_tui.errors import BareError
from bare_tui.text import shown_path

__all__ = ["PROFILES", "STATUS_FILTERS", "ExportResult", "FileExists", "export", "shape"]

PROFILES = profiles.PROFILES
STATUS_FILTERS = current.STATUS_FILTERS


@dataclass(frozen=True)
class ExportResult:
    path: Path  # the data file, or the folder of the splits
    manifest_path: Path
    card_path: Path
    written: int
    skipped_invalid: int
    skipped_unparsed: int
    files: dict[str, tuple[Path, int]] = field(default_factory=dict)  # split: (file, items)
    exported_before: int = 0  # left out by since_last
    skipped_unverified: int = 0  # the final text fails a verifier
    skipped_flagged: int = 0  # decontamination flagged it
    rows: int | None = None  # rows written, when a row is not an item (pairs, labels)
    unit: str = "items"  # what a row is
    skipped_no_pair: int = 0  # accepted items whose decisions make no pair asked for
    kinds: dict[str, int] = field(default_factory=dict)  # pairs per kind, labels per value

    def summary(self) -> list[str]:
        """What was written, as the CLI prints it and the review screen says it."""
        skipped = [f"{count} {why}" for count, why in (
            (self.exported_before, "exported before"),
            (self.skipped_invalid, "failing validation"),
            (self.skipped_unverified, "failing a verifier"),
            (self.skipped_flagged, "flagged by decontamination"),
            (self.skipped_unparsed, "unparsed"),
            (self.skipped_no_pair, "with no pair of the kinds asked for"))
            if count]
        note = f" (left out: {', '.join(skipped)})" if skipped else ""
        what = (f"{self.written} items" if self.rows is None
                else f"{self.rows} {self.unit} from {self.written} items")
        kinds = (" [" + ", ".join(f"{kind}: {n}" for kind, n in self.kinds.items()) + "]"
                 if self.kinds else "")
        if len(self.files) == 1:
            (path, _count), = self.files.values()
            lines = [f"wrote {what}{kinds} to {shown_path(path)}{note}"]
        else:
            lines = [f"wrote {what}{kinds}{note}:"] + [
                f"  {name}: {count} items, {shown_path(path)}"
                for name, (path, count) in self.files.items()]
        return [*lines, f"manifest {shown_path(self.manifest_path)}; dataset card "
                        f"{shown_path(self.card_path)}"]


def _models_used(store: Store, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    return store.query(
        "SELECT DISTINCT kind, model, model_sha256 FROM runs WHERE id IN ("
        f" SELECT run_id FROM candidates WHERE id {IN_IDS}"
        f" UNION SELECT run_id FROM refinements WHERE candidate_id {IN_IDS})"
        " ORDER BY kind, model",
        (ids_param(ids), ids_param(ids)),
    )


def exported_before(store: Store, task: str) -> set[int]:
    """Candidates an earlier export of the task wrote."""
    return {row[0] for row in store.conn.execute(
        "SELECT i.candidate_id FROM export_items i JOIN exports e ON e.id = i.export_id"
        " WHERE e.task = ?", (task,))}


def _previous(store: Store, task: str) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT id, coalesce(manifest, path) AS manifest, count, created_at FROM exports"
        " WHERE task = ? ORDER BY id DESC LIMIT 1", (task,))
    if not rows:
        return None
    row = rows[0]
    return {"export_id": row["id"], "manifest": row["manifest"], "count": row["count"],
            "created_at": row["created_at"]}


def _split(store: Store, task: str, ids: list[int], fractions: dict[str, float],
           rng_seed: int) -> tuple[dict[str, list[int]], bool]:
    """{split: ids} and whether the splits are stratified by cluster."""
    if len(fractions) == 1:
        return {next(iter(fractions)): ids}, False
    clusters = {row[0]: row[1] for row in store.conn.execute(
        "SELECT candidate_id, cluster FROM clusters WHERE task = ?", (task,))}
    stratified = any(i in clusters for i in ids)
    return splits.assign(ids, clusters, fractions, rng_seed), stratified


@dataclass(frozen=True)
class Include:
    """What an export takes beside the items that pass: those failing the recipe's
    checks, those whose final text fails a verifier, those decontamination flagged."""

    invalid: bool = False
    unverified: bool = False
    flagged: bool = False


@dataclass
class _Selection:
    """What an export writes: how many rows each item makes, by id (one, or its pairs
    or label; the rows themselves are made again as they are written), and what it left
    out."""

    chosen: dict[int, int] = field(default_factory=dict)
    skipped_invalid: int = 0
    skipped_unverified: int = 0
    skipped_flagged: int = 0
    skipped_unparsed: int = 0
    left_out: int = 0
    skipped_no_pair: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)  # pairs per kind, labels

    @property
    def rows(self) -> int:
        return sum(self.chosen.values())


def _select(store: Store, task: Recipe, status: str, include: Include, shaping: Shaping,
            earlier: set[int]) -> _Selection:
    picked = _Selection()
    flagged = set() if include.flagged else {row[0] for row in store.conn.execute(
        "SELECT DISTINCT candidate_id FROM contamination WHERE task = ?", (task.name,))}
    for item in current.of_task(store, task.name, shaping.status or status):
        if item.status == "pending" and shaping.profile in preference.KTO:
            continue
        if item.id in earlier:
            picked.left_out += 1
            continue
        fields = item.final_fields
        if fields is None:
            picked.skipped_unparsed += 1
            continue
        # a KTO negative is rejected for what it is: its checks do not keep it out
        negative = shaping.profile in preference.KTO and item.status == "rejected"
        if not negative and not include.invalid and validate(task, fields):
            picked.skipped_invalid += 1
            continue
        if not negative and not include.unverified and item.final_verified is False:
            picked.skipped_unverified += 1
            continue
        if item.id in flagged:
            picked.skipped_flagged += 1
            continue
        rows = shaping.rows(store, item)
        if not rows:
            picked.skipped_no_pair += 1
            continue
        picked.chosen[item.id] = len(rows)
        picked.versions[item.final_version] = picked.versions.get(item.final_version, 0) + 1
        for row in rows:
            kind = row.get("kind") or {True: "accepted", False: "rejected"}.get(row.get("label"))
            if kind:
                picked.kinds[kind] = picked.kinds.get(kind, 0) + 1
    return picked


def export(store: Store, task: Recipe, out: str | Path, *, profile: str = "chat",
           status: str = "accepted", include_invalid: bool = False,
           include_unverified: bool = False, include_flagged: bool = False,
           force: bool = False,
           split: dict[str, float] | None = None, rng_seed: int = 0,
           format: str | None = None, since_last: bool = False, license: str | None = None,
           embedding_model: embeddings.Model = None, embed: bool = False,
           on_embed_batch: Callable[[int, int], None] | None = None,
           on_note: Callable[[str], None] | None = None,
           pairs: str | None = None) -> ExportResult:
    """Write the data (one file per split), its manifest and its dataset card together;
    `force` replaces existing data and manifest files, `since_last` leaves out what an
    earlier export of the task wrote, `license` overrides the one found beside the seeds,
    `embed` (once everything is checked) embeds the texts the card's diversity measures
    (`on_embed_batch(done, total)` hears its progress; a failure is said to `on_note` and
    leaves the card without that measure), `pairs` names the kinds of pairs `dpo`
    writes ("edit,merge"; all when None). Every front end calls this one function.

    The files are renamed into place inside the workspace's transaction that records
    them, and put back as they were when that transaction fails to commit: the files
    change exactly when the workspace says they did."""
    if profile not in PROFILES:
        raise BareError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    fractions = split or {"train": 1.0}
    licence = (card_metadata.given_licence(license) if license
               else card_metadata.seeds_licence(store, task.name))
    export_files.refuse_special(store, Path(out), folder=True)
    layout = export_files.plan(out, list(fractions), format)
    if layout.format == "parquet":
        export_files.parquet_modules()
    export_files.check_target(store, layout, force=force)
    if pairs and profile not in preference.DPO:
        raise BareError(f"--pairs chooses the kinds of pairs of profile dpo or dpo-chat, "
                        f"not {profile}")
    shaping = Shaping(profile, profiles.templates(task, profile),
                      preference.parse_kinds(pairs))
    earlier = exported_before(store, task.name) if since_last else set()
    include = Include(include_invalid, include_unverified, include_flagged)
    picked = _select(store, task, status, include, shaping, earlier)
    _refuse_nothing_new(task, picked, since_last)
    if embed and picked.chosen:
        try:
            embeddings.embed(store, task, embedding_model, on_batch=on_embed_batch)
        except BareError as exc:
            if on_note is not None:
                on_note(f"the card's diversity is not measured: {exc}")
    placed: list[export_files.Placed] = []
    written: dict[str, export_files.Written] = {}
    made = export_files.make_folder(layout.folder) if layout.new_folder else None
    try:
        with store.transaction() as conn:
            latest = exported_before(store, task.name) if since_last else earlier
            if latest != earlier:
                # Another export of the task committed meanwhile: leave out its items too.
                picked = _select(store, task, status, include, shaping, latest)
                _refuse_nothing_new(task, picked, since_last)
            by_split, stratified = _split(store, task.name, sorted(picked.chosen), fractions,
                                          rng_seed)
            empty = [name for name, members in by_split.items() if not members]
            if len(fractions) > 1 and empty:
                raise BareError(f"split {empty[0]!r} would get none of the "
                                f"{len(picked.chosen)} items; export more items, or give it "
                                "a larger fraction")
            empty_row = shaping.empty_row(task.field_names)
            for name in fractions:
                written[name] = export_files.write_rows(
                    layout.data[name], _rows_of(store, shaping, by_split[name]),
                    layout.format, empty_row)
            ids = [i for name in fractions for i in by_split[name]]
            manifest = _record(store, conn, task, out, layout, shaping, status,
                               include, since_last, fractions, rng_seed, stratified,
                               by_split, written, ids, licence, picked)
            card = dataset_card.card(store, task, layout, manifest, licence, embedding_model)
            placed.append(export_files.place({
                **{layout.data[name]: written[name] for name in fractions},
                layout.manifest: (json.dumps(manifest, indent=2) + "\n").encode(),
                layout.card: card.encode()}, made))
    except BaseException:
        if placed:  # the COMMIT failed: the files go back to what the workspace says
            placed[0].undo()
        else:  # nothing placed: no temp file and no new folder stays behind
            for done in written.values():
                done.temp.unlink(missing_ok=True)
            if made is not None:
                with contextlib.suppress(OSError):
                    made.rmdir()
        raise
    placed[0].keep()
    return ExportResult(
        Path(out), layout.manifest, layout.card, len(ids), picked.skipped_invalid,
        picked.skipped_unparsed,
        {name: (layout.data[name], len(by_split[name])) for name in fractions},
        picked.left_out, picked.skipped_unverified, picked.skipped_flagged,
        **_rows_written(shaping, picked))


ROWS_READ = 1_000  # items read back at a time while their rows are written


def _rows_of(store: Store, shaping: Shaping, ids: list[int]) -> Iterator[dict[str, Any]]:
    """The rows of these items, in their order, read back a chunk at a time."""
    for start in range(0, len(ids), ROWS_READ):
        chunk = ids[start:start + ROWS_READ]
        items = current.many(store, chunk)
        for candidate_id in chunk:
            if candidate_id in items:  # (an import rolled back meanwhile takes its own)
                yield from shaping.rows(store, items[candidate_id])


def _rows_written(shaping: Shaping, picked: _Selection) -> dict[str, Any]:
    """What a preference export's rows are, and how many of each kind it wrote."""
    if shaping.profile not in preference.PROFILES:
        return {}
    unit = "pairs" if shaping.profile in preference.DPO else "labelled completions"
    return {"rows": picked.rows, "unit": unit, "skipped_no_pair": picked.skipped_no_pair,
            "kinds": dict(picked.kinds)}


def _refuse_nothing_new(task: Recipe, picked: _Selection, since_last: bool) -> None:
    """`--since-last` with nothing new: no empty file and no card for 0 items."""
    if since_last and not picked.chosen:
        raise BareError(f"nothing new to export in task {task.name}: the {picked.left_out} "
                        "items that qualify were all exported before (--since-last); "
                        "accept more first, or export without --since-last")


def _decontamination(store: Store, task: str, picked: _Selection) -> dict[str, Any]:
    """The evaluation sets that flagged items of the task, and what was left out."""
    return {"flagged_sets": [row[0] for row in store.conn.execute(
        "SELECT DISTINCT eval_set FROM contamination WHERE task = ? ORDER BY 1", (task,))],
        "left_out": picked.skipped_flagged}


def _record(store: Store, conn: Any, task: Recipe, out: str | Path, layout: Layout,
            shaping: Shaping, status: str, include: Include, since_last: bool,
            fractions: dict[str, float], rng_seed: int, stratified: bool,
            by_split: dict[str, list[int]], written: dict[str, export_files.Written],
            ids: list[int],
            licence: card_metadata.Licence, picked: _Selection) -> dict[str, Any]:
    """The export's rows in the workspace (inside the caller's transaction), and its
    manifest."""
    previous = _previous(store, task.name)
    profile = shaping.profile
    files = {name: {"file": shown_path(layout.data[name].name),
                    "sha256": written[name].sha256,
                    "count": len(by_split[name]), "rows": written[name].rows,
                    "candidate_ids": by_split[name]}
             for name in fractions}
    filters = {"status": shaping.status or status, "include_invalid": include.invalid,
               "include_unverified": include.unverified,
               "include_flagged": include.flagged, "since_last": since_last}
    export_id = conn.execute(
        "INSERT INTO exports (task, path, profile, filters, count, sha256, created_at,"
        " format, manifest, splits) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (task.name, shown_path(Path(out).resolve()), profile, to_json(filters), len(ids),
         files[next(iter(files))]["sha256"] if len(files) == 1 else None, now(),
         layout.format, shown_path(layout.manifest.resolve()),
         to_json({n: {k: v for k, v in f.items() if k != "candidate_ids"}
                  for n, f in files.items()}))).lastrowid
    conn.executemany(
        "INSERT INTO export_items (export_id, candidate_id, split) VALUES (?, ?, ?)",
        [(export_id, i, name) for name in fractions for i in by_split[name]])
    return {
        "export_id": export_id, "previous": previous, "created_at": now(),
        "bare_tui_version": __version__, "task": task.name,
        "recipe_sha256": task.sha256, "profile": profile, "format": layout.format,
        "filters": filters, "files": files, "count": len(ids),
        "split": {"fractions": fractions, "rng_seed": rng_seed,
                  "stratified_by_cluster": stratified},
        "card": shown_path(layout.card.name), "license": licence.id,
        "skipped": {"invalid": picked.skipped_invalid, "unparsed": picked.skipped_unparsed,
                    "unverified": picked.skipped_unverified,
                    "flagged": picked.skipped_flagged,
                    "exported_before": picked.left_out},
        "verifiers": [use.label for use in task.verifiers],
        "decontamination": _decontamination(store, task.name, picked),
        "versions": picked.versions, "models": _models_used(store, ids),
        "yield": yields.measure(store, task.name).as_dict(), "candidate_ids": ids,
        **_preference_record(shaping, picked),
    }


def _preference_record(shaping: Shaping, picked: _Selection) -> dict[str, Any]:
    """A preference export's rows in the manifest: pairs per kind, or labels."""
    if shaping.profile in preference.DPO:
        return {"rows": picked.rows, "pair_kinds": list(shaping.kinds),
                "pairs": {kind: picked.kinds.get(kind, 0) for kind in shaping.kinds},
                "skipped_no_pair": picked.skipped_no_pair}
    if shaping.profile in preference.KTO:
        return {"rows": picked.rows,
                "labels": {label: picked.kinds.get(label, 0)
                           for label in ("accepted", "rejected")}}
    return {}
