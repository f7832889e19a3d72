"""OpenAI-compatible HTTP serving engines: vLLM, llama.cpp's llama-server, SGLang.

Drafts go through `/v1/completions` with the raw prompt (no chat template), refinements
through `/v1/chat/completions`. Many requests are kept in flight (`concurrency`), each
with its own seed (so each sample is one request: `n` would share one seed). Several
replicas of the same model can be given as comma-separated URLs: requests go to them in
turn, and a retry goes to the next one. Connection failures, timeouts, 429 and 5xx
answers are retried with exponential back-off for up to `retry_for_s` seconds, so a
server that restarts does not end a run; other 4xx answers are one-line errors. The
API key comes from the environment and is never stored.

A server is not trusted: redirects are refused (the key would follow them, and a POST
would turn into a GET), replies are size-capped, time-capped as a whole (not only per
read: a reply that trickles in one byte at a time is cut at `timeout_s`) and checked
for their shape, and a reply cut short is retried like a dropped connection. A reply
that arrives but is no completion (not JSON, no choices) is one failed sample, not the
end of the job, unless no good reply ever came. What cannot heal (a URL that is not
http or https, credentials in the URL, a name that does not resolve or a refused
connection before the server ever answered) is one line at once; retries are said as
they happen (`on_note`).
"""

from __future__ import annotations

import http.client
import itertools
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from bare_tui.core.generation.backends import Backend, Generation, Messages
from bare_tui.core.inputs.recipes import Sampling
from bare_tui.errors import BareError
from bare_tui.text import storable

K = TypeVar("K")
RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}
MAX_REPLY_BYTES = 64 * 1024 * 1024
MAX_COUNT = 2**31  # a token count above this is not a count
READ_CHUNK = 1 << 16
SAY_RETRIES_EVERY_S = 30.0
BAD_REPLIES_BEFORE_GIVING_UP = 5  # in a row, before any good one: a wrong URL, not a glitch


@dataclass(frozen=True)
class ServerOptions:
    url: str  # e.g. http://127.0.0.1:8000 (with or without /v1); replicas comma-separated
    model: str | None = None  # None: the first model the server lists
    api_key: str | None = None
    concurrency: int = 8
    timeout_s: float = 600.0
    retry_for_s: float = 300.0


class _Retry(Exception):
    pass


class BadReply(BareError):
    """A reply that arrived but is not a completion: one failed sample."""


def _parse_int(digits: str) -> int:
    # A number of thousands of digits is no count (and int() refuses it): -1, not a count.
    return int(digits) if len(digits) <= 18 else -1


def check_url(url: str) -> None:
    """Refuse at once what no retry can fix: a scheme other than http(s), no host, a
    port that is not a number, or credentials (the key goes in $BARE_TUI_API_KEY)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise BareError(f"server URL {_redacted(url)}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise BareError(f"server URL {_redacted(url)}: give an http:// or https:// URL, "
                        "e.g. http://127.0.0.1:8000")
    if "@" in parts.netloc:
        raise BareError(f"server URL {_redacted(url)} holds credentials; give the URL "
                        "without them and the key in $BARE_TUI_API_KEY")
    if not parts.hostname:
        raise BareError(f"server URL {_redacted(url)} names no host")


def _redacted(url: str) -> str:
    """The URL with anything before an @ in its host part hidden."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}{sep}{host}{slash}{path}" if sep else url


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        raise BareError(f"{req.full_url} answered with a redirect (HTTP {code}) to {newurl}; "
                        "redirects are not followed (the API key would go along): give the "
                        "final URL with --server")


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_RefuseRedirects)


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT
    return value if ok else 0


class OpenAIBackend(Backend):
    def __init__(self, options: ServerOptions, on_note: Callable[[str], None] | None = None):
        self.options = options
        self.on_note = on_note
        roots = [url.strip().rstrip("/") for url in options.url.split(",") if url.strip()]
        if not roots:
            raise BareError("no server URL given")
        for root in roots:
            check_url(root)
        self._reached = False  # some reply came from a server, any reply
        self._good = self._bad = 0  # replies that were completions, and that were not
        self._said_at = -SAY_RETRIES_EVERY_S
        self._lock = threading.Lock()
        self.replicas = [root if root.endswith("/v1") else f"{root}/v1" for root in roots]
        self.api = ",".join(self.replicas)
        self._turn = itertools.count()
        self._open = _opener().open
        self.model = options.model or self._first_model()

    def describe(self) -> dict[str, str]:
        return {"backend": "openai-compatible", "model": self.model, "model_path": self.api,
                "model_sha256": None, "device": f"server {self.api}",
                "parallel": str(self.options.concurrency), "engine": self.engine}

    def _next_replica(self) -> str:
        return self.replicas[next(self._turn) % len(self.replicas)]

    # --- HTTP ------------------------------------------------------------------------------

    def _request(self, api: str, path: str, body: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{api}{path}", data=data, headers=headers,
                                         method="GET" if body is None else "POST")
        deadline = time.monotonic() + self.options.timeout_s
        try:
            with self._open(request, timeout=self.options.timeout_s) as response:
                self._reached = True
                body = self._read(response, deadline)
                promised = response.headers.get("Content-Length", "")
            if promised.isdigit() and len(body) < min(int(promised), MAX_REPLY_BYTES):
                raise _Retry("the reply was cut short")
        except urllib.error.HTTPError as exc:
            self._reached = True
            detail = exc.read(300).decode(errors="replace").replace("\n", " ")
            if exc.code in RETRY_STATUSES:
                raise _Retry(f"HTTP {exc.code}") from None
            raise BareError(f"{api}{path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError,
                http.client.HTTPException) as exc:  # IncompleteRead: a reply cut short
            reason = getattr(exc, "reason", exc)
            if not self._reached and isinstance(reason, socket.gaierror | ConnectionRefusedError
                                                | http.client.InvalidURL):
                raise BareError(f"cannot reach the server at {api}: {reason}; check --server "
                                "(is the engine running, on that host and port?)") from None
            raise _Retry(str(reason) or type(exc).__name__) from None
        if len(body) > MAX_REPLY_BYTES:
            raise BadReply(f"{api}{path} answered more than {MAX_REPLY_BYTES >> 20} MB")
        try:
            answer = json.loads(body, parse_int=_parse_int)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadReply(f"{api}{path} did not answer JSON") from None
        if not isinstance(answer, dict):
            raise BadReply(f"{api}{path} answered JSON that is not an object")
        return answer

    def _read(self, response: Any, deadline: float) -> bytes:
        """The reply's body, at most one byte over the size cap, within the deadline: a
        socket's timeout bounds each read, not a reply that trickles in."""
        chunks, size = [], 0
        while size <= MAX_REPLY_BYTES:
            if time.monotonic() > deadline:
                raise _Retry(f"the reply took over {self.options.timeout_s:g} s")
            chunk = response.read1(min(READ_CHUNK, MAX_REPLY_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)

    def _with_retries(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.retry_for_s
        delay = 0.5
        while True:
            try:
                return self._request(self._next_replica(), path, body)
            except _Retry as problem:
                if time.monotonic() + delay > deadline:
                    raise BareError(f"server {self.api} unreachable for "
                                    f"{self.options.retry_for_s:.0f}s ({problem}); committed "
                                    "samples are kept, rerun to continue") from None
                self._say_retry(str(problem), deadline)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The served model's embeddings of `texts` (`/v1/embeddings`), in their order."""
        answer = self._with_retries("/embeddings", {"model": self.model, "input": list(texts)})
        data = answer.get("data")
        where = f"{self.api}/embeddings"
        if not isinstance(data, list) or len(data) != len(texts):
            raise BadReply(f"{where} answered {len(data) if isinstance(data, list) else 'no'} "
                           f"embeddings for {len(texts)} texts")
        ordered = sorted(data, key=lambda entry: entry.get("index", 0)
                         if isinstance(entry, dict) and isinstance(entry.get("index"), int)
                         else 0)
        vectors = [entry.get("embedding") if isinstance(entry, dict) else None
                   for entry in ordered]
        if not all(isinstance(v, list) and v and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in v)
                for v in vectors):
            raise BadReply(f"{where} answered an embedding that is not a list of numbers")
        if len({len(v) for v in vectors}) > 1:
            raise BadReply(f"{where} answered embeddings of different sizes")
        return vectors

    def _say_retry(self, problem: str, deadline: float) -> None:
        with self._lock:
            if self.on_note is None or time.monotonic() - self._said_at < SAY_RETRIES_EVERY_S:
                return
            self._said_at = time.monotonic()
        left = max(0.0, deadline - time.monotonic())
        self.on_note(f"server {self.api}: {problem}; trying again (for up to {left:.0f} s "
                     "more)")

    @cached_property
    def _listing(self) -> list[dict[str, Any]]:
        listed = self._with_retries("/models").get("data") or []
        if not isinstance(listed, list):
            raise BareError(f"{self.api}/models answered a model list that is not a list")
        return [{**entry, "id": storable(entry["id"])} for entry in listed
                if isinstance(entry, dict) and isinstance(entry.get("id"), str)]

    def _first_model(self) -> str:
        if not self._listing:
            raise BareError(f"server {self.api} lists no models; pass the model name")
        return self._listing[0]["id"]

    @cached_property
    def engine(self) -> str:
        """Which engine serves the model, from `owned_by` in its /v1/models entry:
        "vllm", "sglang", "llama-server" (llama.cpp's own server), or "llama.cpp"
        (llama-cpp-python's server and anything else, which take llama.cpp's forms)."""
        listed = self._listing
        entry = next((m for m in listed if m.get("id") == self.model),
                     listed[0] if listed else {})
        owner = str(entry.get("owned_by", "")).lower()
        return {"vllm": "vllm", "sglang": "sglang", "llamacpp": "llama-server"}.get(
            owner, "llama.cpp")

    # --- generation ------------------------------------------------------------------------

    def _params(self, sampling: Sampling, seed: int) -> dict[str, Any]:
        """Every sampling value explicit, the neutral ones too, in the form the engine
        reads: an engine's own defaults (llama-server: top-k 40, min-p 0.05) would
        otherwise truncate sampling that the recipe, and the in-process path, leave whole."""
        vllm_like = self.engine in ("vllm", "sglang")
        params: dict[str, Any] = {
            "model": self.model, "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature, "top_p": sampling.top_p, "seed": seed,
            # Not in OpenAI's API: vLLM and SGLang disable top-k with -1, llama.cpp with 0.
            "top_k": sampling.top_k if sampling.top_k > 0 else (-1 if vllm_like else 0),
            "min_p": sampling.min_p,
            ("repetition_penalty" if vllm_like else "repeat_penalty"): sampling.repeat_penalty,
        }
        if sampling.stop:
            params["stop"] = list(sampling.stop)
        if sampling.grammar:
            params.update(self._grammar_params(sampling.grammar))
        return params

    def _grammar_params(self, grammar: str) -> dict[str, Any]:
        """The output grammar (GBNF) in the engine's own form: vLLM's structured outputs
        (v0.10 and later; xgrammar reads GBNF), SGLang's `ebnf`, llama.cpp's `grammar`."""
        if self.engine == "vllm":
            return {"structured_outputs": {"grammar": grammar}}
        if self.engine == "sglang":
            return {"ebnf": grammar}
        return {"grammar": grammar}

    # Every engine is sent the grammar; one that ignores it is found out by its first
    # reply outside the grammar (pipeline.refine says so once).
    takes_grammar = True

    @property
    def takes_reply_start(self) -> bool:
        """Engines that continue a last, unfinished assistant message: llama-server does
        by itself, vLLM and SGLang when asked (`continue_final_message`). llama-cpp-python's
        server would answer it as a finished turn, so it is not given one."""
        return self.engine == "llama-server" or self._continues_when_asked

    @property
    def _continues_when_asked(self) -> bool:
        return self.engine in ("vllm", "sglang")

    def _generation(self, path: str, answer: dict[str, Any], started: float) -> Generation:
        """The first choice's text and the token counts, from a reply of any shape: one
        without choices or text is an error, a usage that is not counts counts as 0."""
        choices = answer.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            raise BadReply(f"{self.api}{path} answered without choices: "
                           f"{json.dumps(answer)[:200]}")
        if path == "/completions":
            text = choice.get("text")
        else:
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        if not isinstance(text, str | None):
            raise BadReply(f"{self.api}{path} answered a choice whose text is not a string")
        usage = answer.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        reason = choice.get("finish_reason")
        return Generation(text=storable(text or ""),
                          prompt_tokens=_count(usage, "prompt_tokens"),
                          completion_tokens=_count(usage, "completion_tokens"),
                          ms=(time.perf_counter() - started) * 1000,
                          finish_reason=storable(reason)[:40] if isinstance(reason, str)
                          else "stop")

    def _one(self, path: str, body: dict[str, Any]) -> Generation:
        """One sample: a reply that is no completion is a failed sample (empty, finish
        reason "bad reply"), said once; the job ends only when no good reply ever came."""
        started = time.perf_counter()
        try:
            generation = self._generation(path, self._with_retries(path, body), started)
        except BadReply as problem:
            with self._lock:
                self._bad += 1
                hopeless = not self._good and self._bad >= BAD_REPLIES_BEFORE_GIVING_UP
            if hopeless:
                raise
            if self.on_note is not None:
                self.on_note(f"{problem}; that sample counts as failed")
            return Generation(text="", prompt_tokens=0, completion_tokens=0,
                              ms=(time.perf_counter() - started) * 1000,
                              finish_reason="bad reply")
        with self._lock:
            self._good += 1
        return generation

    def complete(self, prompt: str, sampling: Sampling, seed: int) -> Generation:
        return self._one("/completions", {**self._params(sampling, seed), "prompt": prompt})

    def chat(self, messages: Messages, sampling: Sampling, seed: int) -> Generation:
        """A chat reply; a last assistant message is the reply's opening, continued by
        the engine (only sent where `takes_reply_start`)."""
        body = {**self._params(sampling, seed), "messages": messages}
        if messages and messages[-1]["role"] == "assistant" and self._continues_when_asked:
            body.update(continue_final_message=True, add_generation_prompt=False)
        return self._one("/chat/completions", body)

    def _many(self, call: Any, jobs: Iterable[tuple[K, Any, int]], sampling: Sampling
              ) -> Iterator[tuple[K, Generation]]:
        """Keeps `concurrency` requests in flight; jobs are drawn from the iterable in the
        caller's thread, results yielded as they arrive."""
        source = iter(jobs)
        pool = ThreadPoolExecutor(self.options.concurrency)
        running: dict[Future, K] = {}
        try:
            while True:
                while len(running) < self.options.concurrency:
                    job = next(source, None)
                    if job is None:
                        break
                    key, payload, seed = job
                    running[pool.submit(call, payload, sampling, seed)] = key
                if not running:
                    return
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    yield key, future.result()
        finally:
            # Requests still in flight when the caller stops are abandoned, not awaited.
            pool.shutdown(wait=False, cancel_futures=True)

    def complete_many(self, jobs: Iterable[tuple[K, str, int]], sampling: Sampling
                      ) -> Iterator[tuple[K, Generation]]:
        yield from self._many(self.complete, jobs, sampling)

    def chat_many(self, jobs: Iterable[tuple[K, Messages, int]], sampling: Sampling
                  ) -> Iterator[tuple[K, Generation]]:
        yield from self._many(self.chat, jobs, sampling)
