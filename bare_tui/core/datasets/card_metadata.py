"""The dataset card's front matter: the licence (found beside the seeds, or given), the
size category, and the metadata built with huggingface_hub's DatasetCardData and checked
the way the Hub checks it, offline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bare_tui.core.datasets.export_files import Layout
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError

# First words of a licence text -> its identifier on the dataset hubs.
LICENCES = (
    (r"MIT License", "mit"),
    (r"Apache License,?\s+Version 2\.0", "apache-2.0"),
    (r"Creative Commons Attribution-ShareAlike 4\.0|CC BY-SA 4\.0", "cc-by-sa-4.0"),
    (r"Creative Commons Attribution 4\.0|CC BY 4\.0", "cc-by-4.0"),
    (r"CC0 1\.0|Creative Commons Zero", "cc0-1.0"),
    (r"BSD 3-Clause", "bsd-3-clause"),
    (r"GNU GENERAL PUBLIC LICENSE\s+Version 3", "gpl-3.0"),
)
LICENCE_FILES = re.compile(r"(licen[cs]e|copying)", re.IGNORECASE)
SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))


@dataclass(frozen=True)
class Licence:
    id: str  # the hub's identifier, or "unknown"
    source: str  # where it was found, or why it is not known


def seeds_licence(store: Store, task: str) -> Licence:
    """The licence file beside the task's seed files (GSM8K_LICENSE beside gsm8k_*.jsonl),
    when one is there and known."""
    sources = {Path(row[0].rpartition(":")[0]) for row in store.conn.execute(
        "SELECT DISTINCT source FROM seeds WHERE task = ?", (task,)) if row[0]}
    found = []
    for seeds in sorted(sources):
        try:
            candidates = [p for p in seeds.parent.iterdir()
                          if LICENCE_FILES.search(p.name) and p.is_file()]
        except OSError:
            continue
        prefix = re.split(r"[-_.]", seeds.stem.lower())[0]
        candidates.sort(key=lambda p: (not p.name.lower().startswith(prefix), p.name))
        for path in candidates[:1]:
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[:2000]
            except OSError:
                continue
            known = next((ident for pattern, ident in LICENCES
                          if re.search(pattern, head, re.IGNORECASE)), None)
            found.append(Licence(known or "other", f"{path.name}, beside the seed file "
                                                   f"{seeds.name}"))
    if not found:
        return Licence("unknown", "no licence file beside the seed files")
    ids = {licence.id for licence in found}
    return found[0] if len(ids) == 1 else Licence("other", ", ".join(f.source for f in found))


def size_category(count: int) -> str:
    return next((name for limit, name in SIZES if count < limit), "n>10M")


# What the Hub's card validation accepts for the fields we fill (huggingface_hub's
# DatasetCardData documents the options; the licences are the Hub's identifiers).
HUB_LICENCES = frozenset("""
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
    bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd
    bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5
    cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0
    cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0
    cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0
    epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl
    lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr
    mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl
    lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3
    llama3.1 llama3.2 llama3.3 llama4 gemma unknown other""".split())
HUB_SIZES = {name for _limit, name in SIZES} | {"n>10M"}
TASK_CATEGORIES = ["text-generation"]


def given_licence(ident: str) -> Licence:
    """A licence named with --license, if the Hub knows its identifier."""
    if ident not in HUB_LICENCES:
        raise BareError(f"--license {ident!r} is not a licence identifier the dataset hubs "
                        "know (like mit, apache-2.0, cc-by-4.0; see huggingface.co/docs/hub/"
                        "repositories-licenses), or use 'other'")
    return Licence(ident, "given with --license")


def metadata(layout: Layout, counts: dict[str, int], licence: Licence,
             task: Recipe) -> Any:
    """The card's front matter, in the dataset hubs' conventions: licence, task
    categories, size category, tags, and configs with each split's file."""
    from huggingface_hub import DatasetCardData

    return DatasetCardData(
        license=licence.id, task_categories=TASK_CATEGORIES,
        size_categories=[size_category(sum(counts.values()))],
        tags=["synthetic", "bare", task.name], pretty_name=f"{task.name} (BARE)",
        configs=[{"config_name": "default", "data_files": [
            {"split": split, "path": path.name} for split, path in layout.data.items()]}])


def metadata_problems(data: Any) -> list[str]:
    """What the Hub's validation would refuse in front matter of ours: an unknown
    licence, size category or task category, or configs that name no file."""
    problems = []
    if data.license not in HUB_LICENCES:
        problems.append(f"license {data.license!r} is not an identifier the Hub knows")
    for size in data.size_categories or ["(none)"]:
        if size not in HUB_SIZES:
            problems.append(f"size_categories {size!r} is not one of the Hub's")
    for category in data.task_categories or ["(none)"]:
        if category not in TASK_CATEGORIES:
            problems.append(f"task_categories {category!r} is not one of ours")
    for config in getattr(data, "configs", None) or [{}]:
        files = config.get("data_files") or []
        if not config.get("config_name") or not files or not all(
                f.get("split") and f.get("path") for f in files):
            problems.append(f"config {config!r} needs a name and a split and path per file")
    return problems
