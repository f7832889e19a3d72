"""F24: the CPU lock lives in a folder only its user can write, follows no link, takes
no file it did not make, and never truncates or opens up a file of someone else."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from bare_tui.core.generation.cpu_lock import LOCK_NAME, CpuLock, lock_folder
from bare_tui.errors import BareError


def victim(folder: Path) -> Path:
    """Stands for another user's file (say, ~/.ssh/authorized_keys)."""
    folder.mkdir(exist_ok=True)
    target = folder / "authorized_keys"
    target.write_text("ssh-ed25519 AAAA... keep me\n")
    target.chmod(0o600)
    return target


def unchanged(target: Path) -> None:
    assert target.read_text() == "ssh-ed25519 AAAA... keep me\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_f24_a_planted_symlink_at_the_lock_is_never_followed(tmp_path):
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)  # a sticky folder every user can write, as /tmp
    target = victim(tmp_path / "home-of-b")
    (shared / "cpu.lock").symlink_to(target)
    with pytest.raises(BareError, match="a link is never followed"):
        CpuLock.for_setting(str(shared / "cpu.lock")).acquire(
            {"task": "gsm8k", "db": "/secret/w.db"}, threading.Event())
    unchanged(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["authorized_keys"]


def test_f24_a_hard_link_to_someone_elses_file_is_refused(tmp_path):
    target = victim(tmp_path / "home-of-b")
    os.link(target, tmp_path / "cpu.lock")
    with pytest.raises(BareError, match="not a regular file of yours with one name"):
        CpuLock.for_setting(str(tmp_path / "cpu.lock")).acquire({}, threading.Event())
    unchanged(target)


def test_f24_the_default_lock_is_private_to_its_user(tmp_path):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    lock = CpuLock.for_setting(None, str(runtime))
    assert lock.path == runtime / "bare-tui" / LOCK_NAME
    assert lock.acquire({"task": "gsm8k"}, threading.Event())
    try:
        assert stat.S_IMODE((runtime / "bare-tui").stat().st_mode) == 0o700
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        assert lock.holder()["task"] == "gsm8k"
    finally:
        lock.release()


def test_f24_a_runtime_folder_others_can_write_is_not_used(tmp_path):
    runtime = tmp_path / "open"
    runtime.mkdir()
    runtime.chmod(0o777)
    assert lock_folder(str(runtime)) == Path.home() / ".cache" / "bare-tui"


def test_f24_a_planted_link_for_the_lock_folder_is_refused(tmp_path):
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (runtime / "bare-tui").symlink_to(elsewhere)
    with pytest.raises(BareError, match="is a link, not yours, or writable by others"):
        CpuLock.for_setting("", str(runtime)).acquire({}, threading.Event())
    assert list(elsewhere.iterdir()) == []


def test_f24_nothing_outside_the_lock_folder_changes(tmp_path):
    """A whole job's worth of lock use: only the lock's own folder is written."""
    runtime = tmp_path / "run-user"
    runtime.mkdir(mode=0o700)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    for _ in range(3):
        lock = CpuLock.for_setting(None, str(runtime))
        assert lock.acquire({"task": "t"}, threading.Event())
        lock.release()
    changed = {p for p in tmp_path.rglob("*") if before.get(p) != p.stat().st_mtime_ns}
    assert changed <= {runtime, runtime / "bare-tui", runtime / "bare-tui" / "cpu.lock"}


def test_a_home_that_cannot_hold_the_lock_runs_the_job_without_it(tmp_path, monkeypatch):
    """A home that is not writable (a service account) does not stop generation."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cache").write_text("not a folder")  # so ~/.cache/bare-tui cannot be made
    monkeypatch.setenv("HOME", str(home))
    heard: list[str] = []
    assert CpuLock.for_setting(None).acquire({}, threading.Event(), heard.append)
    assert len(heard) == 1 and "does not take turns" in heard[0]
