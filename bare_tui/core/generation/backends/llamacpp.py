"""In-process llama.cpp backend (llama-cpp-python).

A `Llama` object is not thread-safe: use one backend per model per thread. Repeated
prompts that share a prefix (the few-shot examples) reuse the evaluated prefix
automatically inside `Llama.generate`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from bare_tui.core.generation import cpu_path
from bare_tui.core.generation.backends import Backend, Generation
from bare_tui.core.generation.backends.parallel import ParallelEngine, Request
from bare_tui.core.generation.model_files import ModelFile, gpu_offload_available
from bare_tui.core.inputs.recipes import Sampling
from bare_tui.errors import BareError

K = TypeVar("K")


# Sequences decoded at once by default: on CPUs, 16 reached 3.2 times the tokens/s of
# one-at-a-time generation on 2 cores (bench/draft_throughput.py; 24 did as well, 32 less);
# GPUs take more.
DEFAULT_PARALLEL_CPU = 16
DEFAULT_PARALLEL_GPU = 64


@dataclass(frozen=True)
class LlamaOptions:
    gpu_layers: int | None = None  # None: all layers when offload is available, else 0
    ctx: int = 4096  # per sequence
    threads: int | None = None
    parallel: int | None = None  # None: chosen for the hardware
    cpu_path: str = "auto"  # "fast", "safe" or "auto" (probe once per machine)
    probing: cpu_path.Probing | None = None  # None: verdicts kept in the model's cache
    # parallel sequences take the prompt prefix they share from the KV cache (off: each
    # evaluates its whole prompt; bench/draft_throughput.py measures both)
    share_prefix: bool = True

    def resolved_gpu_layers(self) -> int:
        if self.gpu_layers is not None:
            return self.gpu_layers
        return -1 if gpu_offload_available() else 0

    def resolved_parallel(self, gpu_layers: int) -> int:
        if self.parallel is not None:
            return max(1, self.parallel)
        return DEFAULT_PARALLEL_GPU if gpu_layers != 0 else DEFAULT_PARALLEL_CPU


class LlamaCppBackend(Backend):
    def __init__(self, model: ModelFile, options: LlamaOptions = LlamaOptions()):
        self.model = model
        self.options = options
        self.gpu_layers = options.resolved_gpu_layers()
        self.parallel = options.resolved_parallel(self.gpu_layers)
        self.threads = options.threads or max(1, os.cpu_count() or 1)
        self._engine: ParallelEngine | None = None
        self._formatter: Any = None
        self._grammars: dict[str, Any] = {}
        self.cpu_path = cpu_path.choose(model.path, options.cpu_path,
                                        options.probing or cpu_path.Probing(model.cache),
                                        threads=self.threads)
        try:
            from llama_cpp import Llama
            from llama_cpp._utils import suppress_stdout_stderr
        except ImportError as exc:
            raise BareError(f"llama-cpp-python is not installed or broken: {exc}") from None
        try:
            # llama.cpp logs to the C-level stderr even when not verbose.
            with suppress_stdout_stderr(disable=False), cpu_path.model_params(self.cpu_path.fast):
                self.llama = Llama(
                    model_path=str(model.path),
                    n_ctx=options.ctx,
                    n_gpu_layers=self.gpu_layers,
                    n_threads=self.threads,
                    flash_attn=self.gpu_layers != 0,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BareError(f"cannot load model {model.path}: {exc}") from None

    def describe(self) -> dict[str, str]:
        where = "cpu" if self.gpu_layers == 0 else f"gpu ({self.gpu_layers} layers)"
        return {"backend": "llama.cpp", "model": self.model.name,
                "model_path": str(self.model.path), "model_sha256": self.model.sha256,
                "device": where, "parallel": str(self.parallel),
                "cpu_path": "fast" if self.cpu_path.fast else "safe"}

    takes_grammar = True

    def _grammar(self, text: str | None) -> Any:
        if not text:
            return None
        if text not in self._grammars:
            import llama_cpp
            from llama_cpp import LlamaGrammar

            # Parse it once against the vocabulary: a bad grammar is one line here, not
            # a failure deep inside a generation.
            sampler = llama_cpp.llama_sampler_init_grammar(
                llama_cpp.llama_model_get_vocab(self.llama._model.model), text.encode(),
                b"root")
            if not sampler:
                raise BareError("llama.cpp could not load the output grammar; check the "
                                "recipe's field `grammar` entries")
            llama_cpp.llama_sampler_free(sampler)
            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def _params(self, sampling: Sampling, seed: int) -> dict[str, Any]:
        return {
            "grammar": self._grammar(sampling.grammar),
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
        """A chat reply through the model's own template, as `chat_many` formats it; a
        last assistant message is the reply's opening, which the model continues."""
        started = time.perf_counter()
        tokens, stop = self._chat_prompt(messages, sampling)
        out = _checked(self.llama.create_completion, tokens,
                       **{**self._params(sampling, seed), "stop": list(stop) or None})
        return _generation(out, out["choices"][0]["text"], started)

    takes_reply_start = True

    @property
    def cannot_chat(self) -> str | None:
        """Why this model cannot answer chat messages, if it cannot."""
        if self.llama.metadata.get("tokenizer.chat_template"):
            return None
        return f"{self.model.name} has no chat template in its GGUF metadata"

    # --- many at once ----------------------------------------------------------------------

    def engine(self) -> ParallelEngine:
        if self._engine is None:
            from llama_cpp._utils import suppress_stdout_stderr

            with suppress_stdout_stderr(disable=False):
                self._engine = ParallelEngine(self.llama, self.parallel, self.options.ctx,
                                              self.threads, flash_attn=self.gpu_layers != 0,
                                              share_prefix=self.options.share_prefix)
        return self._engine

    def complete_many(self, jobs: Iterable[tuple[K, str, int]], sampling: Sampling
                      ) -> Iterator[tuple[K, Generation]]:
        """Raw completions of many prompts, decoded `parallel` at a time; yields
        (key, generation) in the order they finish."""
        if self.parallel == 1:
            yield from super().complete_many(jobs, sampling)
            return
        def request(job: tuple[K, str, int]) -> Request:
            key, prompt, seed = job
            return Request(key, self.llama.tokenize(prompt.encode(), special=True), sampling,
                           seed, sampling.stop)

        # `map`, not a generator: it asks `jobs` again after they ran dry, so retries
        # added meanwhile are taken (core/generation/attempts.py).
        yield from self.engine().run(map(request, jobs))

    def chat_many(self, jobs: Iterable[tuple[K, list[dict[str, str]], int]],
                  sampling: Sampling) -> Iterator[tuple[K, Generation]]:
        """Chat completions through the model's own template, `parallel` at a time."""
        if self.parallel == 1:
            yield from super().chat_many(jobs, sampling)
            return
        def request(job: tuple[K, list[dict[str, str]], int]) -> Request:
            key, messages, seed = job
            tokens, stop = self._chat_prompt(messages, sampling)
            return Request(key, tokens, sampling, seed, stop)

        yield from self.engine().run(map(request, jobs))  # see complete_many

    def _chat_prompt(self, messages: list[dict[str, str]], sampling: Sampling
                     ) -> tuple[list[int], tuple[str, ...]]:
        """The prompt tokens of chat messages, and the stop strings of the reply."""
        opening = ""
        if messages and messages[-1]["role"] == "assistant":
            opening, messages = messages[-1]["content"], messages[:-1]
        formatted = self._chat_formatter()(messages=messages)
        tokens = self.llama.tokenize((formatted.prompt + opening).encode(), special=True,
                                     add_bos=not formatted.added_special)
        extra = formatted.stop or ()
        return tokens, (*sampling.stop, *([extra] if isinstance(extra, str) else extra))

    def _chat_formatter(self) -> Any:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise BareError(f"{self.cannot_chat}; choose an instruct model that has one")
            model = self.llama._model
            eos, bos = model.token_eos(), model.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
                stop_token_ids=[eos],
            )
        return self._formatter


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
