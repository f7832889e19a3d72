"""The Indistinguishability Rate (IR) judge of the BARE paper.

Each judged item sits at a uniformly random place in a lineup of K=4 beside three real
items drawn at random from the judge's pool (core/measures/judge_pool.py: none repeated,
none equal to the item, none of its shots). The judge model is asked, by a protocol
(core/measures/judge_protocols.py: the paper's by default), which one is of low quality
and ends its reply with `Answer: N`; the last such line is read. IR is the share of
trials whose item was not picked: 75% is chance, what a perfect imitation gets.

A trial's lineup, place and sampling seed come from the item's candidate and the trial
number, not from its version: a draft and its refinement stand in the same lineup at the
same place, so base and BARE verdicts pair. Every trial is stored in `judgments` with its
lineup, seed, protocol and the judge's raw reply, so a result can be audited and redone;
calibration trials judge a real item of the pool (`real_id`) instead of a candidate.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends import Backend
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.inputs.seeds import content_sha256
from bare_tui.core.measures import judge_pool, judge_protocols
from bare_tui.core.measures.judge_pool import Pool
from bare_tui.core.measures.judge_protocols import K, Protocol, parse_answer
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import IN_IDS, ids_param, now, to_json
from bare_tui.errors import BareError

CHANCE = (K - 1) / K
PAPER = judge_protocols.PROTOCOLS["paper"]
__all__ = ["CHANCE", "K", "parse_answer"]


@dataclass(frozen=True)
class Lineup:
    seed_ids: tuple[int, ...]  # the real items, in lineup order (K - 1 of them)
    position: int  # where the judged item sits, 1..K

    def order(self) -> list[int | None]:
        """The lineup, None standing for the judged item."""
        order: list[int | None] = list(self.seed_ids)
        order.insert(self.position - 1, None)
        return order


def lineup(rng: random.Random, seed_ids: Sequence[int], exclude: set[int] = frozenset(),
           k: int = K) -> Lineup:
    """K - 1 distinct real items not in `exclude` (the item's twins and shots), the item
    at a uniform position."""
    pool = [i for i in seed_ids if i not in exclude]
    if len(pool) < k - 1:
        raise BareError(f"the judge needs {k - 1} real items beside each item; its pool "
                        f"has {len(pool)} (name a larger one with --judge-pool FILE)")
    return Lineup(tuple(rng.sample(pool, k - 1)), rng.randrange(1, k + 1))


@dataclass(frozen=True)
class Rate:
    """IR over the trials whose reply could be read, with its 95% Wilson score
    interval. A reply with no "Answer: N" names no item: it is no verdict, so it is left
    out rather than counted as a detection (which would read as IR 0%)."""

    trials: int
    not_detected: int
    unread: int = 0  # replies with no answer that could be read

    @property
    def read(self) -> int:
        return self.trials - self.unread

    @property
    def value(self) -> float | None:
        return self.not_detected / self.read if self.read else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson(self.not_detected, self.read) if self.read else None

    def text(self) -> str:
        if not self.trials:
            return "IR: not judged"
        if not self.read:
            return f"IR: none: {UNREAD.format(n=self.trials)}"
        low, high = self.interval
        unread = f"; {self.unread} unread replies left out" if self.unread else ""
        return (f"IR {self.value:.0%} (95% {low:.0%}-{high:.0%}) over {self.read} "
                f"trials{unread}; chance is {CHANCE:.0%}")


# What a judge that never answers in the format is told, and how to fix it.
UNREAD = ("the judge's {n} replies could not be read (none ends with 'Answer: N'); a judge "
          "that small cannot follow the format: name a stronger one with --judge FILE.gguf "
          "or --judge-server URL")


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default)."""
    if n <= 0:
        raise ValueError("no trials")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Item:
    """What is judged: a candidate's text of one version."""

    candidate_id: int
    version: str  # final, draft or refined
    fields: dict[str, str]


def to_judge(store: Store, task: Recipe, status: str = "any", *, again: bool = False,
             limit: int | None = None) -> list[Item]:
    """The task's candidates whose final text parsed, as the review shows them; those
    judged before only when `again`."""
    judged = set() if again else {row[0] for row in store.conn.execute(
        "SELECT DISTINCT candidate_id FROM judgments")}
    items = [Item(c.id, "final", c.final_fields)
             for c in current.of_task(store, task.name, status)
             if c.final_fields and c.id not in judged]
    return items[:limit] if limit is not None else items


@dataclass(frozen=True)
class Trial:
    """One lineup to judge: a candidate's version, or (calibration) a real item."""

    item: Item | None
    real_id: int | None
    number: int
    lineup: Lineup
    seed: int
    texts: list[dict[str, str]]


def judge(store: Store, task: Recipe, backend: Backend, items: Sequence[Item], *,
          trials: int = 1, rng_seed: int | None = None, protocol: Protocol = PAPER,
          pool: Pool | None = None, max_tokens: int | None = None,
          on_sample: pipeline.OnSample | None = None,
          stop: threading.Event | None = None) -> pipeline.JobResult:
    """Judge each item `trials` times, each trial with a lineup from the pool (the task's
    seeds unless given) and a seed of its own drawn from `rng_seed`; one `judgments` row
    per trial, committed as it comes."""
    if not items:
        return pipeline.JobResult("judge", None, 0, 0, "nothing to do")
    pool = pool or judge_pool.load(store, task)
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    shots = judge_pool.shots_of(store, task.name, {item.candidate_id for item in items}) \
        if pool.own else {}
    drawable = pool.drawable()
    twins = {sha: ref for ref, sha in pool.hashes.items()}

    def planned() -> Iterator[Trial]:
        for item in items:
            left_out = {twins[sha] for sha in shots.get(item.candidate_id, ()) if sha in twins}
            twin = twins.get(content_sha256(item.fields))
            for number in range(1, trials + 1):
                # No version in the stream: a draft and its refinement share a lineup.
                rng = random.Random(f"{rng_seed}:{task.name}:judge:{item.candidate_id}:"
                                    f"{number}")
                chosen = lineup(rng, drawable, left_out)
                if twin in chosen.seed_ids:  # the item is a pool item: draw without it
                    chosen = lineup(rng, drawable, left_out | {twin})
                texts = [item.fields if ref is None else pool.items[ref]
                         for ref in chosen.order()]
                yield Trial(item, None, number, chosen, rng.randrange(1, 2**31 - 1), texts)

    return _run(store, task, backend, planned(), len(items) * trials, rng_seed, protocol,
                pool, max_tokens, trials=trials, on_sample=on_sample, stop=stop)


def calibrate(store: Store, task: Recipe, backend: Backend, count: int, *,
              rng_seed: int | None = None, protocol: Protocol = PAPER,
              pool: Pool | None = None, max_tokens: int | None = None,
              on_sample: pipeline.OnSample | None = None,
              stop: threading.Event | None = None) -> pipeline.JobResult:
    """Judge `count` real items held out of the pool, each in a lineup of other real
    items: a judge that cannot tell real from real lands near chance (75%)."""
    pool = pool or judge_pool.load(store, task)
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    drawable = pool.drawable()
    if len(drawable) < count + K - 1:
        raise BareError(f"calibrating on {count} real items needs {count + K - 1} in the "
                        f"judge's pool; {pool.describe()} has {len(drawable)}")
    held_out = random.Random(f"{rng_seed}:{task.name}:calibrate").sample(drawable, count)

    def planned() -> Iterator[Trial]:
        for real_id in held_out:
            rng = random.Random(f"{rng_seed}:{task.name}:calibrate:{real_id}")
            chosen = lineup(rng, drawable, set(held_out))
            texts = [pool.items[real_id if ref is None else ref] for ref in chosen.order()]
            yield Trial(None, real_id, 1, chosen, rng.randrange(1, 2**31 - 1), texts)

    return _run(store, task, backend, planned(), count, rng_seed, protocol, pool,
                max_tokens, calibration=count, on_sample=on_sample, stop=stop)


def _run(store: Store, task: Recipe, backend: Backend, planned: Iterator[Trial], total: int,
         rng_seed: int, protocol: Protocol, pool: Pool, max_tokens: int | None, *,
         on_sample: pipeline.OnSample | None, stop: threading.Event | None,
         **params: Any) -> pipeline.JobResult:
    stop = stop or threading.Event()
    sampling = protocol.sampling.replace(max_tokens=max_tokens)
    run_id = pipeline.open_run(store, "judge", task, backend, sampling, rng_seed, total,
                               k=K, protocol=protocol.name, pool=pool.describe(), **params)
    in_flight: dict[int, Trial] = {}

    def jobs() -> Iterator[tuple[int, list[dict[str, str]], int]]:
        for index, trial in enumerate(planned):
            if stop.is_set():
                return
            in_flight[index] = trial
            yield index, protocol.messages(task, trial.texts), trial.seed

    def body() -> tuple[int, int, bool]:
        produced = 0
        for index, generation in backend.chat_many(jobs(), sampling):
            trial = in_flight.pop(index)
            picked = parse_answer(generation.text)
            detected = picked is None or picked == trial.lineup.position
            with store.transaction():
                row_id = store.insert("judgments", {
                    "run_id": run_id, "trial": trial.number,
                    "candidate_id": trial.item.candidate_id if trial.item else None,
                    "version": trial.item.version if trial.item else "real",
                    "real_id": trial.real_id, "protocol": protocol.name,
                    "lineup": to_json(trial.lineup.order()), "position": trial.lineup.position,
                    "seed": trial.seed, "reply": generation.text, "picked": picked,
                    "detected": int(detected), "created_at": now()})
                store.count_sample(run_id, generation.prompt_tokens,
                                   generation.completion_tokens, generation.ms,
                                   picked is not None)
            produced += 1
            if on_sample:
                on_sample(pipeline.Sample("judge", row_id, produced, total, generation,
                                          picked is not None, not detected))
            if stop.is_set():
                break
        return produced, total, stop.is_set()

    return pipeline.run_recorded(store, run_id, body, "judge")


# Each candidate's latest judge run, as the review shows it.
LATEST = "j.run_id = (SELECT max(run_id) FROM judgments WHERE candidate_id = j.candidate_id)"


def rate(store: Store, task: str, *, run_id: int | None = None,
         candidate_ids: Sequence[int] | None = None) -> Rate:
    """IR over one run's trials, else over each candidate's latest run (of some
    candidates, or of the whole task)."""
    sql = "SELECT count(*), sum(1 - j.detected), sum(j.picked IS NULL) FROM judgments j"
    args: list[Any] = []
    if run_id is not None:  # a run's trials, of candidates or (calibration) real items
        sql += " WHERE j.run_id = ?"
        args.append(run_id)
    else:
        sql += f" JOIN candidates c ON c.id = j.candidate_id WHERE c.task = ? AND {LATEST}"
        args.append(task)
    if candidate_ids is not None:
        sql += f" AND j.candidate_id {IN_IDS}"
        args.append(ids_param(candidate_ids))
    trials, not_detected, unread = store.conn.execute(sql, args).fetchone()
    return Rate(int(trials or 0), int(not_detected or 0), int(unread or 0))


def verdict_text(not_detected: int, trials: int) -> str:
    """What the review says of a candidate's latest judge run."""
    if not_detected == trials:
        return f"judge: not detected, {trials}/{trials} trials"
    if not_detected == 0:
        return f"judge: detected, {trials}/{trials} trials"
    return f"judge: not detected in {not_detected} of {trials} trials"


def verdicts(store: Store, candidate_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """{candidate: (trials not detected, trials)} of its latest judge run."""
    if not candidate_ids:
        return {}
    rows = store.conn.execute(
        "SELECT candidate_id, sum(1 - detected), count(*) FROM judgments j WHERE"
        f" candidate_id {IN_IDS} AND {LATEST} GROUP BY candidate_id",
        (ids_param(candidate_ids),))
    return {row[0]: (int(row[1]), int(row[2])) for row in rows}
