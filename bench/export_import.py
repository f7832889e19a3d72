"""Export and import at scale: time, peak memory, and how long a write lock is held.

Export: a workspace of N accepted items (imported, then accepted in one step) is
exported with the `fields` profile, each size in a fresh process so that its peak RSS is
its own; prints time and peak RSS per size and the large/small ratios.

Import: `candidates import` of N generated GSM8K-shaped rows (checked and verified like
any import) into a fresh workspace, again a process per size; meanwhile a second process
does what a review window does, a short write transaction every 20 ms, and reports the
longest it had to wait for the lock (the longest hold the import imposed on it).

    python bench/export_import.py                     # export 10k/100k, import 100k/1M
    python bench/export_import.py --export 1000,10000 --import 10000,100000   # quicker
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bare_tui.core.datasets.dataset_import import import_candidates  # noqa: E402
from bare_tui.core.datasets.export import export  # noqa: E402
from bare_tui.core.inputs import recipes  # noqa: E402
from bare_tui.core.reviewing import review  # noqa: E402
from bare_tui.core.workspace.store import Store  # noqa: E402


def rows_file(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps({
                "question": f"Tom has {i} marbles and finds {i % 7 + 1} more. How many now?",
                "answer": f"{i} + {i % 7 + 1} = {i + i % 7 + 1}\n#### {i + i % 7 + 1}"}) + "\n")
    return path


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _export_child(db: str, out: str, queue: multiprocessing.Queue) -> None:
    with Store(Path(db)) as store:
        task = recipes.resolve(store, "gsm8k")
        before = peak_rss_mb()
        start = time.perf_counter()
        result = export(store, task, out, profile="fields")
        queue.put((result.written, time.perf_counter() - start, before, peak_rss_mb()))


def _import_child(db: str, data: str, queue: multiprocessing.Queue) -> None:
    with Store(Path(db)) as store:
        task = recipes.resolve(store, "gsm8k")
        start = time.perf_counter()
        result = import_candidates(store, task, data)
        queue.put((result.added, time.perf_counter() - start, 0.0, peak_rss_mb()))


def _reviewer(db: str, stop, queue: multiprocessing.Queue) -> None:
    """A review window's writes: short transactions; the longest wait for the lock."""
    conn = sqlite3.connect(db, timeout=600, isolation_level=None)
    longest = 0.0
    while not stop.is_set():
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        longest = max(longest, time.perf_counter() - start)
        conn.execute("COMMIT")
        time.sleep(0.02)
    queue.put(longest)


def in_child(target, *args) -> tuple:
    queue = multiprocessing.Queue()
    child = multiprocessing.Process(target=target, args=(*args, queue))
    child.start()
    found = queue.get()
    child.join()
    return found


def bench_export(folder: Path, count: int) -> tuple[float, float]:
    db = folder / f"export-{count}.db"
    with Store(db) as store:
        task = recipes.resolve(store, "gsm8k")
        import_candidates(store, task, rows_file(folder / f"export-{count}.jsonl", count))
        review.decide(store, range(1, count + 1), "accept", "bench")
    written, seconds, before, peak = in_child(_export_child, str(db),
                                              str(folder / f"out-{count}.jsonl"))
    assert written == count, written
    print(f"export {count:>9,} items: {seconds:7.2f} s, peak RSS {peak:6.0f} MB "
          f"(before the export {before:.0f} MB)", flush=True)
    return seconds, peak


def bench_import(folder: Path, count: int) -> tuple[float, float, float]:
    db = folder / f"import-{count}.db"
    with Store(db) as store:
        recipes.resolve(store, "gsm8k")
    data = rows_file(folder / f"import-{count}.jsonl", count)
    stop = multiprocessing.Event()
    waits = multiprocessing.Queue()
    reviewer = multiprocessing.Process(target=_reviewer, args=(str(db), stop, waits))
    reviewer.start()
    added, seconds, _before, peak = in_child(_import_child, str(db), str(data))
    stop.set()
    longest = waits.get()
    reviewer.join()
    assert added == count, added
    print(f"import {count:>9,} rows: {seconds:7.2f} s, peak RSS {peak:6.0f} MB, longest wait "
          f"of a review window's write: {longest * 1000:.0f} ms", flush=True)
    return seconds, peak, longest


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", default="10000,100000", help="small,large")
    parser.add_argument("--import", dest="imports", default="100000,1000000",
                        help="small,large")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bare-bench-") as folder:
        small, large = (bench_export(Path(folder), n) for n in sizes(args.export))
        print(f"export ratios {sizes(args.export)[1] // sizes(args.export)[0]}x items: "
              f"time {large[0] / small[0]:.1f} (target <= 12), peak RSS "
              f"{large[1] / small[1]:.2f} (target <= 2)", flush=True)
        small, large = (bench_import(Path(folder), n) for n in sizes(args.imports))
        print(f"import ratios {sizes(args.imports)[1] // sizes(args.imports)[0]}x rows: "
              f"time {large[0] / small[0]:.1f} (target <= 12); longest lock wait "
              f"{max(small[2], large[2]) * 1000:.0f} ms (target <= 1000)")


if __name__ == "__main__":
    main()
