"""`bare-tui doctor`: one line per check, a fix for each failure, exit 1 when broken."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bare_tui.core import doctor
from conftest import GSM8K_SEEDS, run_cli


def test_a_healthy_workspace_passes(tmp_path: Path):
    db = tmp_path / "w.db"
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db",
                   str(db)).returncode == 0
    check = doctor._workspace(db)
    assert check.status == doctor.OK and "WAL, integrity ok, schema" in check.detail


def test_a_missing_workspace_is_not_created(tmp_path: Path):
    check = doctor._workspace(tmp_path / "none.db")
    assert check.status == doctor.WARN and "bare-tui demo" in check.fix
    assert not (tmp_path / "none.db").exists()


def test_a_workspace_in_rollback_journal_mode_fails_with_a_fix(tmp_path: Path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    check = doctor._workspace(db)
    assert check.status == doctor.FAIL and "journal mode delete, not WAL" in check.detail


@pytest.mark.models
def test_doctor_reports_a_broken_workspace_and_exits_1(tmp_path: Path):
    db = tmp_path / "broken.db"
    db.write_bytes(b"this is not a database" * 100)
    result = run_cli("doctor", "--db", str(db))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert len(failed) == 1 and failed[0].startswith("FAIL workspace: ")
    assert "not a readable SQLite workspace" in failed[0] and "fix:" in failed[0]
    names = [line[5:].split(":")[0] for line in lines[:-1]]
    assert names == ["llama.cpp build", "CPU path", "base model", "instruct model",
                     "embedding model", "workspace", "terminal", "versions"]
    assert lines[-1] == "1 check(s) failed"
    assert db.read_bytes() == b"this is not a database" * 100  # left as it was


@pytest.mark.models
def test_doctor_flags_a_model_that_does_not_load(tmp_path: Path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    result = run_cli("doctor", "--base", str(bad), "--db", str(tmp_path / "w.db"))
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL base model"))
    assert "bad.gguf" in line and "fix: choose a GGUF model that loads, with --base" in line
