"""Generation in a worker process: native model code never runs in the caller's process.

The CLI and the review screen start a draft/refine job as a child process that commits
to the workspace as any job does, and reports through a pipe: the stage, every
committed sample, a wait for the CPU lock. A crash of llama.cpp (illegal instruction,
segfault, the OOM killer) ends the child only; the caller says so in one line, gives
back the slots the job had claimed, and keeps going. Nothing committed is lost.

Stopping: the caller writes `stop` to the child's stdin and the child ends after the
sample in progress; a closed stdin (the caller died) does the same. The child runs in a
session of its own, so a terminal's Ctrl-C reaches the caller, which decides.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bare_tui import jobs
from bare_tui.config import SETTINGS, Settings
from bare_tui.core.generation.backends import Generation
from bare_tui.core.generation.cpu_path import describe_signal
from bare_tui.core.generation.pipeline import JobResult, Sample
from bare_tui.errors import BareError
from bare_tui.jobs import Job

TERMINATE_WAIT_S = 10.0
# Generation is batch work: below the review screen and the shell, so that a keypress
# gets a core at once even while every core decodes. Alone on a machine it runs as fast.
CLI_JOB_NICE = 10  # shares the machine with other work
SCREEN_JOB_NICE = 19  # started from the review screen: the curator's keys come first


class WorkerDied(BareError):
    """The worker process was ended by a signal."""


def settings_to_json(settings: Settings) -> str:
    return json.dumps({f.name: (str(value) if isinstance(value := getattr(settings, f.name),
                                                           Path) else value)
                       for f in fields(settings)})


def settings_from_json(text: str) -> Settings:
    """Paths come back as paths: the settings of that kind, and the config file's."""
    data = json.loads(text)
    paths = [name for name, how in SETTINGS.items() if how.kind == "path"] + ["config_path"]
    for key in paths:
        if data.get(key) is not None:
            data[key] = Path(data[key])
    return Settings(**data)


@dataclass
class Listener:
    """What the caller hears from a job; every callback is optional."""

    on_start: Callable[[int], None] | None = None  # the worker's pid
    on_note: Callable[[str], None] | None = None  # loading, probing, waiting for the CPU
    on_stage: Callable[[str, int, str], None] | None = None  # kind, planned, where
    on_sample: Callable[[Sample], None] | None = None
    notes: list[str] = field(default_factory=list)


def run_job(settings: Settings, job: Job, listener: Listener | None = None,
            stop: threading.Event | None = None) -> list[JobResult]:
    """Run one generation job in a worker process and wait for it; raises BareError
    when the job fails, WorkerDied when the process is killed by a signal."""
    listener = listener or Listener()
    stop = stop or threading.Event()
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "bare_tui.worker", settings_to_json(settings),
             jobs.to_json(job), str(write_end)],
            pass_fds=(write_end,), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as exc:
        os.close(read_end)
        raise BareError(f"cannot start the generation process: {exc}") from None
    finally:
        os.close(write_end)
    if listener.on_start:
        listener.on_start(process.pid)
    errors: deque[str] = deque(maxlen=20)
    threading.Thread(target=_drain, args=(process.stderr, errors), daemon=True).start()
    threading.Thread(target=_forward_stop, args=(process, stop), daemon=True).start()
    outcome: dict[str, Any] = {}
    try:
        with os.fdopen(read_end, encoding="utf-8") as events:
            for line in events:
                _dispatch(json.loads(line), listener, outcome)
        process.wait()
    except BaseException:
        _terminate(process)
        raise
    return _result(settings, process.returncode, outcome, errors)


def _dispatch(event: dict[str, Any], listener: Listener, outcome: dict[str, Any]) -> None:
    kind = event.pop("event")
    if kind == "note":
        listener.notes.append(event["text"])
        if listener.on_note:
            listener.on_note(event["text"])
    elif kind == "stage" and listener.on_stage:
        listener.on_stage(event["kind"], event["planned"], event["where"])
    elif kind == "sample" and listener.on_sample:
        event["generation"] = Generation(**event["generation"])
        listener.on_sample(Sample(**event))
    elif kind in ("done", "error"):
        outcome[kind] = event


def _result(settings: Settings, returncode: int, outcome: dict[str, Any],
            errors: deque[str]) -> list[JobResult]:
    if returncode < 0:
        message = (f"the model process died: {describe_signal(-returncode)}; "
                   "see `bare-tui doctor`")
        _give_back_slots(settings, message)
        raise WorkerDied(message)
    if "error" in outcome:
        raise BareError(outcome["error"]["message"])
    if returncode != 0 or "done" not in outcome:
        _give_back_slots(settings, f"generation process exit status {returncode}")
        last = errors[-1] if errors else "no message"
        raise BareError(f"the generation process failed (exit status {returncode}): {last}")
    return [JobResult(**result) for result in outcome["done"]["results"]]


def _give_back_slots(settings: Settings, why: str) -> None:
    from bare_tui.core.workspace.store import Store

    try:
        with Store(settings.db, create=False, busy_timeout=settings.busy_timeout) as store:
            store.mark_interrupted_runs(error=why)
    except BareError:
        pass  # the next job on this workspace does it


def _drain(stream: Any, tail: deque[str]) -> None:
    for raw in stream:
        text = raw.decode("utf-8", errors="replace").strip()
        if text:
            tail.append(text)


def _forward_stop(process: subprocess.Popen, stop: threading.Event) -> None:
    while process.poll() is None:
        if stop.wait(0.2):
            try:
                process.stdin.write(b"stop\n")
                process.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass
            return


def _terminate(process: subprocess.Popen) -> None:
    """Stop at once (a second Ctrl-C): SIGTERM lets the job record itself interrupted."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(TERMINATE_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the worker process ------------------------------------------------------------------


class _Emitter:
    def __init__(self, fd: int):
        self.out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self.lock = threading.Lock()  # a server backend's threads say things too

    def __call__(self, event: str, **data: Any) -> None:
        line = json.dumps({"event": event, **data}) + "\n"
        with self.lock:
            if self.out is None:
                return
            try:
                self.out.write(line)
                self.out.flush()
            except (BrokenPipeError, OSError):
                # The caller is gone: its closed stdin stops the job after this sample.
                self.out = None


def _watch_stdin(stop: threading.Event) -> None:
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()  # asked to stop, or the caller is gone


def _child(settings: Settings, job: Job, emit: _Emitter) -> int:
    from bare_tui import worker_jobs
    from bare_tui.core.generation import cpu_path, model_files
    from bare_tui.core.generation.backends import Backend
    from bare_tui.core.generation.cpu_lock import CpuLock
    from bare_tui.core.inputs import recipes
    from bare_tui.core.workspace.store import Store
    from bare_tui.loading import open_backend

    stop = threading.Event()
    threading.Thread(target=_watch_stdin, args=(stop,), daemon=True).start()
    lock = CpuLock.for_setting(settings.cpu_lock, os.environ.get("XDG_RUNTIME_DIR"))

    def load_backend(role: str) -> Backend:
        local = not settings.server_for(role)
        if local:  # a wrong model path fails now, before any wait
            model_files.resolve(getattr(settings, role), role, settings.models_dir,
                                settings.cache_dir)
        if local and _runs_on_cpu(settings):
            about = {"task": job.task, "db": str(settings.db)}
            if not lock.acquire(about, stop, lambda text: emit("note", text=text)):
                raise jobs.StoppedWhileWaiting("draft" if role == "base" else "refine")
        if local and cpu_path.known_verdict(settings.cpu_path, settings.probing) is None:
            emit("note", text="checking which llama.cpp CPU path runs on this machine "
                 "(once per machine)")
        return open_backend(role, settings, on_note=lambda text: emit("note", text=text))

    with Store(settings.db, create=False, busy_timeout=settings.busy_timeout) as store:
        task = recipes.resolve(store, job.task)
        match job:
            case jobs.Generate():
                return worker_jobs.generate(settings, store, task, job, load_backend, emit,
                                            stop)
            case jobs.Judge():
                return worker_jobs.judge(store, task, job, load_backend, emit, stop)
            case jobs.Compare():
                return worker_jobs.compare(settings, store, task, job, load_backend, emit,
                                           stop)
            case jobs.Alternatives():
                return worker_jobs.alternatives(settings, store, task, job, load_backend,
                                                emit, stop)
    raise TypeError(f"not a job: {job!r}")


def _runs_on_cpu(settings: Settings) -> bool:
    if settings.gpu_layers is not None:
        return settings.gpu_layers == 0
    from bare_tui.core.generation.model_files import gpu_offload_available

    return not gpu_offload_available()


def _lower_priority(background: bool) -> None:
    """Before any thread starts (llama.cpp's threads inherit it). A job started from the
    review screen runs at the lowest priority, so keypresses stay quick while every core
    decodes; a CLI job is niced less, so it shares the machine with other work. Neither
    is starved: alone on a machine, both run at full speed."""
    try:
        os.nice(SCREEN_JOB_NICE if background else CLI_JOB_NICE)
    except OSError:
        pass  # not allowed here: run at the caller's priority


def main(argv: list[str]) -> int:
    settings, job = settings_from_json(argv[0]), jobs.from_json(argv[1])
    emit = _Emitter(int(argv[2]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when to stop
    _lower_priority(job.background)

    def interrupted(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        return _child(settings, job, emit)
    except BareError as exc:
        emit("error", message=str(exc))
        return 1
    except KeyboardInterrupt:
        emit("error", message="generation interrupted; committed samples are kept")
        # Now: a normal exit would first wait for requests still in flight to a server.
        sys.stderr.flush()
        os._exit(130)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one line for the caller
        traceback.print_exc()
        emit("error", message=f"generation failed unexpectedly: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
