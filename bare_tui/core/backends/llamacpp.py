"""In-process llama.cpp backend (llama-cpp-python).

A `Llama` object is not thread-safe: use one backend per model per thread. Repeated
prompts that share a prefix (the few-shot examples) reuse the evaluated prefix
automatically inside `Llama.generate`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from bare_tui.core.backends import Generation
from bare_tui.core.models import ModelFile, gpu_offload_available
from bare_tui.core.tasks import Sampling
from bare_tui.errors import BareError


@dataclass(frozen=True)
class LlamaOptions:
    gpu_layers: int | None = None  # None: all layers when offload is available, else 0
    ctx: int = 4096
    threads: int | None = None

    def resolved_gpu_layers(self) -> int:
        if self.gpu_layers is not None:
            return self.gpu_layers
        return -1 if gpu_offload_available() else 0


class LlamaCppBackend:
    def __init__(self, model: ModelFile, options: LlamaOptions = LlamaOptions()):
        self.model = model
        self.options = options
        self.gpu_layers = options.resolved_gpu_layers()
        try:
            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr
        except ImportError as exc:
            raise BareError(f"llama-cpp-python is not installed or broken: {exc}") from None
        try:
            # llama.cpp logs to the C-level stderr even when not verbose.
            with suppress_stdout_stderr(disable=False):
                self.llama = Llama(
                    model_path=str(model.path),
                    n_ctx=options.ctx,
                    n_gpu_layers=self.gpu_layers,
                    n_threads=options.threads or max(1, os.cpu_count() or 1),
                    flash_attn=self.gpu_layers != 0,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BareError(f"cannot load model {model.path}: {exc}") from None

    def describe(self) -> dict[str, str]:
        where = "cpu" if self.gpu_layers == 0 else f"gpu ({self.gpu_layers} layers)"
        return {"backend": "llama.cpp", "model": self.model.name,
                "model_path": str(self.model.path), "model_sha256": self.model.sha256,
                "device": where}

    def _params(self, sampling: Sampling, seed: int) -> dict[str, Any]:
        return {
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "min_p": sampling.min_p,
            "repeat_penalty": sampling.repeat_penalty,
            "stop": list(sampling.stop) or None,
            "seed": seed,
        }

    def complete(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        started = time.perf_counter()
        out = _checked(self.llama.create_completion, prompt, **self._params(sampling, seed))
        return _generation(out, out["choices"][0]["text"], started)

    def chat(self, messages: list[dict[str, str]], sampling: Sampling, seed: int) -> Generation:
        started = time.perf_counter()
        out = _checked(self.llama.create_chat_completion, messages,
                       **self._params(sampling, seed))
        return _generation(out, out["choices"][0]["message"]["content"] or "", started)


def _checked(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        return call(*args, **kwargs)
    except ValueError as exc:
        if "context window" in str(exc):
            raise BareError(f"prompt does not fit: {exc}; raise --ctx or use fewer shots") from None
        raise


def _generation(out: dict[str, Any], text: str, started: float) -> Generation:
    usage = out.get("usage", {})
    return Generation(
        text=text,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        ms=(time.perf_counter() - started) * 1000,
        finish_reason=out["choices"][0].get("finish_reason") or "stop",
    )
