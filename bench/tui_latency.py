"""Review screen latency on a small and a huge workspace, through Textual's pilot.

Builds workspaces of 1,000 and 100,000 (or `--candidates N`) refined candidates, each in
a child process, then measures, for each, in turns (small, large, small, large with the
default `--rounds 2`, pooled: a slower minute of the machine falls on both): startup to
the first screen, and
keypress-to-updated-screen for `j` (next), `a` (accept and advance), `x` (reject and
advance), `u` (undo), `]` (the next changed hunk of the diff), `<` (keep the draft's
side of the current hunk: a merge, saved), `/` (Enter on a search: the list shows the
matches) and `f` (Enter on a filter: pending, then all again), as median and p95, and
the process's resident memory after each size's first turn. Prints the large/small
ratios: the cost of a keypress must not grow with the size of the workspace.

The app polls the workspace as it does for a person (every second): a poll that finds
a change reloads the list, so the run also counts the reloads that happened while keys
were pressed (this window's own decisions must cause none).

A keypress is timed from the key event entering the app to the first frame the
compositor produces after the app has acted on it (frames come at most every 1/60 s,
as on a real terminal; writing the frame to a terminal is not included). The pilot's
own `press()` adds fixed waits for idleness (tens of ms) that say nothing about the app,
so it is not used. Startup is timed from making the app to the first frame that shows
the review list with its cursor on a candidate.

    python bench/tui_latency.py [--small 1000] [--large 100000] [--presses 60]
    python bench/tui_latency.py --candidates 1000000
    python bench/tui_latency.py --candidates 1000000 --built m1.db  # kept, or a copy of it
    python bench/tui_latency.py --candidates 1000000 --importing  # j, a during an import
    python bench/tui_latency.py --candidates 1000000 --importing --built m1.db
    python bench/tui_latency.py --generating    # idle vs a background generation job
    python bench/tui_latency.py --reclustering  # clusters view: idle vs while reclustering

With `--importing`, `j` and `a` are timed on the large workspace idle, then while another
process runs a `candidates import` of as many rows into the same workspace. With
`--generating`, keypresses are timed on the small workspace first idle, then while a
background job drafts with the real embedded models in its worker process. With
`--reclustering`, `j`/`k` in the clusters view are timed on 20,000 candidates with
synthetic 384-d embeddings, first idle, then while `r` reclusters them in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from bare_tui.config import Settings  # noqa: E402
from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.inputs.seeds import import_seeds  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402
from bare_tui.core.workspace.values import now  # noqa: E402
from bare_tui.tui.app import BareApp  # noqa: E402
from bare_tui.tui.messages import StartJob, StopJob  # noqa: E402
from bare_tui.tui.screens.modals import AskScreen, ChooseScreen  # noqa: E402
from bare_tui.tui.screens.review import ReviewScreen  # noqa: E402
from bare_tui.tui.widgets.diff_view import DiffView  # noqa: E402

SEEDS = ROOT / "data" / "seeds" / "gsm8k_train_200.jsonl"
SIZE = (120, 40)


def build(path: Path, count: int) -> None:
    """A workspace of `count` drafted and refined candidates, written in bulk."""
    with Store(path) as store:
        task = recipes.resolve(store, "gsm8k")
        import_seeds(store, task, SEEDS)
        seeds = [s["fields"] for s in store.seeds("gsm8k")]
        with store.transaction() as conn:
            run_id = store.insert("runs", {"kind": "draft", "task": "gsm8k", "model": "bench",
                                           "status": "done", "started_at": now()})
            for start in range(0, count, 10_000):
                drafts, refined = [], []
                for i in range(start, min(count, start + 10_000)):
                    seed = seeds[i % len(seeds)]
                    fields = {"question": f"{seed['question']} (variant {i})",
                              "answer": seed["answer"]}
                    # two hunks at least: one at each end of the question
                    better = {"question": "Please: " + fields["question"].replace(
                        " a ", " one ") + " (checked)", "answer": seed["answer"]}
                    text = f"Question:\n{fields['question']}\nAnswer:\n{fields['answer']}"
                    drafts.append((i + 1, "gsm8k", run_id, i, "[1, 2, 3]", text,
                                   json.dumps(fields), "[]", 1, now()))
                    refined.append((i + 1, run_id, i, text, json.dumps(better), "[]", 1, now()))
                conn.executemany(
                    "INSERT INTO candidates (id, task, run_id, seed, shot_ids, raw_text, fields,"
                    " validation, valid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    drafts)
                conn.executemany(
                    "INSERT INTO refinements (candidate_id, run_id, seed, raw_text, fields,"
                    " validation, valid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", refined)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


class FrameClock:
    """Counts the frames the app composes, with the time of the latest."""

    def __init__(self, app: BareApp) -> None:
        self.frames = 0
        self.last = 0.0
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is not None:
                self.frames += 1
                self.last = time.perf_counter()

        app._display = display


KEYS = {"j": "j", "a": "a", "x": "x", "u": "u", "]": "right_square_bracket",
        "<": "less_than_sign", "enter": "enter"}
CHARACTERS = {"enter": "\r", "slash": "/"}
TIMED = ("j", "a", "x", "u", "]", "<", "/", "f")
TARGETS = ("j", "a", "x", "u", "/", "f")  # the keys whose p95 has a target


def shown(app: BareApp) -> tuple:
    """What a key changes: the cursor, the decisions, the current hunk, the list."""
    screen = app.review_screen
    return (screen.candidates.cursor, app.store.scalar("SELECT max(id) FROM events"),
            screen.query_one(DiffView).hunk, id(screen.candidates.ids))


def rss_mb() -> float:
    """The process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def keypress(app: BareApp, clock: FrameClock, key: str) -> float:
    """Seconds from the key event to the first frame showing its effect."""
    before = shown(app)
    started = time.perf_counter()
    app._driver.send_message(events.Key(KEYS.get(key, key), CHARACTERS.get(key, key)))
    while shown(app) == before:
        if time.perf_counter() - started > 60:
            raise SystemExit(f"{key}: nothing changed on screen in a minute "
                             f"({type(app.screen).__name__} on top)")
        await asyncio.sleep(0)
    frame = clock.frames
    while clock.frames == frame:
        await asyncio.sleep(0)
    return clock.last - started


async def first_screen(app: BareApp, clock: FrameClock) -> float:
    """When the first frame showing the review list with its cursor on a candidate was
    composed. (The pilot's pause() would wait for the whole process to go idle, which
    includes the counts that run in threads after the screen is up.)"""
    while not (isinstance(app.screen, ReviewScreen) and app.screen.candidates.current_id):
        await asyncio.sleep(0)
    frame = clock.frames
    while clock.frames == frame:
        await asyncio.sleep(0)
    return clock.last


async def in_modal(app: BareApp, clock: FrameClock, opener: str, kind: type, answer) -> float:
    """Open a modal with its key, answer it, and time the Enter that applies it."""
    app._driver.send_message(events.Key(opener, CHARACTERS.get(opener, opener)))
    while not isinstance(app.screen, kind):
        await asyncio.sleep(0)
    await asyncio.sleep(0.02)
    answer(app.screen)
    await asyncio.sleep(0.02)
    return await keypress(app, clock, "enter")


def searched(needle: str):
    def answer(screen: AskScreen) -> None:
        screen.query_one("#answer").value = needle
    return answer


def filtered(name: str):
    def answer(screen: ChooseScreen) -> None:
        screen.query_one("#choices").highlighted = screen.options.index(name)
    return answer


async def measure(db: Path, presses: int, startups: int) -> tuple[dict[str, list[float]], int]:
    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    settings = Settings(db=db, reviewer="bench")
    results: dict[str, list[float]] = {"startup": [], **{key: [] for key in TIMED}}
    for _ in range(startups):
        started = time.perf_counter()
        app = BareApp(settings, task, poll_s=3600)
        clock = FrameClock(app)
        async with app.run_test(size=SIZE):
            results["startup"].append(await first_screen(app, clock) - started)
            await app.workers.wait_for_complete()
    app = BareApp(settings, task)  # polling every second, as for a person
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        changes = app.changes
        for key in ("j", "a", "x", "u"):
            for _ in range(presses):
                results[key].append(await keypress(app, clock, key))
                await asyncio.sleep(0.02)  # a fast curator: 50 keys a second at most
        # enough of each for a p95 that is not just the slowest: 30 and 20 at 40 presses
        for n in range(3 * max(2, presses // 4)):  # one match, every variant 7..., clear
            needle = ("(variant 123)", "variant 7", "")[n % 3]
            results["/"].append(await in_modal(app, clock, "slash", AskScreen,
                                               searched(needle)))
        for n in range(2 * max(2, presses // 4)):
            name = ("pending", "all")[n % 2]
            results["f"].append(await in_modal(app, clock, "f", ChooseScreen, filtered(name)))
        for _ in range(presses):  # on each candidate: its first hunk, then the draft's side
            await keypress(app, clock, "j")
            for key in ("]", "<"):
                await asyncio.sleep(0.02)
                results[key].append(await keypress(app, clock, key))
            await asyncio.sleep(0.02)
        reloads = app.changes - changes
    return results, reloads


async def measure_generating(db: Path, presses: int) -> dict[str, list[float]]:
    """`j` and `a` with no job, then with a background job drafting and refining with the
    real embedded models (in its worker process) in the same workspace."""
    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    app = BareApp(Settings(db=db, reviewer="bench"), task, poll_s=1.0, max_tokens=32)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for phase in ("idle", "generating"):
            if phase == "generating":
                app.post_message(StartJob(1000))
                while "ETA" not in app.job_line:  # samples are being committed
                    await asyncio.sleep(0.1)
            for key in ("j", "a"):
                name = f"{phase} {key}"
                results[name] = []
                for _ in range(presses):
                    results[name].append(await keypress(app, clock, key))
                    await asyncio.sleep(0.02)
        samples = app.job_line
        app.post_message(StopJob())
        while app.job_running:
            await asyncio.sleep(0.1)
    print(f"  (job at the end of the measurement: {samples})")
    return results


def add_vectors(path: Path, dim: int = 384, clusters: int = 12) -> None:
    """A synthetic final-text embedding per candidate (grouped, so clusters exist), and a
    first clustering, so the clusters view has rows to move through."""
    import numpy as np

    from bare_tui.core.measures import curation, embeddings

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(clusters, dim))
    with Store(path) as store:
        ids = [row[0] for row in store.conn.execute("SELECT id FROM candidates")]
        vectors = centres[rng.integers(0, clusters, len(ids))] + rng.normal(
            scale=0.6, size=(len(ids), dim))
        vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
        name = embeddings.model_name(None)
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO embeddings (kind, ref_id, model, text_sha256, dim, vector,"
                " created_at) VALUES ('final', ?, ?, '', ?, ?, ?)",
                [(cid, name, dim, vector.tobytes(), now()) for cid, vector in zip(
                    ids, vectors, strict=True)])
        curation.recluster(store, recipes.resolve(store, "gsm8k"))


async def table_keypress(app: BareApp, clock: FrameClock, key: str) -> float:
    """Seconds from a key event to the first frame after the clusters table moved."""
    from textual.widgets import DataTable

    table = app.screen.query_one(DataTable)
    before = table.cursor_row
    started = time.perf_counter()
    app._driver.send_message(events.Key(key, key))
    while table.cursor_row == before:
        await asyncio.sleep(0)
    frame = clock.frames
    while clock.frames == frame:
        await asyncio.sleep(0)
    return clock.last - started


async def measure_reclustering(db: Path, presses: int) -> dict[str, list[float]]:
    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    app = BareApp(Settings(db=db, reviewer="bench"), task, poll_s=3600)
    results: dict[str, list[float]] = {"idle": [], "reclustering": []}
    reclusters = 0
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await app.workers.wait_for_complete()
        await pilot.press("c")
        await app.workers.wait_for_complete()
        await pilot.pause()
        for phase in ("idle", "reclustering"):
            for n in range(presses):
                if phase == "reclustering" and not any(
                        w.group == "clusters" and w.is_running for w in app.workers):
                    app.screen.action_recluster()
                    reclusters += 1
                    await asyncio.sleep(0.05)  # the worker is under way
                results[phase].append(await table_keypress(app, clock, "jk"[n % 2]))
                await asyncio.sleep(0.02)
        await app.workers.wait_for_complete()
    print(f"  ({reclusters} reclusterings of the 20,000 vectors ran during the presses)")
    return results


def report(results: dict[str, list[float]]) -> dict[str, float]:
    """Print each measurement's median and p95; return the p95s."""
    p95 = {name: percentile(values, 0.95) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name}: median {statistics.median(values) * 1000:.1f} ms, "
              f"p95 {p95[name] * 1000:.1f} ms")
    return p95


def reclustering_part(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "clusters.db"
        build(db, 20_000)
        add_vectors(db)
        results = asyncio.run(measure_reclustering(db, args.presses))
    p95 = report(results)
    print(f"p95 reclustering / idle {p95['reclustering'] / p95['idle']:.2f}; "
          f"p95 while reclustering {p95['reclustering'] * 1000:.1f} ms (target < 50 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=0, metavar="N",
                        help="the large workspace's size (same as --large)")
    parser.add_argument("--importing", action="store_true",
                        help="only j and a on the large workspace, idle vs during an import")
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--built", type=Path, metavar="DB",
                        help="keep the large workspace built as DB, or measure a fresh copy "
                        "of DB where it was built before (a million take 10 minutes)")
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2,
                        help="measure the two sizes in turn this many times, pooled")
    parser.add_argument("--generating", action="store_true",
                        help="only measure keypresses idle vs with a background job")
    parser.add_argument("--reclustering", action="store_true",
                        help="only measure the clusters view's keys idle vs reclustering")
    args = parser.parse_args()
    if args.generating:
        generating_part(args)
        return
    if args.reclustering:
        reclustering_part(args)
        return
    if args.candidates:
        args.large = args.candidates
    if args.importing:
        importing_part(args)
        return
    sizes = (args.small, args.large)
    pooled: dict[int, dict[str, list[float]]] = {count: {} for count in sizes}
    reloads, memory = dict.fromkeys(sizes, 0), {}
    with tempfile.TemporaryDirectory() as folder:
        built_as = {count: Path(folder) / f"{count}-built.db" for count in sizes}
        for count in sizes:
            if count == args.large and args.built:
                built_as[count] = args.built
                if args.built.exists():
                    print(f"measuring copies of {args.built} ({count:,} candidates)")
                    continue
            seconds = built(built_as[count], count)
            kept = f", kept as {args.built}" if built_as[count] == args.built else ""
            print(f"built {count:,} candidates in {seconds:.1f}s (in a child process){kept}")
        # In turns, so that a slower minute of a shared machine falls on both sizes; each
        # turn on a fresh copy (the presses accept, reject and merge).
        for _ in range(args.rounds):
            for count in sizes:
                db = Path(folder) / f"{count}.db"
                fresh_copy(built_as[count], db)
                results, reloaded = asyncio.run(measure(db, args.presses, args.startups))
                for key, values in results.items():
                    pooled[count].setdefault(key, []).extend(values)
                reloads[count] += reloaded
                memory.setdefault(count, rss_mb())  # the small one's before the large one
                for leftover in Path(folder).glob(f"{count}.db*"):
                    leftover.unlink()
    summary = {}
    for count, results in pooled.items():
        summary[count] = {
            "startup": statistics.median(results["startup"]),
            **{f"{key} {stat}": value for key in TIMED for stat, value in (
                ("median", statistics.median(results[key])),
                ("p95", percentile(results[key], 0.95)))},
        }
        print(f"{count:>9,} candidates: " + ", ".join(
            f"{name} {value * 1000:.1f} ms" for name, value in summary[count].items())
            + f"; a max {max(results['a']) * 1000:.1f} ms; list reloads while keys were"
            f" pressed: {reloads[count]}; resident memory {memory[count]:.0f} MB", flush=True)
    small, large = summary[args.small], summary[args.large]
    print(f"ratios {args.large:,}/{args.small:,}: " + ", ".join(
        f"{name} {large[name] / small[name]:.2f}" for name in small))
    for count, stats in ((args.large, large), (args.small, small)):
        worst = max(TARGETS, key=lambda key: stats[f"{key} p95"])
        print(f"worst p95 of {' '.join(TARGETS)} at {count:,} candidates: {worst} "
              f"{stats[f'{worst} p95'] * 1000:.1f} ms (target < 50 ms)")


def fresh_copy(source: Path, db: Path) -> None:
    """A copy of a workspace to measure, its writes on the disk before the presses (not
    written back while keys are timed)."""
    shutil.copyfile(source, db)
    os.sync()


def built(db: Path, count: int) -> float:
    """Seconds to build the workspace, in a child process (its memory is not ours)."""
    started = time.perf_counter()
    child = multiprocessing.Process(target=build, args=(db, count))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"building {count:,} candidates failed")
    return time.perf_counter() - started


def _import(db: str, data: str, count: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from export_import import rows_file

    from bare_tui.core.datasets.dataset_import import import_candidates

    rows_file(Path(data), count)
    with Store(Path(db)) as store:
        import_candidates(store, recipes.resolve(store, "gsm8k"), data)


async def measure_importing(db: Path, data: Path, count: int, presses: int
                            ) -> dict[str, list[float]]:
    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    app = BareApp(Settings(db=db, reviewer="bench"), task)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        importer = None
        for phase in ("idle", "importing"):
            if phase == "importing":
                importer = multiprocessing.Process(target=_import,
                                                   args=(str(db), str(data), count))
                importer.start()
                while app.store.scalar("SELECT count(*) FROM runs WHERE kind = 'import'") == 0:
                    await asyncio.sleep(0.1)  # the import's first chunk is being written
            for key in ("j", "a"):
                results[f"{phase} {key}"] = []
                for _ in range(presses):
                    results[f"{phase} {key}"].append(await keypress(app, clock, key))
                    await asyncio.sleep(0.02)
        still = importer.is_alive()
        importer.join()
    print(f"  (the import {'was still running' if still else 'had ended'} at the end of "
          "the presses)")
    return results


def importing_part(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "review.db"
        if args.built and args.built.exists():
            fresh_copy(args.built, db)
            print(f"measuring a copy of {args.built} ({args.large:,} candidates)")
        else:
            print(f"built {args.large:,} candidates in {built(db, args.large):.1f}s")
        results = asyncio.run(measure_importing(db, Path(folder) / "rows.jsonl", args.large,
                                                args.presses))
    p95 = report(results)
    print(f"worst p95 while importing {args.large:,} rows: "
          f"{max(p95['importing j'], p95['importing a']) * 1000:.1f} ms (target < 100 ms)")


def generating_part(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "generating.db"
        build(db, args.small)
        results = asyncio.run(measure_generating(db, args.presses))
    p95 = report(results)
    for key in ("j", "a"):
        print(f"{key}: p95 generating / idle {p95[f'generating {key}'] / p95[f'idle {key}']:.2f}"
              " (target <= 1.5)")


if __name__ == "__main__":
    main()
