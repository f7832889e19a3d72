"""The Indistinguishability Rate (IR) judge of the BARE paper.

Each judged item sits at a uniformly random place in a lineup of K=4 beside three real
seeds drawn at random (none repeated, none equal to the item). The judge model is asked
which one is of low quality and ends its reply with `Answer: N`; the last such line is
read, and a reply without one counts as detected. IR is the share of trials whose item
was not picked: 75% is chance, what a perfect imitation of the seeds gets.

Every trial is stored in `judgments` with its lineup, seed and the judge's raw reply,
so a result can be audited and redone.
"""

from __future__ import annotations

import math
import random
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends import Backend
from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.recipes import Recipe, Sampling
from bare_tui.core.inputs.seeds import content_sha256
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import IN_IDS, Store, ids_param, now, to_json
from bare_tui.errors import BareError

K = 4
CHANCE = (K - 1) / K
# A judge reasons briefly, then answers; greedy, so a lineup gets one verdict.
SAMPLING = Sampling(temperature=0.0, max_tokens=256)
ANSWER = re.compile(r"answer\s*[:：]\s*\**\s*\(?\s*(?:example\s*)?#?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Lineup:
    seed_ids: tuple[int, ...]  # the real seeds, in lineup order (K - 1 of them)
    position: int  # where the judged item sits, 1..K

    def order(self) -> list[int | None]:
        """The lineup, None standing for the judged item."""
        order: list[int | None] = list(self.seed_ids)
        order.insert(self.position - 1, None)
        return order


def lineup(rng: random.Random, seed_ids: Sequence[int], exclude: set[int] = frozenset(),
           k: int = K) -> Lineup:
    """K - 1 distinct seeds not in `exclude` (seeds equal to the item), item at a uniform
    position."""
    pool = [i for i in seed_ids if i not in exclude]
    if len(pool) < k - 1:
        raise BareError(f"the judge needs {k - 1} seeds beside each item; the task has "
                        f"{len(pool)}")
    return Lineup(tuple(rng.sample(pool, k - 1)), rng.randrange(1, k + 1))


def parse_answer(reply: str, k: int = K) -> int | None:
    """The number on the reply's last `Answer:` line (1..k), or None."""
    found = None
    for line in reply.splitlines():
        match = ANSWER.search(line)
        if match:  # a number of thousands of digits is no place in a lineup
            digits = match.group(1)
            found = int(digits) if len(digits) <= 4 else 0
    return found if found is not None and 1 <= found <= k else None


def messages(task: Recipe, texts: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The judge's question about one lineup."""
    blocks = "\n\n".join(f"Example {i}:\n{prompts.render_example(task, fields)}"
                         for i, fields in enumerate(texts, start=1))
    return [{"role": "user", "content": (
        f"Here are {len(texts)} examples of a {task.thing}. All but one were written by "
        f"people; one was written by a weak model and is of low quality.\n\n{blocks}\n\n"
        f"Which example is of low quality? Give your reason in one sentence, then end "
        f"your answer with a last line of the form 'Answer: N', where N is the example's "
        f"number (1 to {len(texts)}).")}]


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


def judge(store: Store, task: Recipe, backend: Backend, items: Sequence[Item], *,
          trials: int = 1, rng_seed: int | None = None, sampling: Sampling = SAMPLING,
          on_sample: pipeline.OnSample | None = None,
          stop: threading.Event | None = None) -> pipeline.JobResult:
    """Judge each item `trials` times, each trial with a lineup and seed of its own
    drawn from `rng_seed`; one `judgments` row per trial, committed as it comes."""
    stop = stop or threading.Event()
    if not items:
        return pipeline.JobResult("judge", None, 0, 0, "nothing to do")
    seeds = {s["id"]: s["fields"] for s in store.seeds(task.name)}
    by_text = {content_sha256(fields): ref for ref, fields in seeds.items()}
    rng_seed = rng_seed if rng_seed is not None else secrets.randbits(31)
    planned = len(items) * trials
    run_id = pipeline.open_run(store, "judge", task, backend, sampling, rng_seed, planned,
                               trials=trials, k=K)
    in_flight: dict[tuple[int, int], tuple[Lineup, int]] = {}

    def jobs() -> Iterator[tuple[tuple[int, int], list[dict[str, str]], int]]:
        for index, item in enumerate(items):
            twin = by_text.get(content_sha256(item.fields))
            for trial in range(1, trials + 1):
                if stop.is_set():
                    return
                rng = random.Random(f"{rng_seed}:{task.name}:judge:{item.candidate_id}:"
                                    f"{item.version}:{trial}")
                chosen = lineup(rng, sorted(seeds), {twin} if twin else set())
                texts = [item.fields if ref is None else seeds[ref] for ref in chosen.order()]
                seed = rng.randrange(1, 2**31 - 1)
                in_flight[(index, trial)] = (chosen, seed)
                yield (index, trial), messages(task, texts), seed

    def body() -> tuple[int, int, bool]:
        produced = 0
        for (index, trial), generation in backend.chat_many(jobs(), sampling):
            chosen, seed = in_flight.pop((index, trial))
            item, picked = items[index], parse_answer(generation.text)
            detected = picked is None or picked == chosen.position
            with store.transaction():
                row_id = store.insert("judgments", {
                    "run_id": run_id, "candidate_id": item.candidate_id,
                    "version": item.version, "trial": trial,
                    "lineup": to_json(chosen.order()), "position": chosen.position,
                    "seed": seed, "reply": generation.text, "picked": picked,
                    "detected": int(detected), "created_at": now()})
                store.count_sample(run_id, generation.prompt_tokens,
                                   generation.completion_tokens, generation.ms,
                                   picked is not None)
            produced += 1
            if on_sample:
                on_sample(pipeline.Sample("judge", row_id, produced, planned, generation,
                                          picked is not None, not detected))
            if stop.is_set():
                break
        return produced, planned, stop.is_set()

    return pipeline.run_recorded(store, run_id, body, "judge")


# Each candidate's latest judge run, as the review shows it.
LATEST = "j.run_id = (SELECT max(run_id) FROM judgments WHERE candidate_id = j.candidate_id)"


def rate(store: Store, task: str, *, run_id: int | None = None,
         candidate_ids: Sequence[int] | None = None) -> Rate:
    """IR over one run's trials, else over each candidate's latest run (of some
    candidates, or of the whole task)."""
    sql = ("SELECT count(*), sum(1 - j.detected), sum(j.picked IS NULL) FROM judgments j"
           " JOIN candidates c ON c.id = j.candidate_id WHERE c.task = ?")
    args: list[Any] = [task]
    if run_id is not None:
        sql += " AND j.run_id = ?"
        args.append(run_id)
    else:
        sql += f" AND {LATEST}"
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
