"""A hostile server, second pass (F10, F22, F27) and jobs sharing a workspace (F11): one
bad reply is one bad sample, a reply that trickles in is cut at the request's deadline,
what cannot heal is one line at once, retries are said, and no draft is refined twice."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fake_server import COMPLETION, Trickle, json_reply

from bare_tui.core.generation import pipeline
from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions
from bare_tui.core.inputs import recipes
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from conftest import (
    GOOD_DRAFT,
    REFINED,
    ScriptedBackend,
    SlowBackend,
    make_review_workspace,
    run_cli,
    seeded_workspace,
)

GSM8K = recipes.parse_recipe(recipes.builtin_source("gsm8k") or "")


def chat_reply(content: str) -> bytes:
    return json.dumps({"choices": [{"message": {"role": "assistant", "content": content},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 5}}).encode()


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


# --- F10: one hostile reply is one bad sample -------------------------------------------------

def test_f10_a_judge_answer_of_5000_digits_is_one_unread_trial(server, tmp_path):
    server.answer = lambda request: (200, {}, chat_reply("Answer: " + "7" * 5000))
    db = make_review_workspace(tmp_path / "w.db")
    result = run_cli("judge", "--db", str(db), "--judge-server", server.url, "--judge",
                     "fake", "--limit", "2", "--rng-seed", "1")
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT count(*), sum(picked IS NULL) FROM judgments") == [(2, 2)]


def test_f10_a_usage_count_of_5000_digits_counts_zero(server, tmp_path):
    body = json.dumps({**COMPLETION, "usage": {"prompt_tokens": 1}}).replace(
        '"prompt_tokens": 1', '"prompt_tokens": ' + "9" * 5000).encode()
    server.answer = lambda request: (200, {}, body)
    db = seeded_workspace(tmp_path / "w.db")
    result = run_cli("draft", "-n", "2", "--server", server.url, "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert rows(db, "SELECT count(*), sum(prompt_tokens) FROM candidates") == [(2, 0)]


def test_f10_a_lone_surrogate_in_a_reply_is_stored_escaped(server, tmp_path):
    text = COMPLETION["choices"][0]["text"].replace("Q?", "Q \ud800?")
    body = json.dumps({**COMPLETION, "choices": [{"text": text, "finish_reason": "stop"}]})
    server.answer = lambda request: (200, {}, body.encode())
    db = seeded_workspace(tmp_path / "w.db")
    result = run_cli("draft", "-n", "1", "--server", server.url, "--db", str(db))
    assert result.returncode == 0, result.stderr
    ((raw,),) = rows(db, "SELECT raw_text FROM candidates")
    assert "Q \\ud800?" in raw


def test_f10_one_reply_that_is_not_json_is_one_failed_sample(server, tmp_path):
    sent = []

    def answer(request):
        sent.append(1)
        return (200, {}, b"<html>oops</html>") if len(sent) == 2 else json_reply(COMPLETION)

    server.answer = answer
    db = seeded_workspace(tmp_path / "w.db")
    result = run_cli("draft", "-n", "4", "--concurrency", "1", "--server", server.url,
                     "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert "did not answer JSON; that sample counts as failed" in result.stderr
    assert rows(db, "SELECT finish_reason, count(*) FROM candidates GROUP BY 1") == [
        ("bad reply", 1), ("stop", 3)]


def test_f10_a_server_that_never_answers_a_completion_ends_the_job_in_one_line(server,
                                                                              tmp_path):
    server.answer = lambda request: (200, {}, b"not json")
    db = seeded_workspace(tmp_path / "w.db")
    result = run_cli("draft", "-n", "20", "--server", server.url, "--db", str(db))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "did not answer JSON" in result.stderr
    assert len(server.posts()) < 20


# --- F22: a reply that trickles in ------------------------------------------------------------

def test_f22_the_timeout_bounds_the_whole_reply(server):
    body = json.dumps(COMPLETION).encode()
    server.answer = lambda request: (200, {}, Trickle([body[i:i + 1]
                                                      for i in range(len(body))]))
    slow = OpenAIBackend(ServerOptions(url=server.url, model="fake", timeout_s=1.5,
                                       retry_for_s=0.1))
    started = time.monotonic()
    with pytest.raises(BareError, match=r"the reply took over 1.5 s"):
        slow.complete("x", GSM8K.base, 1)
    # Each byte came within the socket's timeout; without a deadline the reply of
    # len(body) bytes would have taken len(body) * 0.5 s.
    assert time.monotonic() - started < len(body) * Trickle.pause_s / 2


# --- F27: what cannot heal is one line at once; retries are said -----------------------------

@pytest.mark.parametrize("url, said", [
    ("htp://127.0.0.1:8000", "give an http:// or https:// URL"),
    ("http://user:hunter2@127.0.0.1:9", "holds credentials"),
    ("http://127.0.0.1:9", "cannot reach the server at http://127.0.0.1:9/v1"),
    ("http://bare-tui-test.invalid:8000", "cannot reach the server"),
    ("http://127.0.0.1:80x", "server URL"),
])
def test_f27_a_wrong_server_url_is_one_line_at_once(tmp_path, url, said):
    db = seeded_workspace(tmp_path / "w.db")
    started = time.monotonic()
    result = run_cli("draft", "-n", "1", "--server", url, "--db", str(db), timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert said in lines[-1] and "hunter2" not in result.stderr, result.stderr
    assert time.monotonic() - started < 60  # not the 300 s of retries


def test_f27_retries_are_said_as_they_happen(server):
    server.answer = lambda request: (503, {}, b"busy")
    heard: list[str] = []
    flaky = OpenAIBackend(ServerOptions(url=server.url, model="fake", retry_for_s=1.5),
                          on_note=heard.append)
    with pytest.raises(BareError, match="unreachable for 2s"):
        flaky.complete("x", GSM8K.base, 1)
    assert len(server.posts()) >= 2
    assert heard and "HTTP 503; trying again" in heard[0]


# --- F11: jobs refining one task at once ------------------------------------------------------

def drafted(path: Path, drafts: int) -> tuple[Path, recipes.Recipe]:
    with Store(seeded_workspace(path)) as store:
        task = recipes.resolve(store, "gsm8k")
        pipeline.draft(store, task, ScriptedBackend([GOOD_DRAFT]), drafts)
    return path, task


def test_f11_concurrent_refine_jobs_refine_each_draft_once(tmp_path):
    db, task = drafted(tmp_path / "w.db", 30)
    results = []

    def job() -> None:
        with Store(db) as store:
            results.append(pipeline.refine(store, task, SlowBackend([REFINED])))

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.produced for r in results) == 30
    assert len([r for r in results if r.produced]) >= 2  # they did overlap
    assert rows(db, "SELECT count(*), count(DISTINCT candidate_id) FROM refinements") == [
        (30, 30)]


def test_f11_a_dead_jobs_claims_are_free_again(tmp_path):
    db, task = drafted(tmp_path / "w.db", 2)
    with Store(db) as store:
        dead = store.start_run({"kind": "refine", "task": "gsm8k", "model": "m"})
        assert store.claim_draft(1, dead) and store.claim_draft(2, dead)
        store.update("runs", "id", dead, {"pid": 2**22 + 7})  # no such process
        result = pipeline.refine(store, task, ScriptedBackend([REFINED]))
        assert result.produced == 2
