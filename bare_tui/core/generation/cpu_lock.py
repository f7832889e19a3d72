"""One local generation job at a time per user: the CPU lock.

Two llama.cpp processes on the same cores do not share them: their OpenMP threads
busy-wait against each other, and two jobs together make a fraction of what one makes
alone. So a job that runs a model on the CPU first takes its user's CPU lock, an
advisory lock on a file in a folder only that user can write; a second job queues, says
who it waits for, and starts when the first ends. The kernel drops the lock when its
process dies, however it dies, so a crashed job never blocks the next one.

The lock lives in `$XDG_RUNTIME_DIR/bare-tui/` (else `~/.cache/bare-tui/`), never in a
folder other users can write: a file there could be a link another user planted to a
file of yours, and a lock every user can open tells everyone what you run. The folder
must be yours and closed to others, the file must be a regular file of yours with one
name; the lock opens it without following links and never truncates one it did not
check. Jobs of different users therefore do not take turns (README: Security).

The setting `cpu_lock` ($BARE_TUI_LEASE) names another lock file (tests), or `off` to run
jobs side by side.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bare_tui.errors import BareError

WAIT_STEP_S = 0.25
LOCK_NAME = "cpu.lock"


def lock_folder(runtime: str | None) -> Path:
    """This user's folder for the lock: in the runtime folder the login made (`runtime`,
    $XDG_RUNTIME_DIR), else in ~/.cache."""
    if runtime and os.path.isabs(runtime) and _private_folder(Path(runtime)):
        return Path(runtime) / "bare-tui"
    return Path.home() / ".cache" / "bare-tui"


def _private_folder(folder: Path) -> bool:
    """A real folder (not a link) of this user that nobody else may write in."""
    try:
        info = os.lstat(folder)
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid()
            and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def describe_holder(info: dict[str, Any]) -> str:
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("task"):
        parts.append(f"task {info['task']}")
    if info.get("db"):
        parts.append(f"in {info['db']}")
    return " ".join(parts)


class CpuLock:
    """This user's generation lock, held from `acquire` until `release` or exit."""

    def __init__(self, path: Path | None, default: bool = False):
        """`path`: the lock file (None: no lock, jobs run side by side); `default`: it is
        the one in the user's own lock folder, which is made when missing."""
        self.path = path
        self.default = default
        self._fd: int | None = None

    @classmethod
    def for_setting(cls, value: str | None, runtime: str | None = None) -> CpuLock:
        """The lock a setting names (a file, "off", or nothing: the user's own)."""
        value = (value or "").strip()
        if value.lower() == "off":
            return cls(None)
        if value:
            return cls(Path(value))
        return cls(lock_folder(runtime) / LOCK_NAME, default=True)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, as it wrote itself into the file; None when free."""
        if self.path is None:
            return None
        try:
            fd = self._open_checked(create=False)
        except (OSError, BareError):
            return None
        try:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            info = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            info = {}
        finally:
            os.close(fd)
        return info if isinstance(info, dict) and info else None

    def acquire(self, about: dict[str, Any], stop: threading.Event,
                on_wait: Callable[[str], None] | None = None) -> bool:
        """Take the lock, waiting while another job holds it; False if `stop` is set
        first. `on_wait` hears once who is being waited for."""
        if self.path is None or self.held:
            return True
        fd = self._open(on_wait)
        if fd is None:
            return True
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait is not None:
                    holder = self.holder() or {}
                    on_wait(f"waiting for your other generation job on this machine "
                            f"({describe_holder(holder)}) to finish; jobs take turns on "
                            "the CPU")
                    told = True
                if stop.wait(WAIT_STEP_S):
                    os.close(fd)
                    return False
        os.ftruncate(fd, 0)  # a file this lock checked is ours (see _open_checked)
        os.pwrite(fd, json.dumps({**about, "pid": os.getpid(), "since": time.time()}).encode(),
                  0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _open(self, on_note: Callable[[str], None] | None) -> int | None:
        """The lock file; None when its folder cannot be made (a home that is not
        writable): the job then runs without taking turns, and says so."""
        assert self.path is not None
        folder = self.path.parent
        if self.default:
            try:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                if on_note is not None:
                    on_note(f"cannot make the CPU lock's folder {folder} "
                            f"({exc.strerror or exc}): this job does not take turns with "
                            "your others")
                return None
            if not _private_folder(folder):
                raise BareError(f"the CPU lock's folder {folder} is a link, not yours, or "
                                "writable by others; remove it (bare-tui makes it anew), "
                                "or set BARE_TUI_LEASE=off")
        return self._open_checked(create=True)

    def _open_checked(self, create: bool) -> int:
        """The lock file, opened without following a link, and only when it is a regular
        file of this user with a single name (not a hard link to someone's file)."""
        assert self.path is not None
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            if create:
                raise BareError(f"cannot open the CPU lock {self.path}: "
                                f"{exc.strerror or exc} (a link is never followed); remove "
                                "it, or set BARE_TUI_LEASE=off") from None
            raise
        info = os.fstat(fd)
        if (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()
                or info.st_nlink != 1):
            os.close(fd)
            raise BareError(f"refusing the CPU lock {self.path}: it is not a regular file "
                            "of yours with one name; remove it, or set BARE_TUI_LEASE=off")
        return fd
