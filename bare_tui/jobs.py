"""The jobs a worker process runs, as types: what the CLI and the review screen ask for,
sent to the child as JSON (bare_tui/worker.py) and dispatched there with `match`
(bare_tui/worker_jobs.py). Plain data: no settings, no models, no UI."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from bare_tui.core.generation.pipeline import DEFAULT_RETRIES
from bare_tui.core.inputs.recipes import Sampling


@dataclass(frozen=True, kw_only=True)
class JobBase:
    task: str  # a task in the workspace
    base: Sampling | None = None  # the drafting stage's sampling (None: the recipe's)
    refine_sampling: Sampling | None = None  # the refining stage's (None: the recipe's)
    rng_seed: int | None = None
    background: bool = False  # started from the review screen: lowest CPU priority


@dataclass(frozen=True, kw_only=True)
class Generate(JobBase):
    """Draft up to `target` (None: no drafting), then refine (core/generation/pipeline.py)."""

    target: int | None
    refine: bool = True
    refine_limit: int | None = None
    refine_unparsed: bool = False  # also refine drafts that did not parse (raw text)
    refine_imported: bool = False  # also refine items imported from a dataset
    retries: int = DEFAULT_RETRIES  # more attempts at a refinement that fails
    redraft: int = 0  # more attempts at a draft that does not parse


@dataclass(frozen=True, kw_only=True)
class Judge(JobBase):
    """The IR judge over the task's candidates, with the instruct role's model."""

    trials: int = 1
    status: str = "any"
    limit: int | None = None
    again: bool = False
    max_tokens: int | None = None  # None: the protocol's
    protocol: str = "paper"  # core/measures/judge_protocols.py
    judge_pool: str | None = None  # None: the recipe's, else the task's seeds


@dataclass(frozen=True, kw_only=True)
class Compare(JobBase):
    """A comparison's arms (core/measures/compare.py), judged."""

    comparison: int
    tasks: dict[str, str] = field(default_factory=dict)  # arm -> the task of its items
    stream: str = ""  # the random stream every arm draws from
    n: int = 0
    instruct_temperature: float = 1.0
    trials: int = 1
    judge_model: str | None = None
    judge_server: str | None = None
    judge_max_tokens: int | None = None  # None: the protocol's
    protocol: str = "paper"
    judge_pool: str | None = None
    constrain: str = "none"  # which arms are grammar-constrained: none, refine, all
    calibrate: int = 0  # real items of the pool judged among real ones


@dataclass(frozen=True, kw_only=True)
class Alternatives(JobBase):
    """More refinements ("refined") or drafts ("draft") of one candidate."""

    candidate_id: int
    k: int = 3
    kind: str = "refined"


Job = Generate | Judge | Compare | Alternatives
KINDS: dict[str, type[Job]] = {kind.__name__: kind for kind in (Generate, Judge, Compare,
                                                                 Alternatives)}
SAMPLINGS = ("base", "refine_sampling")


class StoppedWhileWaiting(Exception):
    """The job was stopped while it waited for the CPU lock."""


def to_json(job: Job) -> str:
    data: dict[str, Any] = asdict(job)
    for key in SAMPLINGS:
        value = getattr(job, key)
        data[key] = value.as_dict() if value is not None else None
    return json.dumps({"job": type(job).__name__, **data})


def from_json(text: str) -> Job:
    data = json.loads(text)
    kind = KINDS[data.pop("job")]
    for key in SAMPLINGS:
        if data.get(key) is not None:
            data[key] = Sampling(**{**data[key], "stop": tuple(data[key]["stop"])})
    return kind(**data)
