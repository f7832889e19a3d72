"""One local generation job at a time per machine: the CPU lease.

Two llama.cpp processes on the same cores do not share them: their OpenMP threads
busy-wait against each other, and two jobs together make a fraction of what one makes
alone. So a job that runs a model on the CPU first takes this machine's lease, an
advisory lock on a file every user's jobs can open; a second job queues, says who it
waits for, and starts when the first ends. The kernel drops the lock when its process
dies, however it dies, so a crashed job never blocks the next one.

`$BARE_TUI_LEASE` names another lock file (tests), or `off` to run jobs side by side.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT_STEP_S = 0.25


def lease_path() -> Path | None:
    value = os.environ.get("BARE_TUI_LEASE", "").strip()
    if value.lower() == "off":
        return None
    return Path(value) if value else Path(tempfile.gettempdir()) / "bare-tui-cpu.lock"


def describe_holder(info: dict[str, Any]) -> str:
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("task"):
        parts.append(f"task {info['task']}")
    if info.get("db"):
        parts.append(f"in {info['db']}")
    return " ".join(parts)


class CpuLease:
    """The machine's generation lease, held from `acquire` until `release` or exit."""

    def __init__(self, path: Path | None = None):
        self.path = path if path is not None else lease_path()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lease now, as it wrote itself into the file; None when free."""
        if self.path is None:
            return None
        try:
            text = self.path.read_text()
            info = json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            info = {}
        return info or None

    def acquire(self, about: dict[str, Any], stop: threading.Event,
                on_wait: Callable[[str], None] | None = None) -> bool:
        """Take the lease, waiting while another job holds it; False if `stop` is set
        first. `on_wait` hears once who is being waited for."""
        if self.path is None or self.held:
            return True
        fd = self._open()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and on_wait is not None:
                    holder = self.holder() or {}
                    on_wait(f"waiting for the other generation job on this machine "
                            f"({describe_holder(holder)}) to finish; jobs take turns on "
                            "the CPU")
                    told = True
                if stop.wait(WAIT_STEP_S):
                    os.close(fd)
                    return False
        os.ftruncate(fd, 0)
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

    def _open(self) -> int:
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            # Every user's jobs share the cores, so every user may take the lease.
            os.fchmod(fd, 0o666)
        except OSError:
            pass  # another user's file: it is already shared
        return fd
