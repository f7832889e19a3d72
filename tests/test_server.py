"""The OpenAI-compatible backend against a real server on loopback: llama-cpp-python's own
server (`llama_cpp.server`) serving the small models."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bare_tui.core.generation.backends.openai import OpenAIBackend, ServerOptions
from bare_tui.errors import BareError
from conftest import GSM8K_SEEDS, run_cli, unrefined_parsed

pytestmark = pytest.mark.models


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, model: Path, alias: str, port: int | None = None):
        self.model, self.alias = model, alias
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("llama_server.py")),
             "--model", str(self.model),
             "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port),
             "--n_ctx", "2048", "--verbose", "false"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "server exited at start"
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as answer:
                    if json.loads(answer.read())["data"]:
                        return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError("server did not come up")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="module")
def base_server(base_model):
    server = Server(base_model.path, "gemma3-270m").start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def instruct_server(instruct_model):
    server = Server(instruct_model.path, "smollm2-135m-instruct").start()
    yield server
    server.kill()


def test_backend_completes_and_chats(base_server, instruct_server, gsm8k):
    from bare_tui.core.inputs import prompts

    base = OpenAIBackend(ServerOptions(url=base_server.url, concurrency=3))
    assert base.model == "gemma3-270m"  # the first model the server lists
    prompt = prompts.base_prompt(gsm8k, [{"question": "What is 2+2?", "answer": "#### 4"}])
    sampling = gsm8k.base.replace(max_tokens=24)
    results = dict(base.complete_many(((i, prompt, 50 + i) for i in range(4)), sampling))
    assert sorted(results) == [0, 1, 2, 3]
    for generation in results.values():
        assert generation.text and "EXAMPLE DONE" not in generation.text
        assert 0 < generation.completion_tokens <= 24 and generation.prompt_tokens > 20
    again = base.complete(prompt, sampling, 50)
    assert again.text == results[0].text  # per-request seeds are honoured
    chat = OpenAIBackend(ServerOptions(url=f"{instruct_server.url}/v1",
                                       model="smollm2-135m-instruct"))
    reply = chat.chat([{"role": "user", "content": "Say hello."}],
                      gsm8k.refine.replace(max_tokens=16), 3)
    assert reply.text.strip() and reply.completion_tokens > 0
    assert "api_key" not in json.dumps(chat.describe())


def test_requests_are_spread_over_replicas(base_model, base_server, gsm8k):
    second = Server(base_model.path, "gemma3-270m").start()
    try:
        backend = OpenAIBackend(ServerOptions(url=f"{base_server.url}, {second.url}/v1",
                                              concurrency=2))
        assert backend.replicas == [f"{base_server.url}/v1", f"{second.url}/v1"]
        used = []
        original = backend._request

        def spy(api, path, body=None):
            used.append(api)
            return original(api, path, body)

        backend._request = spy
        results = list(backend.complete_many(((i, "Question:", i) for i in range(4)),
                                             gsm8k.base.replace(max_tokens=4)))
        assert len(results) == 4 and set(used) == set(backend.replicas)
        second.kill()  # a replica going away: its requests are retried on the other
        results = list(backend.complete_many(((i, "Question:", i) for i in range(4)),
                                             gsm8k.base.replace(max_tokens=4)))
        assert len(results) == 4
    finally:
        second.kill()


def test_full_flow_through_servers(base_server, instruct_server, tmp_path):
    db = ["--db", str(tmp_path / "w.db")]
    servers = ["--base-server", base_server.url, "--instruct-server", instruct_server.url,
               "--concurrency", "3"]
    assert run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", *db).returncode == 0
    # Short drafts rarely parse: refine their raw text too, so both stages run.
    result = run_cli("run", "-n", "4", "--max-tokens", "24", "--refine-unparsed", *servers, *db)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out.jsonl"
    exported = run_cli("export", str(out), "--status", "any", "--include-invalid", *db)
    assert exported.returncode == 0, exported.stderr
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert conn.execute("SELECT count(*) FROM candidates").fetchone()[0] == 4
        assert unrefined_parsed(conn) == 0
        runs = conn.execute("SELECT kind, model, model_path, params FROM runs").fetchall()
        seeds = [r[0] for r in conn.execute("SELECT seed FROM candidates")]
    assert [(k, m) for k, m, _, _ in runs] == [("draft", "gemma3-270m"),
                                              ("refine", "smollm2-135m-instruct")]
    assert runs[0][2] == f"{base_server.url}/v1"
    assert json.loads(runs[0][3])["backend"]["backend"] == "openai-compatible"
    assert len(set(seeds)) == 4
    manifest = json.loads((tmp_path / "out.manifest.json").read_text())
    assert manifest["count"] == len(out.read_text().splitlines())
    assert manifest["count"] + manifest["skipped"]["unparsed"] == 4


def test_server_dying_mid_run_loses_nothing_and_the_run_resumes(base_model, tmp_path):
    server = Server(base_model.path, "gemma3-270m").start()
    db = tmp_path / "w.db"
    run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", "--db", str(db))
    process = subprocess.Popen(
        [sys.executable, "-m", "bare_tui", "draft", "-n", "6", "--max-tokens", "24",
         "--base-server", server.url, "--concurrency", "1", "--db", str(db)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        committed: list = []
        while len(committed) < 2:
            assert time.monotonic() < deadline and process.poll() is None
            with sqlite3.connect(db) as conn:
                committed = conn.execute("SELECT id, raw_text FROM candidates").fetchall()
            time.sleep(0.05)
        server.kill()
        time.sleep(2)  # the run keeps trying while the server is down
        assert process.poll() is None
        with sqlite3.connect(db) as conn:
            kept = conn.execute("SELECT id, raw_text FROM candidates").fetchall()
        assert kept[: len(committed)] == committed
        server = Server(base_model.path, "gemma3-270m", port=server.port).start()
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    finally:
        process.kill()
        server.kill()
    with sqlite3.connect(db) as conn:
        final = conn.execute("SELECT id, raw_text FROM candidates ORDER BY id").fetchall()
    assert len(final) == 6 and final[: len(kept)] == kept


def test_unreachable_server_is_a_one_line_error(tmp_path):
    """A closed port before the server ever answered is said at once (no retries); one
    that answered before and then went away is retried for retry_for_s."""
    backend_options = ServerOptions(url=f"http://127.0.0.1:{free_port()}", model="m",
                                    retry_for_s=1)
    backend = OpenAIBackend(backend_options)
    from bare_tui.core.inputs import recipes

    task = recipes.parse_recipe(recipes.builtin_source("gsm8k"))
    with pytest.raises(BareError, match="cannot reach the server at .*refused; check --server"):
        backend.complete("x", task.base, 1)
    backend._reached = True  # it answered once: a refusal now is a restart, retried
    with pytest.raises(BareError, match="unreachable for 1s"):
        backend.complete("x", task.base, 1)


class RecordingProxy:
    """A loopback proxy in front of a real server that keeps every request body, to show
    what the server received."""

    def __init__(self, target: str):
        import http.server
        import threading

        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self, body: bytes | None) -> None:
                request = urllib.request.Request(
                    f"{target}{self.path}", data=body, method=self.command,
                    headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=120) as answer:
                    data = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._forward(None)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                bodies.append((self.path, json.loads(body)))
                self._forward(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_neutral_sampling_values_reach_the_server(base_server, instruct_server, tmp_path):
    """top_k and min_p are always sent, neutral when the recipe leaves them unset, so
    llama-server's own defaults (top-k 40, min-p 0.05) never truncate sampling; the
    drafts and refinements of a real run through a recording proxy show what arrived."""
    proxies = [RecordingProxy(base_server.url), RecordingProxy(instruct_server.url)]
    try:
        db = ["--db", str(tmp_path / "w.db")]
        run_cli("seeds", "import", str(GSM8K_SEEDS), "--task", "gsm8k", *db)
        # Short drafts rarely parse: refine their raw text too, to have refinements.
        result = run_cli("run", "-n", "2", "--max-tokens", "8", "--refine-unparsed", *db,
                         "--base-server", proxies[0].url, "--base", "gemma3-270m",
                         "--instruct-server", proxies[1].url,
                         "--instruct", "smollm2-135m-instruct")
        assert result.returncode == 0, result.stderr
        received = proxies[0].bodies + proxies[1].bodies
        paths = sorted({path for path, _ in received})
        assert paths == ["/v1/chat/completions", "/v1/completions"]
        for _, body in received:
            assert (body["top_k"], body["min_p"], body["top_p"], body["repeat_penalty"]) == (
                0, 0.0, 1.0, 1.0)
            assert body["temperature"] == 0.7 and isinstance(body["seed"], int)
        print(f"\nreceived by llama_cpp.server: {sorted(received[0][1])}")
    finally:
        for proxy in proxies:
            proxy.close()


@pytest.mark.parametrize("owner, top_k, penalty", [
    ("vllm", -1, "repetition_penalty"), ("sglang", -1, "repetition_penalty"),
    ("llamacpp", 0, "repeat_penalty"), ("me", 0, "repeat_penalty")])
def test_neutral_values_take_each_engines_form(owner, top_k, penalty, gsm8k):
    backend = OpenAIBackend(ServerOptions(url="http://127.0.0.1:9", model="m"))
    backend._request = lambda api, path, body=None: {"data": [{"id": "m", "owned_by": owner}]}
    params = backend._params(gsm8k.base, 7)
    assert (params["top_k"], params["min_p"], params[penalty]) == (top_k, 0.0, 1.0)
    other = {"repeat_penalty", "repetition_penalty"} - {penalty}
    assert not other & set(params)
    set_by_recipe = backend._params(gsm8k.base.replace(top_k=20, min_p=0.1), 7)
    assert (set_by_recipe["top_k"], set_by_recipe["min_p"]) == (20, 0.1)


def test_the_grammar_reaches_llama_cpp_server(instruct_server, store):
    """A constrained refinement sends the recipe's grammar in llama.cpp's form, and
    llama-cpp-python's server applies it: every refinement the model ends parses. Its
    server would answer an opened assistant reply as a finished turn, so it gets none."""
    from bare_tui.core.generation import grammar, pipeline
    from bare_tui.core.inputs import recipes
    from bare_tui.core.inputs.prompts import render_example
    from bare_tui.core.inputs.seeds import import_seeds
    from conftest import REVIEW_SEEDS, ScriptedBackend

    proxy = RecordingProxy(instruct_server.url)
    try:
        task = recipes.resolve(store, "reviews")
        import_seeds(store, task, REVIEW_SEEDS)
        drafts = [render_example(task, s["fields"]) for s in store.seeds("reviews")[-3:]]
        pipeline.draft(store, task, ScriptedBackend(drafts), 3)
        backend = OpenAIBackend(ServerOptions(url=proxy.url, concurrency=3))
        assert backend.engine == "llama.cpp" and not backend.takes_reply_start
        pipeline.refine(store, task, backend, rng_seed=5,
                        sampling=task.refine.replace(max_tokens=150))
        sent = [body for path, body in proxy.bodies if path == "/v1/chat/completions"]
        assert len(sent) == 3
        assert all(body["grammar"] == grammar.build(task).text for body in sent)
        assert all(body["messages"][-1]["role"] == "user" for body in sent)
        rows = store.query("SELECT fields, finish_reason FROM refinements")
        assert all(r["fields"] is not None for r in rows if r["finish_reason"] == "stop")
        assert any(r["finish_reason"] == "stop" for r in rows), rows
    finally:
        proxy.close()


def test_the_judge_served_over_http(instruct_server, tmp_path):
    from conftest import make_review_workspace

    db = str(make_review_workspace(tmp_path / "w.db"))
    result = run_cli("judge", "--db", db, "--judge-server", instruct_server.url,
                     "--judge", "smollm2-135m-instruct", "--limit", "2", "--max-tokens", "24",
                     "--rng-seed", "2")
    assert result.returncode == 0, result.stderr
    assert "a judge that small is weak" not in result.stderr  # the server's model is unknown
    with sqlite3.connect(db) as conn:
        run = conn.execute("SELECT model, model_path FROM runs WHERE kind = 'judge'").fetchone()
        replies = [r[0] for r in conn.execute("SELECT reply FROM judgments")]
        read = conn.execute("SELECT count(*) FROM judgments WHERE picked IS NOT NULL"
                            ).fetchone()[0]
    said = " ".join(result.stdout.split())
    # IR over the replies that name an item; none readable (the 135M model rarely writes
    # 'Answer: N'): no IR, and the fix
    assert (f"over {read} trials" in said if read else
            "IR: none: the judge's 2 replies could not be read" in said), said
    assert run == ("smollm2-135m-instruct", f"{instruct_server.url}/v1")
    assert len(replies) == 2 and all(reply.strip() for reply in replies)
