"""A hostile OpenAI-compatible server on 127.0.0.1, for the tests of what bare-tui does
with what a server sends: each test sets how it answers, and reads what it was sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMPLETION = {"choices": [{"text": "Question:\nQ?\nAnswer:\n#### 1\n", "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 5}}
MODELS = {"data": [{"id": "fake", "owned_by": "llama.cpp"}]}


class Request:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes):
        self.method, self.path, self.headers, self.body = method, path, headers, body


# A reply: (status, headers, body bytes). A Content-Length above the body's length cuts
# the reply short: the connection closes after every reply. A body that is a list of
# chunks is sent a chunk at a time, each after `Trickle.pause_s` (with the whole length
# announced first).
Reply = tuple[int, dict[str, str], Any]


class Trickle(list):
    pause_s = 0.5


def json_reply(data: Any, status: int = 200) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


class FakeServer:
    """Answers /v1/models with one model and everything else with `answer(request)`."""

    def __init__(self, answer: Callable[[Request], Reply] | None = None):
        self.requests: list[Request] = []
        self.closed = False
        self.answer = answer or (lambda request: json_reply(COMPLETION))
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers), body)
                owner.requests.append(request)
                if self.path.rstrip("/").endswith("/models"):
                    status, headers, data = json_reply(MODELS)
                else:
                    status, headers, data = owner.answer(request)
                self.close_connection = True
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(
                        sum(map(len, data)) if isinstance(data, Trickle) else len(data)))
                self.end_headers()
                if not isinstance(data, Trickle):
                    self.wfile.write(data)
                    return
                for chunk in data:
                    if owner.closed:
                        return
                    time.sleep(data.pause_s)
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up: what is tested

            do_GET = do_POST = _handle  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self.handler = Handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    def close(self) -> None:
        self.closed = True
        self.httpd.shutdown()
        self.httpd.server_close()
