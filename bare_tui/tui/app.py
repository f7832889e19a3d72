"""The Textual app: owns the workspace connection, the state every screen shows (the
job line, a workspace warning, the diversity index, a change counter), the background
generation job and the refresh that shows what other processes commit.

Screens and workers talk to it by messages (tui/messages.py) and watch its reactive
state; it never calls into a screen. An error nobody planned for in a job or a worker
becomes a notification and a line in the error log, and the app stays up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import traceback
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.notifications import SeverityLevel
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from bare_tui.config import Settings
from bare_tui.core.generation import pipeline
from bare_tui.core.generation.meter import Meter
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import curation
from bare_tui.core.reviewing import leases
from bare_tui.core.workspace import yields
from bare_tui.core.workspace.store import Store, WorkspaceGone
from bare_tui.core.workspace.values import now
from bare_tui.errors import BareError
from bare_tui.jobs import Alternatives, Generate, Job
from bare_tui.text import clean
from bare_tui.tui import keys
from bare_tui.tui.idle_gc import IDLE_S, IdleCollector
from bare_tui.tui.messages import (
    DiversityLoaded,
    Failed,
    JobFinished,
    JobLineChanged,
    StartAlternatives,
    StartJob,
    StopJob,
    WorkspaceChanged,
)
from bare_tui.tui.screens.review import ReviewScreen
from bare_tui.tui.workspace import Workspace
from bare_tui.worker import Listener, run_job

POLL_S = 1.0
KEYPRESS_WAIT_S = 5.0
CHECKPOINT_S = 30.0  # how often a thread copies the write-ahead log into the file


def error_log() -> Path:
    """Where unexpected errors are written, with their tracebacks."""
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "bare-tui" / "errors.log"


class BareApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "bare-tui"
    ENABLE_COMMAND_PALETTE = True

    # The state the screens watch (watchers run on changes, not on first reads).
    job_line: reactive[str] = reactive("", init=False)  # what the background job is doing
    job_running: reactive[bool] = reactive(False, init=False)
    warning: reactive[str] = reactive("", init=False)  # shown in red until the app ends
    changes: reactive[int] = reactive(0, init=False)  # bumped when the workspace changed
    diversity_index: var[curation.DiversityIndex | None] = var(None, init=False)

    def __init__(self, settings: Settings, task: Recipe, *, generate: int = 0,
                 poll_s: float = POLL_S, max_tokens: int | None = None) -> None:
        keys.check_keymap(settings.keys)
        super().__init__()
        self.settings = settings
        # The keypress path waits at most a few seconds for another process's lock.
        store = Store(settings.db, create=False,
                      busy_timeout=min(KEYPRESS_WAIT_S, settings.busy_timeout))
        # A keypress's commit never copies the write-ahead log into the file (up to
        # hundreds of MB an import left there): a thread does, every CHECKPOINT_S.
        store.autocheckpoint(0)
        # What the screens share; the session marks this window's decisions.
        self.workspace = Workspace(settings, task, store)
        self.store = store
        self.recipe = task
        self.keymap = self.workspace.keymap
        self._job_meter: Meter | None = None  # the running job's stage, for its time left
        self.workspace_gone: str | None = None  # why, once the file is found deleted
        self.job_pid: int | None = None  # the worker process of the running job
        self._generate_on_start = generate
        self._poll_s = poll_s
        self._max_tokens = max_tokens
        self._stop = threading.Event()
        self._data_version = None
        self._embeddings_seen: tuple | None = None
        self._collector = IdleCollector()

    @property
    def review_screen(self) -> ReviewScreen:
        return self.get_screen("review")  # type: ignore[return-value]

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self._data_version = self.store.scalar("PRAGMA data_version")
        self.workspace.seen_changed()
        self.install_screen(ReviewScreen(self.workspace), "review")
        self.push_screen("review")
        self.set_interval(self._poll_s, self.poll)
        self.set_interval(1.0, self._tick_job)
        self.set_interval(CHECKPOINT_S, self.checkpoint)
        # Python's full collections wait for a pause in the keys (tui/idle_gc.py).
        self.call_after_refresh(self._collector.start)
        self.set_interval(IDLE_S, self._collector.tick)
        self.load_diversity()
        if self._generate_on_start:
            self.call_after_refresh(self.post_message, StartJob(self._generate_on_start))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self._collector.pressed()
        await super().on_event(event)

    def on_unmount(self) -> None:
        self._stop.set()
        self._collector.stop()
        with contextlib.suppress(BareError, sqlite3.Error):
            leases.leave(self.store, self.workspace.session.id)  # frees its lease now
        if self.job_pid is not None:
            # Quitting ends the job now; its run is recorded as interrupted, and what it
            # committed stays (the CLI says how to finish the rest).
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.job_pid, signal.SIGTERM)
        self.store.close()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification, from any screen or widget, is plain text: messages carry
        server replies, paths and names, so they are cleaned and never read as markup."""
        super().notify(clean(message), title=clean(title), severity=severity,
                       timeout=timeout, markup=False)

    def open_store(self) -> Store:
        return self.workspace.open_store()

    def poll(self) -> None:
        """Count a change when another connection has committed since the last look. A
        workspace deleted or replaced under the app is said at once, and loudly; a busy
        or failing database is tried again on the next poll."""
        try:
            self.store.check_present()
            version = self.store.scalar("PRAGMA data_version")
        except WorkspaceGone as exc:
            if not self.workspace_gone:
                self.workspace_gone = str(exc)
                self.warning = f"⚠ {exc}"
                self.notify(str(exc), title="workspace lost", severity="error", timeout=30)
            return
        except sqlite3.Error:
            return
        if version == self._data_version:
            return
        self._data_version = version
        try:
            changed = self.workspace.seen_changed()
        except sqlite3.Error:
            return
        if changed:  # not only someone's lease or presence, nor this window's decisions
            self.changes += 1
            self.load_diversity()

    @work(thread=True, exclusive=True, group="checkpoint", exit_on_error=False)
    def checkpoint(self) -> tuple[int, int] | None:
        """Copy the write-ahead log into the file, on a thread's own connection (the
        keypresses' never does it); (pages in the log, pages copied), None when the
        workspace cannot be opened just now (the next one tries again)."""
        try:
            with self.open_store() as store:
                return store.checkpoint()
        except BareError:
            return None

    @on(WorkspaceChanged)
    def _workspace_changed(self) -> None:
        self.changes += 1
        self.load_diversity()

    @work(thread=True, exclusive=True, group="diversity", exit_on_error=False)
    def load_diversity(self) -> None:
        """Load the embeddings (when they changed) for near-duplicate warnings."""
        with self.open_store() as store:
            seen = store.conn.execute("SELECT count(*), max(created_at) FROM embeddings"
                                      ).fetchone()
            if seen == self._embeddings_seen or not seen[0]:
                return
            index = curation.DiversityIndex(store, self.recipe, self.settings.embedder)
        self._embeddings_seen = seen
        self.post_message(DiversityLoaded(index))

    @on(DiversityLoaded)
    def _diversity_loaded(self, message: DiversityLoaded) -> None:
        self.diversity_index = message.index

    # --- errors nobody planned for --------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(Failed(event.worker.name or "a background task",
                                     event.worker.error))

    @on(Failed)
    def _failed(self, message: Failed) -> None:
        error = message.error
        where = error_log()
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            with where.open("a", encoding="utf-8") as log:
                log.write(f"--- {now():.0f} {message.where}\n")
                log.write("".join(traceback.format_exception(error)))
        except OSError:
            where = None
        logged = f" (details in {where})" if where else ""
        text = error.args[0] if isinstance(error, BareError) and error.args else (
            f"{type(error).__name__}: {error}")
        self.notify(f"{message.where} failed: {text}{logged}", severity="error", timeout=10)

    # --- background generation ----------------------------------------------------------

    @on(StartJob)
    def start_generation(self, message: StartJob) -> None:
        self._start(f"job: loading models to draft {message.more} more", more=message.more)

    @on(StartAlternatives)
    def start_alternatives(self, message: StartAlternatives) -> None:
        what = "refinements" if message.kind == "refined" else "drafts"
        self._start(f"job: loading a model for {message.k} more {what} of "
                    f"#{message.candidate_id}", alternatives=message)

    def _start(self, line: str, more: int = 0,
               alternatives: StartAlternatives | None = None) -> None:
        if self.job_running:
            self.notify("a job is already running (G stops it)", severity="warning")
            return
        self.job_running = True
        self._stop = threading.Event()
        self.job_line = line
        self._generate(self._stop, more, alternatives)

    @on(StopJob)
    def cancel_generation(self) -> None:
        if self.job_running:
            self._stop.set()
            self.job_line = "job: stopping after the current sample"
        else:
            self.notify("no job is running")

    def _job(self, more: int, alternatives: StartAlternatives | None) -> Job:
        sampling = {"max_tokens": self._max_tokens}
        base = self.recipe.base.replace(**sampling)
        refine = self.recipe.refine.replace(**sampling)
        if alternatives is not None:
            return Alternatives(task=self.recipe.name, base=base, refine_sampling=refine,
                                background=True, candidate_id=alternatives.candidate_id,
                                k=alternatives.k, kind=alternatives.kind)
        with self.open_store() as store:
            target = pipeline.count_candidates(store, self.recipe) + more
        return Generate(task=self.recipe.name, target=target, base=base,
                        refine_sampling=refine, background=True)

    @work(thread=True, exclusive=True, group="job", exit_on_error=False)
    def _generate(self, stop: threading.Event, more: int,
                  alternatives: StartAlternatives | None) -> None:
        """Wait on a worker process that does the model work (bare_tui.worker): a crash
        of llama.cpp there ends the job, never this session. Progress is posted, never
        waited on: generation does not wait for the screen."""
        show = self._show_job

        def on_stage(kind: str, planned: int, where: str) -> None:
            self._job_meter = Meter(f"job: {kind} ({where})", planned)
            show(f"job: {kind} {planned} on {where}  (G stops)")

        def on_sample(sample: pipeline.Sample) -> None:
            if self._job_meter is not None:
                self._job_meter.add(sample.done, sample.generation.completion_tokens,
                                    sample.parsed, sample.total)
                show(self._job_progress_line(self._job_meter))

        def on_start(pid: int) -> None:
            self.job_pid = pid

        done = ("alternatives ready: p pages through them" if alternatives
                else "generation finished")
        message, severity, line = done, "information", ""
        try:
            listener = Listener(on_start=on_start, on_stage=on_stage, on_sample=on_sample,
                                on_note=lambda text: show(f"job: {text}  (G stops)"))
            run_job(self.settings, self._job(more, alternatives), listener, stop)
            if stop.is_set():
                message = "generation stopped; g starts it again"
            elif alternatives is None:  # the yield, as the CLI ends a job with it
                message, line = self._finished_with_yield()
        except BareError as exc:
            message, severity = f"generation failed: {exc}", "error"
            line = f"job: {exc} (g starts a new job)"
        except Exception as exc:  # noqa: BLE001 - a job's failure must not end the review
            self.post_message(Failed("the generation job", exc))
            message, severity = "", "error"
            line = f"job: failed: {type(exc).__name__}: {exc} (g starts a new job)"
        finally:
            self.job_pid = None
            self._job_meter = None
            self.post_message(JobFinished(message, severity, line))

    def _finished_with_yield(self) -> tuple[str, str]:
        """What a finished generation job says: its task's yield, every line in the
        notice and the usable and verified counts in the job line."""
        with self.open_store() as store:
            lines = yields.measure(store, self.recipe.name).lines()
        return ("generation finished\n" + "\n".join(lines),
                f"job: done; {lines[2]}; {lines[3]} (g generates more)")

    @staticmethod
    def _job_progress_line(meter: Meter) -> str:
        return f"{meter.line()}  ETA {meter.eta()}  (G stops)"

    def _tick_job(self) -> None:
        """The job's time left moves with the clock, not only when a sample comes."""
        meter = self._job_meter
        if self.job_running and meter is not None and meter.done:
            self.job_line = self._job_progress_line(meter)

    def _show_job(self, text: str) -> None:
        self.post_message(JobLineChanged(text))

    @on(JobLineChanged)
    def _job_line_changed(self, message: JobLineChanged) -> None:
        if self.job_running:
            self.job_line = message.line

    @on(JobFinished)
    def _job_finished(self, message: JobFinished) -> None:
        self.job_running = False
        self.job_line = message.line
        if message.message:
            self.notify(message.message, severity=message.severity)  # type: ignore[arg-type]
        self.poll()

    # --- command palette ----------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, ReviewScreen):
            for key in keys.KEYS:
                shown = keys.display(self.keymap.get(key.id, key.keys))
                yield SystemCommand(key.help[0].upper() + key.help[1:], f"key: {shown}",
                                    partial(screen.run_action, key.action))
