"""Many sequences decoded at once in one llama.cpp context (continuous batching).

Each step puts one token of every live sequence into a single `llama_batch` and decodes
them together, which uses the hardware far better than one sequence at a time. The KV
cache is unified: the prompt prefix that requests share (the few-shot examples) is
evaluated once, in a holder sequence, and copied into each new sequence by reference
(`llama_memory_seq_cp`) instead of being evaluated again. A new request takes the
longest prefix it shares with any prompt held: the holder's, a running sequence's, or
that of a finished one, kept until its place is taken (a retry of the same prompt
evaluates one token of it). Every sequence has its own sampler (backends/sampling.py)
and seed, its own stop strings and token budget; when one finishes, the next request
takes its place at once.

This uses the low-level API of llama-cpp-python; the `Llama` object supplies the
loaded model and tokenizer. Like `Llama`, an engine is not thread-safe.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bare_tui.core.generation.backends import Generation, sampling
from bare_tui.core.inputs.recipes import Sampling
from bare_tui.errors import BareError

K = TypeVar("K")


@dataclass
class Request(Generic[K]):
    key: K
    tokens: list[int]
    sampling: Sampling
    seed: int
    stop: tuple[str, ...] = ()


@dataclass
class _Slot:
    seq: int
    request: Request
    sampler: Any  # llama.cpp's sampler chain, or None when `draw` picks the tokens
    draw: sampling.TemperatureDraw | None
    grammar: Any  # None, or the output grammar's sampler
    pending: list[int]  # prompt tokens still to evaluate
    position: int  # position of the next token to go into the batch
    started: float
    output: bytearray = field(default_factory=bytearray)
    generated: int = 0
    logits_index: int = -1  # where this slot's logits are in the current batch
    last_token: int | None = None


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class ParallelEngine:
    """Decodes up to `n_parallel` requests at once on the model of a loaded `Llama`."""

    def __init__(self, llama: Any, n_parallel: int, ctx_per_sequence: int,
                 threads: int, n_batch: int = 512, flash_attn: bool = False,
                 share_prefix: bool = True):
        import llama_cpp

        self.lib = llama_cpp
        self.llama = llama
        self.n_parallel = n_parallel
        self.ctx_per_sequence = ctx_per_sequence
        self.n_batch = n_batch
        self.share_prefix = share_prefix  # off: every prompt evaluated whole (to measure)
        params = llama_cpp.llama_context_default_params()
        # One extra sequence holds the shared prompt prefix.
        params.n_ctx = ctx_per_sequence * (n_parallel + 1)
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_parallel + 1
        params.kv_unified = True
        params.n_threads = threads
        params.n_threads_batch = threads
        params.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attn
                                  else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self.model = llama._model.model
        self.ctx = llama_cpp.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise BareError(f"cannot create a context for {n_parallel} parallel sequences;"
                            " lower --parallel or --ctx")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self.holder_seq = n_parallel
        self.holder: list[int] = []
        self.kept: dict[int, list[int]] = {}  # finished sequences: their prompt, still held
        self.prompt_tokens_evaluated = 0  # what sharing prompts did not save
        self._piece = ctypes.create_string_buffer(256)
        self._candidates: Any = None  # token candidates, for sampling under a grammar
        self._ids: Any = None

    def close(self) -> None:
        if self.ctx:
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.ctx = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    # --- batch helpers -------------------------------------------------------------------

    def _clear_batch(self) -> None:
        self.batch.n_tokens = 0

    def _add(self, token: int, position: int, seq: int, logits: bool) -> int:
        i = self.batch.n_tokens
        self.batch.token[i] = token
        self.batch.pos[i] = position
        self.batch.n_seq_id[i] = 1
        self.batch.seq_id[i][0] = seq
        self.batch.logits[i] = logits
        self.batch.n_tokens = i + 1
        return i

    def _decode(self) -> None:
        status = self.lib.llama_decode(self.ctx, self.batch)
        if status != 0:
            raise BareError(f"llama.cpp could not decode a batch (status {status}): the KV cache"
                            " is full; lower --parallel or max_tokens, or raise --ctx")

    def _set_holder(self, tokens: list[int]) -> None:
        """Evaluate a shared prefix once, in the holder sequence."""
        self.lib.llama_memory_seq_rm(self.memory, self.holder_seq, -1, -1)
        self.holder = tokens
        for start in range(0, len(tokens), self.n_batch):
            self._clear_batch()
            for offset, token in enumerate(tokens[start:start + self.n_batch]):
                self._add(token, start + offset, self.holder_seq, False)
            self._decode()
        self.prompt_tokens_evaluated += len(tokens)

    # --- the loop --------------------------------------------------------------------------

    def _held(self, slots: dict[int, _Slot]) -> Iterator[tuple[int, list[int]]]:
        """(sequence, prompt tokens it holds evaluated) of every sequence holding some."""
        yield self.holder_seq, self.holder
        yield from self.kept.items()
        for slot in slots.values():
            yield slot.seq, slot.request.tokens[:len(slot.request.tokens) - len(slot.pending)]

    def _start(self, seq: int, request: Request, slots: dict[int, _Slot]) -> _Slot:
        tokens = request.tokens
        if len(tokens) >= self.ctx_per_sequence:
            raise BareError(f"prompt is {len(tokens)} tokens, more than the context of "
                            f"{self.ctx_per_sequence}: raise --ctx or use fewer shots")
        if not self.share_prefix:
            self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
            return self._slot(seq, request, shared=0)
        if not self.holder:
            self._set_holder(tokens[:-1])
        source, shared = max(((held, _common_prefix(prompt, tokens))
                              for held, prompt in self._held(slots)), key=lambda x: x[1])
        shared = min(shared, len(tokens) - 1)  # the last one is evaluated for its logits
        self.kept.pop(seq, None)
        if source == seq:
            self.lib.llama_memory_seq_rm(self.memory, seq, shared, -1)
        else:
            self.lib.llama_memory_seq_rm(self.memory, seq, -1, -1)
            if shared:
                self.lib.llama_memory_seq_cp(self.memory, source, seq, 0, shared)
        return self._slot(seq, request, shared)

    def _slot(self, seq: int, request: Request, shared: int) -> _Slot:
        """A sequence for the request, the first `shared` tokens of its prompt in place."""
        settings = request.sampling
        plain = sampling.plain_temperature(settings)
        return _Slot(seq, request,
                     None if plain else sampling.chain(self.lib, settings, request.seed),
                     sampling.TemperatureDraw(settings.temperature, request.seed)
                     if plain else None,
                     sampling.grammar(self.lib, self.vocab, settings),
                     pending=request.tokens[shared:], position=shared,
                     started=time.perf_counter())

    def _free(self, slot: _Slot) -> None:
        if slot.sampler:
            self.lib.llama_sampler_free(slot.sampler)
        if slot.grammar:
            self.lib.llama_sampler_free(slot.grammar)

    def _finish(self, slot: _Slot, reason: str, cut: int | None = None) -> Generation:
        self._free(slot)
        # The prompt stays held for the requests to come; what was generated goes.
        prompt = slot.request.tokens
        self.lib.llama_memory_seq_rm(self.memory, slot.seq, len(prompt), -1)
        self.kept[slot.seq] = prompt
        text = bytes(slot.output[:cut] if cut is not None else slot.output)
        return Generation(
            text=text.decode("utf-8", errors="replace"),
            prompt_tokens=len(slot.request.tokens), completion_tokens=slot.generated,
            ms=(time.perf_counter() - slot.started) * 1000, finish_reason=reason,
        )

    def _token_bytes(self, token: int) -> bytes:
        n = self.lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece),
                                          0, False)
        return self._piece.raw[:n] if n > 0 else b""

    def run(self, requests: Iterable[Request[K]]) -> Iterator[tuple[K, Generation]]:
        """Yields (key, generation) as each request finishes, pulling new requests from
        the iterable whenever a sequence is free, also after it ran dry: requests may be
        added while others run (core/generation/attempts.py). It ends when none comes and none is
        in flight. Stopping the iteration abandons the requests in flight."""
        source = iter(requests)
        free = list(range(self.n_parallel - 1, -1, -1))
        slots: dict[int, _Slot] = {}
        try:
            while True:
                while free:
                    request = next(source, None)
                    if request is None:
                        break  # none waiting now
                    seq = free.pop()
                    slots[seq] = self._start(seq, request, slots)
                if not slots:
                    return
                self._fill_batch(slots)
                self._decode()
                for seq, slot in list(slots.items()):
                    if slot.logits_index < 0:
                        continue
                    result = self._sample(slot)
                    if result is not None:
                        del slots[seq]
                        free.append(seq)
                        yield slot.request.key, result
        finally:
            for slot in slots.values():
                self._free(slot)
                self.lib.llama_memory_seq_rm(self.memory, slot.seq, -1, -1)

    def _fill_batch(self, slots: dict[int, _Slot]) -> None:
        """One token of every generating sequence first, then prompt tokens as room allows."""
        self._clear_batch()
        for slot in slots.values():
            slot.logits_index = -1
            if not slot.pending and slot.last_token is not None:
                slot.logits_index = self._add(slot.last_token, slot.position, slot.seq, True)
                slot.position += 1
        for slot in slots.values():
            while slot.pending and self.batch.n_tokens < self.n_batch:
                token = slot.pending.pop(0)
                self.prompt_tokens_evaluated += 1
                last = not slot.pending
                index = self._add(token, slot.position, slot.seq, last)
                slot.position += 1
                if last:
                    slot.logits_index = index

    def _sample(self, slot: _Slot) -> Generation | None:
        """Sample a slot's next token; a Generation when the sequence is finished."""
        token = self._pick(slot)
        if self.lib.llama_vocab_is_eog(self.vocab, token):
            return self._finish(slot, "stop")
        if slot.grammar:
            self.lib.llama_sampler_accept(slot.grammar, token)
        slot.generated += 1
        piece = self._token_bytes(token)
        slot.output += piece
        for stop in slot.request.stop:
            needle = stop.encode()
            found = slot.output.find(needle, max(0, len(slot.output) - len(piece) - len(needle)))
            if found >= 0:
                return self._finish(slot, "stop", cut=found)
        if (slot.generated >= slot.request.sampling.max_tokens
                or slot.position + 1 >= self.ctx_per_sequence):
            return self._finish(slot, "length")
        slot.last_token = token
        return None

    # --- sampling under a grammar ------------------------------------------------------------

    def _pick(self, slot: _Slot) -> int:
        """The slot's next token. Under a grammar, the token is first sampled freely and
        only that one token is checked against the grammar; the grammar goes over the
        whole vocabulary only when it refuses the token, and the sampling is done again
        on what it allows (as llama.cpp's own samplers do). With temperature sampling
        that draws from the same distribution as applying the grammar first (top-k/top-p
        truncation can differ slightly), at a fraction of the cost: most tokens of an
        item's content are allowed."""
        if slot.draw is not None:
            import numpy as np

            logits = self.lib.llama_get_logits_ith(self.ctx, slot.logits_index)
            return slot.draw(np.ctypeslib.as_array(logits, shape=(self.n_vocab,)))
        if slot.grammar is None:
            return self.lib.llama_sampler_sample(slot.sampler, self.ctx, slot.logits_index)
        token = self._apply(slot.sampler, slot.logits_index)
        if not self._allows(slot.grammar, token):
            token = self._apply(slot.sampler, slot.logits_index, slot.grammar)
        self.lib.llama_sampler_accept(slot.sampler, token)
        return token

    def _apply(self, sampler: Any, logits_index: int, grammar: Any = None) -> int:
        """The token `sampler` selects from the logits (after `grammar`, if given)."""
        import numpy as np

        if self._candidates is None:
            self._candidates = np.zeros(self.n_vocab, dtype=[
                ("id", np.int32), ("logit", np.float32), ("p", np.float32)])
            self._ids = np.arange(self.n_vocab, dtype=np.int32)
        candidates = self._candidates
        logits = self.lib.llama_get_logits_ith(self.ctx, logits_index)
        candidates["id"] = self._ids
        candidates["logit"] = np.ctypeslib.as_array(logits, shape=(len(candidates),))
        candidates["p"] = 0.0
        array = self.lib.llama_token_data_array(
            data=candidates.ctypes.data_as(ctypes.POINTER(self.lib.llama_token_data)),
            size=len(candidates), selected=-1, sorted=False)
        if grammar is not None:
            self.lib.llama_sampler_apply(grammar, ctypes.byref(array))
        self.lib.llama_sampler_apply(sampler, ctypes.byref(array))
        # Read through the array: a sampler may have moved its data elsewhere.
        return int(array.data[array.selected].id)

    def _allows(self, grammar: Any, token: int) -> bool:
        one = self.lib.llama_token_data(id=token, logit=0.0, p=0.0)
        array = self.lib.llama_token_data_array(data=ctypes.pointer(one), size=1,
                                                selected=-1, sorted=False)
        self.lib.llama_sampler_apply(grammar, ctypes.byref(array))
        return one.logit != float("-inf")
