"""Ready-to-train exports: named splits stratified by cluster, Parquet, --since-last with
chained manifests, the dataset card, and the round trip through `datasets.load_dataset`."""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bare_tui.core.datasets.dataset_import import import_candidates
from bare_tui.core.datasets.export import export
from bare_tui.core.inputs import splits
from bare_tui.core.inputs.recipes import resolve
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import curation, embeddings
from bare_tui.core.reviewing import review
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, run_cli

THEMES = ["marbles", "apples", "trains", "cookies", "stamps", "dollars", "books", "eggs"]
WORDS = {"marbles": "rolls {n} glass marbles into a jar and {m} more",
         "apples": "picks {n} apples in the orchard and {m} more from the tree",
         "trains": "a train travels {n} miles before noon and {m} miles after",
         "cookies": "bakes {n} chocolate cookies in the oven and {m} more",
         "stamps": "collects {n} postage stamps from letters and {m} more",
         "dollars": "saves {n} dollars in the bank and earns {m} dollars more",
         "books": "reads {n} pages of a library book and {m} pages more",
         "eggs": "the hens lay {n} eggs on the farm and {m} eggs more"}


def _items(count: int, start: int = 0) -> list[dict[str, str]]:
    """Word problems on eight themes, each with a right answer line."""
    records = []
    for i in range(start, start + count):
        theme = THEMES[i % len(THEMES)]
        n, m = i + 2, i % 7 + 1
        question = f"Item {i}: Sam {WORDS[theme].format(n=n, m=m)}. How many in all?"
        records.append({"question": question, "answer": f"{n} + {m} = {n + m}\n#### {n + m}"})
    return records


def _workspace(path: Path, count: int, source: Path) -> Store:
    source.write_text("".join(json.dumps(r) + "\n" for r in _items(count)))
    store = Store(path)
    task = resolve(store, "gsm8k")
    import_seeds(store, task, GSM8K_SEEDS)
    import_candidates(store, task, source)
    return store


@pytest.fixture(scope="module")
def clustered(tmp_path_factory) -> Path:
    """400 accepted items, embedded with the real model and clustered by their themes."""
    folder = tmp_path_factory.mktemp("clustered")
    with _workspace(folder / "w.db", 400, folder / "items.jsonl") as store:
        task = resolve(store, "gsm8k")
        embeddings.embed(store, task)
        curation.recluster(store, task, k=8)
        review.decide(store, list(range(1, 401)), "accept", "ann")
    return folder / "w.db"


@pytest.fixture
def workspace(clustered, tmp_path) -> Store:
    shutil.copy(clustered, tmp_path / "w.db")
    with Store(tmp_path / "w.db") as store:
        yield store


def _ids(manifest_path: Path) -> dict[str, list[int]]:
    manifest = json.loads(manifest_path.read_text())
    return {name: info["candidate_ids"] for name, info in manifest["files"].items()}


def _front_matter(card: Path) -> dict:
    text = card.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


# --- splits ---------------------------------------------------------------------------------

def test_split_specs_are_checked():
    assert splits.parse("train=0.8, validation=0.1,test=0.1") == {
        "train": 0.8, "validation": 0.1, "test": 0.1}
    for spec, message in (("train=0.8,validation=0.1", "add up to 0.9"),
                          ("train", "not NAME=FRACTION"), ("train=x,test=0.5", "not a number"),
                          ("train=1.5,test=-0.5", "above 0"), ("a=0.5,a=0.5", "twice"),
                          ("9x=1", "not NAME=FRACTION")):
        with pytest.raises(BareError, match=message):
            splits.parse(spec)


def test_assignment_is_stratified_disjoint_and_follows_the_seed():
    ids = list(range(1, 501))
    groups = {i: i % 13 for i in ids if i % 50}  # 13 clusters; every 50th unclustered
    fractions = {"train": 0.8, "validation": 0.1, "test": 0.1}
    first = splits.assign(ids, groups, fractions, seed=3)
    assert sorted(i for members in first.values() for i in members) == ids
    assert {n: len(m) for n, m in first.items()} == {"train": 400, "validation": 50, "test": 50}
    assert first == splits.assign(ids, groups, fractions, seed=3)
    assert first != splits.assign(ids, groups, fractions, seed=4)
    for members in first.values():
        assert {groups[i] for i in members if i in groups} == set(range(13))


@pytest.mark.models
def test_splits_of_a_clustered_workspace(workspace, tmp_path):
    task = resolve(workspace, "gsm8k")
    spec = {"train": 0.8, "validation": 0.1, "test": 0.1}
    result = export(workspace, task, tmp_path / "a", profile="fields", split=spec, rng_seed=7)
    assert {name: count for name, (_, count) in result.files.items()} == {
        "train": 320, "validation": 40, "test": 40}
    chosen = _ids(result.manifest_path)
    every = [i for members in chosen.values() for i in members]
    assert len(every) == len(set(every)) == 400  # disjoint, and cover the selection
    again = export(workspace, task, tmp_path / "b", profile="fields", split=spec, rng_seed=7)
    assert _ids(again.manifest_path) == chosen
    other = export(workspace, task, tmp_path / "c", profile="fields", split=spec, rng_seed=8)
    assert _ids(other.manifest_path) != chosen
    clusters = dict(workspace.conn.execute("SELECT candidate_id, cluster FROM clusters"))
    big = {c for c, n in Counter(clusters.values()).items() if n >= 10}
    assert len(big) >= 5
    for members in chosen.values():
        spanned = {clusters[i] for i in members} & big
        assert len(spanned) >= 0.8 * len(big)
    # Each file holds its split's items, in the manifest's order.
    for name, (path, _) in result.files.items():
        questions = [json.loads(line)["question"] for line in path.read_text().splitlines()]
        assert [int(q.split(":")[0].removeprefix("Item ")) + 1 for q in questions] == \
            chosen[name]
    assert json.loads(result.manifest_path.read_text())["split"]["stratified_by_cluster"]


def test_a_split_left_empty_is_refused(drafted, gsm8k, tmp_path):
    review.decide(drafted, [1, 3], "accept", "ann")
    with pytest.raises(BareError, match="split 'test' would get none of the 2 items"):
        export(drafted, gsm8k, tmp_path / "out", split={"train": 0.9, "test": 0.1})
    assert not (tmp_path / "out").exists()


# --- the ecosystem's loader ---------------------------------------------------------------

@pytest.fixture
def hf_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    return pytest.importorskip("datasets")


@pytest.mark.models
@pytest.mark.parametrize("format", ["jsonl", "parquet"])
def test_the_folder_loads_with_datasets(workspace, tmp_path, hf_offline, format):
    if format == "parquet":
        pytest.importorskip("pyarrow")
    task = resolve(workspace, "gsm8k")
    spec = {"train": 0.8, "validation": 0.1, "test": 0.1}
    folder = tmp_path / "gsm8k-set"
    export(workspace, task, folder, split=spec, format=format)
    card = _front_matter(folder / "README.md")
    declared = {entry["split"]: entry["path"] for entry in card["configs"][0]["data_files"]}
    assert declared == {name: f"{name}.{format}" for name in spec}
    dataset = hf_offline.load_dataset(str(folder))
    assert {name: len(dataset[name]) for name in dataset} == {
        "train": 320, "validation": 40, "test": 40}
    assert all(dataset[name].column_names == ["messages"] for name in spec)
    first = dataset["train"][0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    builder = "parquet" if format == "parquet" else "json"
    files = {name: str(folder / path) for name, path in declared.items()}
    again = hf_offline.load_dataset(builder, data_files=files)
    assert {name: len(again[name]) for name in again} == {
        name: len(dataset[name]) for name in dataset}


def test_parquet_without_pyarrow_says_how_to_get_it(drafted, gsm8k, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(BareError, match=r"needs pyarrow: pip install 'bare-tui\[parquet\]'"):
        export(drafted, gsm8k, tmp_path / "out.parquet", status="any")
    assert not list(tmp_path.glob("out*")) and not (tmp_path / "README.md").exists()


def test_parquet_of_a_fields_export_reads_back(drafted, gsm8k, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    result = export(drafted, gsm8k, tmp_path / "set.parquet", profile="fields", status="any")
    table = pq.read_table(result.path)
    assert table.column_names == ["question", "answer"] and table.num_rows == 2
    with pytest.raises(BareError, match="ends in .parquet but --format is jsonl"):
        export(drafted, gsm8k, tmp_path / "set.parquet", format="jsonl", force=True)


# --- since-last ---------------------------------------------------------------------------

def test_since_last_holds_exactly_the_new_acceptances(tmp_path):
    with _workspace(tmp_path / "s.db", 30, tmp_path / "items.jsonl") as store:
        task = resolve(store, "gsm8k")
        review.decide(store, list(range(1, 11)), "accept", "ann")
        first = export(store, task, tmp_path / "batch1.jsonl", profile="fields")
        assert first.written == 10
        review.decide(store, [12, 14, 16, 18, 20], "accept", "bob")
        second = export(store, task, tmp_path / "batch2.jsonl", profile="fields",
                        since_last=True)
        assert second.written == 5 and second.exported_before == 10
        manifest = json.loads(second.manifest_path.read_text())
        assert manifest["candidate_ids"] == [12, 14, 16, 18, 20]
        assert manifest["previous"]["export_id"] == 1
        assert manifest["previous"]["manifest"] == str(first.manifest_path.resolve())
        assert manifest["filters"]["since_last"] is True
        card = second.card_path.read_text()
        with pytest.raises(BareError, match="nothing new to export in task gsm8k: the 15 "):
            export(store, task, tmp_path / "batch3.jsonl", since_last=True)
        assert not (tmp_path / "batch3.jsonl").exists()  # no empty file, no card for 0
        assert second.card_path.read_text() == card
        assert store.scalar("SELECT count(*) FROM exports") == 2


def test_since_last_from_the_command_line(tmp_path):
    with _workspace(tmp_path / "c.db", 12, tmp_path / "items.jsonl") as store:
        review.decide(store, [1, 2, 3], "accept", "ann")
    db = str(tmp_path / "c.db")
    run_cli("export", str(tmp_path / "one.jsonl"), "--db", db, "--no-embed")
    run_cli("accept", "4", "5", "--db", db)
    done = run_cli("export", str(tmp_path / "two.jsonl"), "--db", db, "--since-last",
                   "--no-embed")
    assert "wrote 2 items to" in done.stdout and "3 exported before" in done.stdout
    assert "dataset card" in done.stdout
    assert len((tmp_path / "two.jsonl").read_text().splitlines()) == 2
    again = run_cli("export", str(tmp_path / "three.jsonl"), "--db", db, "--since-last",
                    "--no-embed")
    assert again.returncode == 1 and "nothing new to export" in again.stderr
    assert not (tmp_path / "three.jsonl").exists()


# --- the dataset card ---------------------------------------------------------------------

def test_the_card_front_matter_and_body(drafted, gsm8k, tmp_path):
    review.decide(drafted, [1, 3], "accept", "ann")
    result = export(drafted, gsm8k, tmp_path / "train.jsonl")
    assert result.card_path == tmp_path / "README.md"
    meta = _front_matter(result.card_path)
    assert meta["license"] == "mit"  # GSM8K_LICENSE lies beside the seed file
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["configs"] == [{"config_name": "default",
                                "data_files": [{"split": "train", "path": "train.jsonl"}]}]
    body = result.card_path.read_text()
    for heading in ("# gsm8k: 2 grade school math word problems", "## Licence",
                    "## Generation", "## Counts and yield", "## Diversity", "## Review",
                    "## Loading"):
        assert heading in body
    assert "| ann | 2 | 0 |" in body  # reviewer, accepted, rejected
    assert "| draft | `scripted` |" in body and "| accepted | 2 |" in body
    assert "Not measured" in body  # nothing is embedded in this workspace
    assert 'load_dataset("json", data_files={"train": "train.jsonl"})' in body


@pytest.mark.models
def test_the_card_measures_diversity_against_the_seeds(workspace, tmp_path):
    result = export(workspace, resolve(workspace, "gsm8k"), tmp_path / "x.jsonl")
    body = result.card_path.read_text()
    assert "| exported | 400 |" in body and "| seeds | 200 |" in body
    assert "| all drafts | 400 |" in body and "| all proposed items | 400 |" in body
    assert "similarity  exported" in body and "░" in body and "█" in body
    assert "| ann | 400 | 0 |" in body


@pytest.mark.models
def test_a_single_exported_item_still_shows_the_seeds_diversity(workspace, tmp_path):
    review.decide(workspace, list(range(2, 401)), "reject", "ann")
    body = export(workspace, resolve(workspace, "gsm8k"), tmp_path / "x.jsonl"
                  ).card_path.read_text()
    assert "Not measured for the exported items: a single item has no pair" in body
    assert "| seeds | 200 |" in body


def _card_ways(drafted, gsm8k, tmp_path):
    """Every way an export writes its card: each profile, splits, Parquet, a folder, a
    licence found, given or unknown, a card beside a README of the user's."""
    from bare_tui.core.datasets.export import PROFILES

    review.decide(drafted, [1], "accept", "ann")
    review.decide(drafted, [3], "reject", "bob", tags=["ambiguous"])
    for profile in PROFILES:
        yield export(drafted, gsm8k, tmp_path / profile / "set.jsonl", status="any",
                     profile=profile, include_invalid=True)
    yield export(drafted, gsm8k, tmp_path / "split" / "s.parquet", status="any",
                 split={"train": 0.5, "test": 0.5}, include_invalid=True)
    yield export(drafted, gsm8k, tmp_path / "folder", status="any", license="llama3")
    (tmp_path / "README.md").write_text("# my notes\n")
    yield export(drafted, gsm8k, tmp_path / "mine.jsonl", status="any", license="other")


def test_huggingface_hub_reads_every_card_we_write(drafted, gsm8k, tmp_path):
    from huggingface_hub import DatasetCard

    from bare_tui.core.datasets.card_metadata import HUB_SIZES, metadata_problems

    for place in [tmp_path / p for p in ("dpo", "kto", "split", "chat", "fields", "alpaca",
                                         "sharegpt", "dpo-chat", "kto-chat")]:
        place.mkdir()
    written = list(_card_ways(drafted, gsm8k, tmp_path))
    assert len(written) == 11
    for result in written:
        card = DatasetCard.load(result.card_path)
        assert metadata_problems(card.data) == [], result.card_path
        data = card.data.to_dict()
        assert data["size_categories"][0] in HUB_SIZES
        assert data["task_categories"] == ["text-generation"]
        files = data["configs"][0]["data_files"]
        assert [f["path"] for f in files] == [p.name for p, _n in result.files.values()]
        assert card.text.lstrip().startswith("<!-- dataset card written by bare-tui export")
        assert "# gsm8k: " in card.text
    assert written[-2].card_path == tmp_path / "folder" / "README.md"
    assert DatasetCard.load(written[-2].card_path).data.license == "llama3"
    assert written[-1].card_path == tmp_path / "mine.README.md"
    with pytest.raises(BareError, match="--license 'MIT-ish' is not a licence identifier"):
        export(drafted, gsm8k, tmp_path / "x.jsonl", license="MIT-ish")
    assert not (tmp_path / "x.jsonl").exists()


def test_a_card_an_earlier_version_wrote_is_still_ours(drafted, gsm8k, tmp_path):
    (tmp_path / "a.manifest.json").write_text("{}")
    (tmp_path / "README.md").write_text("---\n# dataset card written by bare-tui export\n"
                                        "license: mit\n---\n# old\n")
    result = export(drafted, gsm8k, tmp_path / "a.jsonl", status="any", force=True)
    assert result.card_path == tmp_path / "README.md"
    assert "# old" not in result.card_path.read_text()


def test_a_readme_of_the_user_is_never_replaced(drafted, gsm8k, tmp_path):
    (tmp_path / "README.md").write_text("# my notes\n")
    result = export(drafted, gsm8k, tmp_path / "set.jsonl", status="any", license="cc-by-4.0")
    assert (tmp_path / "README.md").read_text() == "# my notes\n"
    assert result.card_path == tmp_path / "set.README.md"
    assert _front_matter(result.card_path)["license"] == "cc-by-4.0"
    # Our own card is replaced only by the export it describes (with --force).
    (tmp_path / "README.md").unlink()
    export(drafted, gsm8k, tmp_path / "a.jsonl", status="any")
    again = export(drafted, gsm8k, tmp_path / "a.jsonl", status="any", force=True)
    assert again.card_path == tmp_path / "README.md"
    assert _front_matter(again.card_path)["configs"][0]["data_files"][0]["path"] == "a.jsonl"


def test_unknown_licence_is_a_placeholder_that_says_so(store, gsm8k, tmp_path):
    seeds = tmp_path / "mine" / "seeds.jsonl"
    seeds.parent.mkdir()
    shutil.copy(GSM8K_SEEDS, seeds)
    import_seeds(store, gsm8k, seeds)
    result = export(store, gsm8k, tmp_path / "out.jsonl", status="any")
    assert _front_matter(result.card_path)["license"] == "unknown"
    assert "placeholder" in result.card_path.read_text()


def test_an_export_to_a_folder(drafted, gsm8k, tmp_path, monkeypatch):
    result = export(drafted, gsm8k, tmp_path, status="any", profile="fields")
    assert result.files == {"train": (tmp_path / "train.jsonl", 2)}
    assert result.manifest_path == tmp_path / "manifest.json"
    assert result.card_path == tmp_path / "README.md"

    def full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("bare_tui.core.datasets.export_files._temp_file", full)
    with pytest.raises(BareError, match="No space left"):
        export(drafted, gsm8k, tmp_path / "new", status="any")
    assert not (tmp_path / "new").exists()  # the folder it made goes with the failure


def test_export_paths_are_checked(drafted, gsm8k, tmp_path):
    with pytest.raises(BareError, match="give a .jsonl or .parquet file name, or a folder"):
        export(drafted, gsm8k, tmp_path / "out.txt")
    with pytest.raises(BareError, match="folder .*missing does not exist"):
        export(drafted, gsm8k, tmp_path / "missing" / "set")
