"""Constrained refinements through serving engines (tests/fake_server.py on 127.0.0.1):
each engine gets the grammar and the reply's opening in its own form, and a server that
ignores the grammar is found out, said once, and its drafts stay proposed."""

from __future__ import annotations

import json

import fake_server
import pytest
from fake_server import FakeServer, json_reply

from bare_tui.core.generation import grammar, pipeline
from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions
from bare_tui.core.inputs import prompts, recipes
from bare_tui.core.inputs.prompts import render_example
from bare_tui.core.inputs.seeds import import_seeds
from bare_tui.core.workspace import current
from conftest import GSM8K_SEEDS, ScriptedBackend

DRAFTS = 3


def chat_reply(text: str) -> fake_server.Reply:
    return json_reply({"choices": [{"message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 9}})


@pytest.fixture
def drafted(store):
    task = recipes.resolve(store, "gsm8k")
    import_seeds(store, task, GSM8K_SEEDS)
    drafts = [render_example(task, s["fields"]) for s in store.seeds("gsm8k")[-DRAFTS:]]
    pipeline.draft(store, task, ScriptedBackend(drafts), DRAFTS)
    return task


def serve(monkeypatch, owner: str, answer) -> FakeServer:
    monkeypatch.setattr(fake_server, "MODELS", {"data": [{"id": "m", "owned_by": owner}]})
    return FakeServer(answer)


@pytest.mark.parametrize("owner, engine, key, opened", [
    ("vllm", "vllm", "structured_outputs", True),
    ("sglang", "sglang", "ebnf", True),
    ("llamacpp", "llama-server", "grammar", True),
    ("me", "llama.cpp", "grammar", False),  # llama-cpp-python's server
])
def test_each_engine_gets_the_grammar_and_the_opening_in_its_form(
        monkeypatch, store, drafted, owner, engine, key, opened):
    task = drafted
    # An engine that continues the opened reply answers only the rest of it.
    rest = "Tom has 3 apples. How many?\nAnswer:\n3 apples.\n#### 3\n"
    server = serve(monkeypatch, owner, lambda request: chat_reply(
        rest if opened else prompts.reply_start(task) + rest))
    try:
        backend = OpenAIBackend(ServerOptions(url=server.url, concurrency=2))
        assert backend.engine == engine and backend.takes_reply_start == opened
        notes: list[str] = []
        pipeline.refine(store, task, backend, rng_seed=1, on_note=notes.append)
        bodies = [json.loads(r.body) for r in server.posts()]
        assert len(bodies) == DRAFTS
        for body in bodies:
            seeds = [seed["fields"] for seed in store.seeds("gsm8k")]
            expected = grammar.build(task, started=opened, seeds=seeds).text
            sent = body[key]["grammar"] if key == "structured_outputs" else body[key]
            assert sent == expected
            assert {"grammar", "ebnf", "structured_outputs"} & set(body) == {key}
            last = body["messages"][-1]
            if opened:
                assert last == {"role": "assistant", "content": "Question:\n"}
                continues = engine in ("vllm", "sglang")
                assert body.get("continue_final_message", False) is continues
                assert body.get("add_generation_prompt", True) is not continues
            else:
                assert last["role"] == "user" and "continue_final_message" not in body
        rows = store.query("SELECT raw_text, valid FROM refinements")
        assert [r["raw_text"] for r in rows] == ["Question:\n" + rest] * DRAFTS
        assert all(r["valid"] for r in rows) and notes == []
        params = json.loads(store.scalar("SELECT params FROM runs WHERE kind = 'refine'"))
        assert params["constrained"] is True and params["reply_start"] == (
            "Question:\n" if opened else "")
    finally:
        server.close()


def test_a_server_that_ignores_the_grammar_is_said_once_and_drafts_stay(
        monkeypatch, store, drafted):
    """Every reply is outside the grammar (chatter, no labels): one note for the whole
    run, however many attempts, recorded in the run; each draft stays proposed."""
    server = serve(monkeypatch, "llamacpp", lambda request: chat_reply(
        "Sure! Here is an improved version of the problem, with clearer wording."))
    try:
        notes: list[str] = []
        backend = OpenAIBackend(ServerOptions(url=server.url, concurrency=2))
        pipeline.refine(store, drafted, backend, retries=2, rng_seed=1, on_note=notes.append)
        assert len(server.posts()) == DRAFTS * 3  # every retry was made
        ignored = [n for n in notes if "outside the output grammar" in n]
        assert len(ignored) == 1 and f"server {backend.api}" in ignored[0]
        assert any("none of the 9 refinements holds the recipe's format" in n for n in notes)
        params = json.loads(store.scalar("SELECT params FROM runs WHERE kind = 'refine'"))
        assert params["notes"] == [n for n in notes]
        for state in current.of_task(store, "gsm8k"):
            assert state.final_version == "draft" and state.final_valid
    finally:
        server.close()


def test_a_model_without_a_chat_template_keeps_the_drafts(store, drafted):
    class NoTemplate(ScriptedBackend):
        cannot_chat = "plain.gguf has no chat template in its GGUF metadata"

    notes: list[str] = []
    result = pipeline.refine(store, drafted, NoTemplate([]), on_note=notes.append)
    assert result.status == "skipped" and result.planned == DRAFTS
    assert notes == ["refine: plain.gguf has no chat template in its GGUF metadata, so it "
                     "cannot write items in the recipe's format; no refinements were made "
                     f"and the {DRAFTS} drafts are kept as they are"]
    assert store.scalar("SELECT count(*) FROM refinements") == 0
    assert store.scalar("SELECT count(*) FROM candidates") == DRAFTS


def test_a_backend_without_grammars_is_said_once_and_recorded(store, drafted):
    notes: list[str] = []
    good = render_example(drafted, {"question": "Q?", "answer": "#### 1"})
    pipeline.refine(store, drafted, ScriptedBackend([good]), on_note=notes.append)
    assert notes == ["refine: scripted is served by an engine that takes no grammar: the "
                     "format is only asked for in the prompt"]
    params = json.loads(store.scalar("SELECT params FROM runs WHERE kind = 'refine'"))
    assert params["constrained"] is False and params["sampling"]["grammar"] is None
