"""Exports and reports under pressure (F7, F8, F9, F14, F20): 100,000 items, a COMMIT
that fails after the files were written, two exports at once, a second export into a
folder, and report targets checked like export targets."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from bare_tui.core.datasets import dataset_card
from bare_tui.core.datasets.dataset_import import import_candidates
from bare_tui.core.datasets.export import export
from bare_tui.core.datasets.export_files import FileExists
from bare_tui.core.inputs import recipes
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.measures import judge
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, run_cli, seeded_workspace

SQLITE_TRANSACTION = 22  # sqlite3's authorizer action code for BEGIN, COMMIT, ROLLBACK


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- F7: more items than SQLite has variables ---------------------------------------------------

def test_f7_export_of_100000_items(store, gsm8k, tmp_path):
    path = tmp_path / "many.jsonl"
    with path.open("w") as handle:
        for i in range(100_000):
            handle.write(json.dumps({"question": f"Item {i}: how many?",
                                     "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"}) + "\n")
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    assert import_candidates(store, gsm8k, path).added == 100_000
    # As python.org's and macOS's SQLite allow (Debian's allows 250,000).
    store.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
    out = tmp_path / "out" / "all.jsonl"
    out.parent.mkdir()
    result = export(store, gsm8k, out, status="any")
    assert result.written == 100_000
    assert sum(1 for _ in out.open()) == 100_000
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["count"] == 100_000 and manifest["models"][0]["kind"] == "import"
    assert "curator" in result.card_path.read_text() or "reviewed" in result.card_path.read_text()
    ids = manifest["candidate_ids"]
    assert judge.rate(store, "gsm8k", candidate_ids=ids).trials == 0
    assert dataset_card._reviewed(store, ids) == "; no one has reviewed them yet"


# --- F8: a second export into a folder keeps the first one's card ------------------------------

def test_f8_a_second_export_into_a_folder_keeps_the_first_card(drafted, gsm8k, tmp_path):
    first = export(drafted, gsm8k, tmp_path / "a.jsonl", status="any")
    assert first.card_path == tmp_path / "README.md"
    card = first.card_path.read_text()
    second = export(drafted, gsm8k, tmp_path / "b.jsonl", status="any")
    assert (tmp_path / "README.md").read_text() == card
    assert second.card_path == tmp_path / "b.README.md"
    assert "b.jsonl" in second.card_path.read_text()
    with pytest.raises(FileExists, match="b.README.md"):  # its own card needs --force
        (tmp_path / "b.jsonl").unlink()
        (tmp_path / "b.manifest.json").unlink()
        export(drafted, gsm8k, tmp_path / "b.jsonl", status="any")


# --- F9: the workspace's COMMIT fails after the files were placed ------------------------------

def deny_commit(store: Store) -> None:
    def authorizer(action, arg1, *rest):
        if action == SQLITE_TRANSACTION and arg1 == "COMMIT":
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    store.conn.set_authorizer(authorizer)


@pytest.mark.parametrize("earlier", [True, False])
def test_f9_a_failed_commit_puts_every_file_back(drafted, gsm8k, tmp_path, earlier):
    out = tmp_path / "set" / "train.jsonl"
    out.parent.mkdir()
    if earlier:
        export(drafted, gsm8k, out, status="any")
    before = files_of(out.parent)
    exports = drafted.scalar("SELECT count(*) FROM exports")
    deny_commit(drafted)
    with pytest.raises(BareError, match="not authorized"):
        export(drafted, gsm8k, out, status="accepted", force=True, license="cc0-1.0")
    drafted.conn.set_authorizer(None)
    assert files_of(out.parent) == before  # the same files, byte for byte, and no others
    assert drafted.scalar("SELECT count(*) FROM exports") == exports
    again = export(drafted, gsm8k, out, status="any", force=True, since_last=not earlier)
    assert again.written == 2  # the third draft fails its checks
    manifest = json.loads(again.manifest_path.read_text())
    assert manifest["export_id"] == exports + 1


def test_f9_a_failed_commit_removes_a_folder_the_export_made(drafted, gsm8k, tmp_path):
    deny_commit(drafted)
    with pytest.raises(BareError):
        export(drafted, gsm8k, tmp_path / "new-folder", status="any")
    assert not (tmp_path / "new-folder").exists()


# --- F20: two exports with --since-last at once ------------------------------------------------

def test_f20_two_since_last_exports_at_once_write_each_item_once(drafted, gsm8k, tmp_path,
                                                                  monkeypatch):
    db = drafted.path
    other: list = []

    def meanwhile(*args, **kwargs) -> None:
        # After this export chose its items, another process exports them first.
        with Store(db) as second:
            other.append(export(second, recipes.resolve(second, "gsm8k"),
                                tmp_path / "b.jsonl", status="any", since_last=True))

    monkeypatch.setattr("bare_tui.core.datasets.export.embeddings.embed", meanwhile)
    # The other export took both items: this one finds nothing new, and says so instead
    # of writing an empty file.
    with pytest.raises(BareError, match="nothing new to export in task gsm8k: the 2 items"):
        export(drafted, gsm8k, tmp_path / "a.jsonl", status="any", since_last=True,
               embed=True)
    assert other[0].written == 2 and not (tmp_path / "a.jsonl").exists()
    rows = drafted.query("SELECT candidate_id, count(*) AS n FROM export_items"
                         " GROUP BY candidate_id")
    assert rows and all(row["n"] == 1 for row in rows)


# --- F14: compare's report targets, checked like an export's, before any work -----------------

@pytest.fixture
def seeded_db(tmp_path) -> Path:
    return seeded_workspace(tmp_path / "w.db")


def runs_of(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def test_f14_an_existing_report_is_refused_before_any_generation(seeded_db, tmp_path):
    (tmp_path / "cmp.md").write_text("mine\n")
    result = run_cli("compare", "-n", "2", "--out", str(tmp_path / "cmp"), "--server",
                     "http://127.0.0.1:9", "--db", str(seeded_db))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "cmp.md already exists; pass --force" in result.stderr
    assert (tmp_path / "cmp.md").read_text() == "mine\n" and runs_of(seeded_db) == 0


def test_f14_the_workspace_and_a_missing_folder_are_refused_first(seeded_db, tmp_path):
    result = run_cli("compare", "-n", "2", "--out", str(tmp_path / "nowhere" / "x"),
                     "--server", "http://127.0.0.1:9", "--db", str(seeded_db))
    assert result.returncode == 1 and "no such folder" in result.stderr
    assert runs_of(seeded_db) == 0


def test_f14_a_folder_gets_a_report_inside_it(seeded_db, tmp_path, server):
    reports = tmp_path / "reports"
    reports.mkdir()
    for out in (str(reports) + "/", ".", str(reports)):
        result = run_cli("compare", "-n", "2", "--out", out, "--force", "--server",
                         server.url, "--max-tokens", "16", "--db", str(seeded_db),
                         cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in reports.iterdir()) == ["compare-gsm8k.json",
                                                         "compare-gsm8k.md"]
    assert (tmp_path / "compare-gsm8k.md").is_file()
    assert not (tmp_path / "reports.md").exists()
    data = json.loads((reports / "compare-gsm8k.json").read_text())
    assert len(data["arms"]) == 3


def test_compare_with_fewer_than_three_seeds_fails_before_generating(tmp_path):
    """Also seen: the judge's lineups need three seeds; it is said before any arm runs."""
    seeds = tmp_path / "two.jsonl"
    seeds.write_text("".join(line for line in GSM8K_SEEDS.read_text().splitlines(True)[:2]))
    db = tmp_path / "w.db"
    assert run_cli("seeds", "import", str(seeds), "--task", "gsm8k", "--db", str(db)
                   ).returncode == 0
    result = run_cli("compare", "-n", "2", "--server", "http://127.0.0.1:9", "--db", str(db))
    assert result.returncode == 1 and "has 2 seeds; the judge's lineups need 3" in result.stderr
    assert runs_of(db) == 0


# --- F13: names from servers in the report and the card ----------------------------------------

ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b]52;c;SGVsbG8=\x07"


def test_f13_the_compare_report_never_carries_a_servers_escapes():
    from test_compare import REPORT

    from bare_tui.core.measures import compare_report

    hostile = {**REPORT, "arms": [{**arm, "model": f"evil{ESCAPES}"} for arm in REPORT["arms"]]}
    text = compare_report.markdown(hostile)
    assert "evil\\x1b]0;PWNED\\x07" in text and "\x1b" not in text and "\x07" not in text


def test_f13_the_dataset_card_never_carries_a_servers_escapes(drafted, gsm8k, tmp_path):
    with drafted.transaction() as conn:
        conn.execute("UPDATE runs SET model = ?", (f"served{ESCAPES}",))
    card = export(drafted, gsm8k, tmp_path / "out.jsonl", status="any").card_path.read_text()
    assert "served\\x1b]0;PWNED\\x07" in card and "\x1b" not in card and "\x07" not in card
