"""A hostile or broken OpenAI-compatible server (tests/fake_server.py on 127.0.0.1): its
words never act on the terminal, it never gets the key it was not meant for, its broken
replies are one-line errors or retries, and a slow one never holds up a cancel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fake_server import COMPLETION, FakeServer, json_reply

from bare_tui.config import Settings
from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions
from bare_tui.core.inputs import recipes
from bare_tui.core.workspace.store import Store
from bare_tui.errors import BareError
from bare_tui.tui.messages import StartJob
from conftest import make_app, run_cli, seeded_workspace, wait_until

ESCAPES = "\x1b]52;c;SGVsbG8=\x07\x1b]0;pwned\x07\x1b[2J"
GSM8K = recipes.parse_recipe(recipes.builtin_source("gsm8k") or "")


def backend(url: str, **options) -> OpenAIBackend:
    return OpenAIBackend(ServerOptions(url=url, model="fake", **{"retry_for_s": 2, **options}))


# --- 8: server error bodies reach the terminal ------------------------------------------

def test_server_error_body_with_escapes_is_printed_cleaned(server, tmp_path):
    server.answer = lambda request: (400, {}, f"bad request {ESCAPES} [/oops]".encode())
    result = run_cli("draft", "-n", "1", "--server", server.url,
                     "--db", str(seeded_workspace(tmp_path / "w.db")))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "HTTP 400: bad request \\x1b]52;c;SGVsbG8=\\x07" in result.stderr
    assert "[/oops]" in result.stderr and "Traceback" not in result.stderr


async def test_server_error_body_as_markup_does_not_crash_the_tui(server, tmp_path):
    server.answer = lambda request: (400, {}, f"[/oops] {ESCAPES}".encode())
    app = make_app(seeded_workspace(tmp_path / "w.db"), server=server.url)
    async with app.run_test(size=(100, 30)) as pilot:
        app.post_message(StartJob(1))
        await wait_until(pilot, lambda: not app.job_running and any(
            "[/oops]" in n.message for n in app._notifications), 10)
        assert app.is_running
        shown = [n.message for n in app._notifications]
        assert any("[/oops]" in message and "\\x1b]52" in message for message in shown)
        assert not any("\x1b" in message for message in shown)


async def test_a_job_started_with_g_ends_with_its_yield(server, tmp_path):
    app = make_app(seeded_workspace(tmp_path / "w.db"), server=server.url)
    async with app.run_test(size=(160, 30)) as pilot:
        app.post_message(StartJob(2))
        await wait_until(pilot, lambda: app.job_line.startswith("job: done"), 30)
        assert not app.job_running and app.job_line.startswith("job: done; usable items: ")
        assert "verified items: " in app.job_line
        notice = next(n.message for n in app._notifications
                      if n.message.startswith("generation finished"))
        assert [line.split(":")[0] for line in notice.splitlines()[1:]] == [
            "drafts", "refinements", "usable items", "verified items"]
        with Store(tmp_path / "w.db") as store:
            assert store.scalar("SELECT count(*) FROM candidates") == 2


# --- 9: the API key and redirects ---------------------------------------------------------

def test_redirect_to_another_port_is_refused_and_the_key_stays_home(server):
    elsewhere = FakeServer()
    try:
        server.answer = lambda request: (302, {"Location": f"{elsewhere.url}/v1/completions"},
                                         b"")
        with pytest.raises(BareError, match="redirect .*not followed"):
            backend(server.url, api_key="sekret").complete("x", GSM8K.base, 1)
        assert server.posts()[0].headers.get("Authorization") == "Bearer sekret"
        assert elsewhere.requests == []  # neither the key nor the request went there
    finally:
        elsewhere.close()


def test_openai_api_key_is_never_sent_to_the_configured_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-for-openai-only")
    monkeypatch.delenv("BARE_TUI_API_KEY", raising=False)
    assert Settings().api_key is None
    monkeypatch.setenv("BARE_TUI_API_KEY", "meant-for-this-server")
    assert Settings().api_key == "meant-for-this-server"


def test_post_is_never_turned_into_a_get(server):
    server.answer = lambda request: (301, {"Location": "/v1/completions"}, b"")
    with pytest.raises(BareError, match="redirect"):
        backend(server.url).complete("x", GSM8K.base, 1)
    assert [r.method for r in server.requests if "completions" in r.path] == ["POST"]


# --- 11: broken replies -------------------------------------------------------------------

@pytest.mark.parametrize("reply", [
    {"no": "choices"}, {"choices": []}, {"choices": "many"}, {"choices": [7]},
    ["not", "an", "object"], {"choices": [{"text": {"nested": 1}}]},
])
def test_server_reply_without_choices_is_one_line(server, reply):
    """One such reply is one failed sample; only a server that never sent a good one
    ends the job, in one line."""
    server.answer = lambda request: json_reply(reply)
    broken = backend(server.url)
    first = broken.complete("x", GSM8K.base, 1)
    assert (first.text, first.finish_reason) == ("", "bad reply")
    with pytest.raises(BareError) as caught:
        for _ in range(10):
            broken.complete("x", GSM8K.base, 1)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("usage", [None, "lots", {"prompt_tokens": "3"},
                                   {"completion_tokens": -4}, {"prompt_tokens": 10**30}, 7])
def test_server_reply_with_bad_usage_counts_zero(server, usage):
    server.answer = lambda request: json_reply({**COMPLETION, "usage": usage})
    generation = backend(server.url).complete("x", GSM8K.base, 1)
    assert generation.text.startswith("Question:")
    assert generation.prompt_tokens >= 0 and generation.completion_tokens >= 0
    assert generation.prompt_tokens < 2**31


def test_server_reply_cut_short_is_retried(server):
    body = json.dumps(COMPLETION).encode()
    answers = iter([(200, {"Content-Length": str(len(body) + 50)}, body[:20]),
                    (200, {}, body)])
    server.answer = lambda request: next(answers)
    generation = backend(server.url).complete("x", GSM8K.base, 1)
    assert generation.text == COMPLETION["choices"][0]["text"]
    assert len(server.posts()) == 2


# --- 12: cancel does not wait for the server -----------------------------------------------

def test_request_timeout_is_a_setting(server, tmp_path, monkeypatch):
    from bare_tui.config import load
    from bare_tui.loading import open_backend

    monkeypatch.setenv("BARE_TUI_SERVER_TIMEOUT", "0.5")
    settings = load(None, db=str(tmp_path / "w.db"), server=server.url)
    assert open_backend("base", settings).options.timeout_s == 0.5

    server.answer = lambda request: (time.sleep(30), json_reply(COMPLETION))[1]
    started = time.monotonic()
    with pytest.raises(BareError, match="unreachable"):
        backend(server.url, timeout_s=0.5, retry_for_s=1).complete("x", GSM8K.base, 1)
    assert time.monotonic() - started < 20  # gave up long before a reply came


def test_one_ctrl_c_stops_after_the_current_sample_and_exits_130(server, tmp_path):
    """A job stopped early is not a success: a script sees 130, as after a second
    Ctrl-C, and the samples made so far are kept."""
    server.answer = lambda request: (time.sleep(0.3), json_reply(COMPLETION))[1]
    db = seeded_workspace(tmp_path / "w.db")
    process = subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "run", "-n", "40", "--server", server.url,
         "--concurrency", "1", "--db", str(db)], env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(server.posts()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=100)
    assert process.returncode == 130, stderr
    assert "stopping after the current sample" in stderr and "stopped after" in stderr
    with Store(db) as store:
        made = store.scalar("SELECT count(*) FROM candidates")
        assert 1 <= made < 40
        assert store.scalar("SELECT count(*) FROM refinements") == 0  # refine never ran
        assert store.scalar("SELECT status FROM runs ORDER BY id DESC LIMIT 1") == "cancelled"


def test_second_ctrl_c_during_a_slow_reply_exits_at_once(server, tmp_path):
    server.answer = lambda request: (time.sleep(120), json_reply(COMPLETION))[1]
    db = seeded_workspace(tmp_path / "w.db")
    process = subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "draft", "-n", "2", "--server", server.url,
         "--db", str(db)], env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not server.posts() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.posts(), "the draft never reached the server"
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, stderr = process.communicate(timeout=100)
    waited = time.monotonic() - started
    assert process.returncode == 130, stderr
    # The server holds its reply for 120 s: the exit did not wait for it.
    assert waited < 60, f"exit took {waited:.1f} s, waiting on the server"
    with Store(db) as store:
        assert store.scalar("SELECT status FROM runs ORDER BY id DESC LIMIT 1") == "interrupted"
