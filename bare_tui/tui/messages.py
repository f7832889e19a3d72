"""The messages the TUI's parts send each other.

Workers (the generation job, thread workers) and screens only post messages; the app
owns the state (job line, workspace warning, diversity index, a change counter) and
screens watch it. Nothing calls across: no screen method is called by the app, no
worker waits for the screen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

from bare_tui.core.reviewing.leases import Window

if TYPE_CHECKING:  # curation loads numpy: only when the index is computed
    from bare_tui.core.measures.curation import DiversityIndex


@dataclass
class JobLineChanged(Message):
    """The running job's line changed (a stage, a sample, a note)."""

    line: str


@dataclass
class JobFinished(Message):
    message: str
    severity: str
    line: str = ""


@dataclass
class StartJob(Message):
    """A screen asks for `more` candidates to be drafted and refined in the background."""

    more: int


class StopJob(Message):
    """A screen asks the running job to stop after its current sample."""


class WorkspaceChanged(Message):
    """This app wrote to the workspace outside the review screen's own keys (a cluster
    decision, say): everything showing it reloads."""


@dataclass
class DiversityLoaded(Message):
    index: DiversityIndex


@dataclass
class Failed(Message):
    """A worker failed in a way nobody planned for: said, logged, and the app stays up."""

    where: str
    error: BaseException


@dataclass
class Counted(Message):
    """Counts by state, read in a thread, as of the event `as_of` (the newest decision
    event the read saw; 0: none)."""

    counts: dict[str, int]
    as_of: int = 0


@dataclass
class Listed(Message):
    """The review list's ids (a queue, counted), read in a thread for a filter, search
    and cluster."""

    wanted: tuple[str, str | None, int | None]
    ids: Sequence[int]


@dataclass
class Lengthened(Message):
    """The review list's queue was counted in a thread."""

    ids: Sequence[int]


@dataclass
class Computed(Message):
    """A thread worker's result (stats, an export) for the screen that asked: `then` is
    called with it on the screen's own thread."""

    then: Callable[[Any], None]
    result: object  # whatever the work returned, or the BareError it raised


@dataclass
class TeamSeen(Message):
    """The other review windows on this task now (core/reviewing/leases.py's Window rows)."""

    others: list[Window]


@dataclass
class StartAlternatives(Message):
    """A screen asks for `k` alternatives of `kind` ("refined" or "draft") for one
    candidate, made in the background (core/reviewing/alternatives.py)."""

    candidate_id: int
    k: int
    kind: str
