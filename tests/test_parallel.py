"""Parallel multi-sequence decoding with the real small models."""

import random

import pytest

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends.llamacpp import LlamaCppBackend, LlamaOptions
from bare_tui.core.inputs import prompts
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.workspace.values import from_json
from conftest import GSM8K_SEEDS, unrefined_parsed

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def parallel_base(base_model):
    return LlamaCppBackend(base_model, LlamaOptions(ctx=2048, parallel=4))


@pytest.fixture(scope="module")
def parallel_instruct(instruct_model):
    return LlamaCppBackend(instruct_model, LlamaOptions(ctx=4096, parallel=4))


def seed_fields(count: int = 12) -> list[dict]:
    import json

    with GSM8K_SEEDS.open() as handle:
        return [json.loads(line) for line, _ in zip(handle, range(count), strict=False)]


def distinct_prompts(task, count: int) -> list[str]:
    rng = random.Random(5)
    seeds = seed_fields()
    return [prompts.base_prompt(task, rng.sample(seeds, 3)) for _ in range(count)]


def test_requests_added_after_the_source_ran_dry_are_taken(parallel_instruct, gsm8k):
    """A retry added while others run (core/generation/attempts.py) is decoded, and a prompt the
    engine holds already, finished or running, is not evaluated again: the retry of
    "b" evaluates one token of it, and greedily says what "b" said."""
    from bare_tui.core.generation.attempts import Attempts
    from bare_tui.core.generation.backends.parallel import Request

    engine = parallel_instruct.engine()
    one, other = distinct_prompts(gsm8k, 2)
    tokens = {"a": parallel_instruct.llama.tokenize(one.encode(), special=True),
              "b": parallel_instruct.llama.tokenize(other.encode(), special=True)}
    greedy = gsm8k.base.replace(max_tokens=6, temperature=0.0)
    jobs = Attempts(["a", "b"], lambda key: Request(key, tokens[key[0]], greedy, 1))
    texts: dict[str, str] = {}
    evaluated = 0
    for key, generation in engine.run(jobs):
        texts[key] = generation.text
        if len(texts) == 1:
            evaluated = engine.prompt_tokens_evaluated  # both prompts started by now
            jobs.again("b again")
    assert set(texts) == {"a", "b", "b again"}
    assert engine.prompt_tokens_evaluated - evaluated == 1
    assert texts["b again"] == texts["b"]


def test_many_sequences_give_well_formed_samples(parallel_base, gsm8k):
    prompt = prompts.base_prompt(gsm8k, seed_fields(3))
    sampling = gsm8k.base.replace(max_tokens=32)
    jobs = [(f"job{i}", prompt, 1000 + i) for i in range(6)]  # more jobs than sequences
    results = dict(parallel_base.complete_many(iter(jobs), sampling))
    assert sorted(results) == sorted(key for key, _, _ in jobs)
    texts = [g.text for g in results.values()]
    assert len(set(texts)) > 1  # distinct seeds, distinct samples
    for generation in results.values():
        assert generation.text.strip() and "EXAMPLE DONE" not in generation.text
        assert 0 < generation.completion_tokens <= 32
        assert generation.prompt_tokens > 300
        assert generation.finish_reason in ("stop", "length")


def test_stop_strings_end_each_sequence(parallel_base, gsm8k):
    prompt = prompts.base_prompt(gsm8k, seed_fields(3))
    sampling = gsm8k.base.replace(max_tokens=64, stop=("\n",))
    results = list(parallel_base.complete_many(((i, prompt, 7 + i) for i in range(4)),
                                               sampling))
    assert len(results) == 4
    for _key, generation in results:
        assert generation.finish_reason == "stop" and "\n" not in generation.text
        assert generation.text.startswith("Question:")


def first_tokens(backend, text: str, count: int = 20) -> list[int]:
    return backend.llama.tokenize(text.encode(), add_bos=False, special=True)[:count]


def agreement(a: dict, b: dict, backend) -> int:
    return sum(first_tokens(backend, a[k]) == first_tokens(backend, b[k]) for k in a)


def greedy_runs(backend, batch: dict[int, str], sampling) -> tuple[dict, dict]:
    """(parallel, sequential) greedy outputs; each sequential prompt is evaluated whole."""
    sequential = {}
    for i, prompt in batch.items():
        backend.llama.reset()
        sequential[i] = backend.complete(prompt, sampling, 1).text
    parallel = {i: g.text for i, g in backend.complete_many(
        ((i, p, 1) for i, p in batch.items()), sampling)}
    return parallel, sequential


def test_greedy_parallel_raw_completions_agree_with_sequential(parallel_instruct, gsm8k,
                                                               capsys):
    """The engine's raw completions (shared few-shot prefix, several sequences per batch)
    must reproduce one-at-a-time greedy decoding: a wrong logits row, position or prefix
    copy would break it systematically."""
    sampling = gsm8k.base.replace(max_tokens=20, temperature=0.0)
    batch = dict(enumerate(distinct_prompts(gsm8k, 8)))
    matches = agreement(*greedy_runs(parallel_instruct, batch, sampling), parallel_instruct)
    with capsys.disabled():
        print(f"\ngreedy raw completions (SmolLM2), first 20 tokens equal to sequential:"
              f" {matches}/8")
    assert matches >= 7


def test_greedy_gemma_drafts_against_sequential(parallel_base, gsm8k, capsys):
    """Gemma 3 270M's greedy choice flips on float rounding alone: one-at-a-time decoding
    already differs between evaluating a prompt whole and reusing a cached prefix, and a
    larger or shared KV cache changes the order of the attention sums. The share is
    reported; the samples must still be well-formed drafts."""
    sampling = gsm8k.base.replace(max_tokens=20, temperature=0.0)
    batch = dict(enumerate(distinct_prompts(gsm8k, 6)))
    parallel, fresh = greedy_runs(parallel_base, batch, sampling)
    reused = {i: parallel_base.complete(p, sampling, 1).text for i, p in batch.items()}
    with capsys.disabled():
        print(f"greedy drafts (Gemma 3), first 20 tokens equal: parallel vs sequential"
              f" {agreement(parallel, fresh, parallel_base)}/6; sequential with vs without"
              f" prefix reuse {agreement(reused, fresh, parallel_base)}/6")
    assert all(text.startswith("Question:") for text in parallel.values())


def test_greedy_parallel_refinements_agree_with_sequential(parallel_instruct, gsm8k, capsys):
    sampling = gsm8k.refine.replace(max_tokens=20, temperature=0.0)
    shots = seed_fields(3)
    drafts = seed_fields(7)[3:]
    jobs = [(i, prompts.refine_messages(gsm8k, shots, d), 1) for i, d in enumerate(drafts)]
    parallel = {i: g.text for i, g in parallel_instruct.chat_many(iter(jobs), sampling)}
    sequential = {i: parallel_instruct.chat(m, sampling, 1).text for i, m, _ in jobs}
    matches = agreement(parallel, sequential, parallel_instruct)
    with capsys.disabled():
        print(f"greedy refinements, first 20 tokens equal to sequential: {matches}/{len(jobs)}")
    assert matches >= len(jobs) - 1


def test_pipeline_drafts_and_refines_in_parallel(store, gsm8k, parallel_base,
                                                 parallel_instruct):
    import_seeds(store, gsm8k, GSM8K_SEEDS)
    result = pipeline.draft(store, gsm8k, parallel_base, 6,
                            sampling=gsm8k.base.replace(max_tokens=24))
    assert (result.produced, result.status) == (6, "done")
    rows = store.query("SELECT seed, shot_ids, completion_tokens FROM candidates")
    assert len(rows) == 6 and len({r["seed"] for r in rows}) == 6
    assert all(len(from_json(r["shot_ids"])) == 3 for r in rows)
    refined = pipeline.refine(store, gsm8k, parallel_instruct,
                              sampling=gsm8k.refine.replace(max_tokens=24))
    parsed = store.scalar("SELECT count(*) FROM candidates WHERE fields IS NOT NULL")
    assert refined.produced == parsed and unrefined_parsed(store.conn) == 0
    assert store.scalar("SELECT count(DISTINCT candidate_id) FROM refinements") == parsed
    run = store.query("SELECT params FROM runs WHERE kind = 'draft'")[0]
    assert from_json(run["params"])["backend"]["parallel"] == "4"


@pytest.mark.parametrize("share", [True, False])
def test_a_shared_prompt_is_evaluated_once_with_sharing_on(base_model, gsm8k, share):
    """Six samples of one static-shot prompt on four sequences: with sharing, the prompt
    is evaluated once (in the holder) and each sequence evaluates only its last token;
    without, every sample evaluates the whole prompt."""
    backend = LlamaCppBackend(base_model, LlamaOptions(ctx=2048, parallel=4,
                                                       share_prefix=share))
    prompt = prompts.base_prompt(gsm8k, seed_fields(3))
    length = len(backend.llama.tokenize(prompt.encode(), special=True))
    sampling = gsm8k.base.replace(max_tokens=16)
    jobs = [(i, prompt, 2000 + i) for i in range(6)]
    results = dict(backend.complete_many(iter(jobs), sampling))
    engine = backend.engine()
    assert sorted(results) == list(range(6))
    assert all(0 < g.completion_tokens <= 16 for g in results.values())
    if share:
        assert engine.prompt_tokens_evaluated == (length - 1) + 6
    else:
        assert engine.prompt_tokens_evaluated == 6 * length
    assert len({g.text for g in results.values()}) > 1  # each sample its own seed
    engine.close()
