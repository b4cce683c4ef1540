"""A tiny OpenAI-compatible chat server with scripted faults, for the generation tests.

Behaviour is chosen by a marker in the anchor (the passage inside the questions prompt):

- ``MALFORMED``: always answers a line that is not a question.
- ``FLAKY_PARSE``: malformed on the first request for that anchor, well-formed afterwards.
- ``RATE_LIMITED``: HTTP 429 on the first request for that anchor, well-formed afterwards.
- ``SERVER_ERROR``: HTTP 500 on every request.
- anything else (``OK``): well-formed, see ``well_formed_pair``.

It counts requests per anchor and the most requests it ever had in flight at once.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from embedloop.config import LLMSettings, SyntheticSettings

_ASKED = re.compile(r"Write (\d+) different questions")


def well_formed_question(anchor: str, index: int) -> str:
    """The question the server answers for ``anchor``'s ``index``-th question."""
    return f"What is question {index} about {anchor.rstrip('.')}?"


def anchor_of(messages: list[dict[str, Any]]) -> str:
    """The passage of the questions prompt (last user message)."""
    user = [m for m in messages if m.get("role") == "user"][-1]
    content = str(user.get("content", ""))
    _, _, after = content.partition("Passage:\n")
    return (after or content).split("\n\nWrite ")[0].strip()


def asked_for(messages: list[dict[str, Any]]) -> int:
    """How many questions the prompt asks for."""
    match = _ASKED.search(str(messages[-1].get("content", "")))
    return int(match.group(1)) if match else 1


class FaultyLLMServer:
    """Runs on 127.0.0.1 on a free port in a daemon thread; use as a context manager."""

    def __init__(self, model: str = "fault-server", delay_s: float = 0.05) -> None:
        self.model = model
        # A short pause per request so that concurrent requests overlap measurably.
        self.delay_s = delay_s
        self.requests: Counter[str] = Counter()
        # Every well-formed question sent, per anchor, in order.
        self.answers: dict[str, list[str]] = {}
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def requests_for(self, marker: str) -> int:
        """Total requests for the anchors containing ``marker``."""
        with self._lock:
            return sum(n for anchor, n in self.requests.items() if marker in anchor)

    def __enter__(self) -> FaultyLLMServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def respond(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """(status, extra headers, JSON body) for one chat completion request."""
        anchor = anchor_of(body.get("messages", []))
        with self._lock:
            self.requests[anchor] += 1
            nth = self.requests[anchor]
        if "SERVER_ERROR" in anchor:
            return 500, {}, _error("scripted server error", "server_error")
        if "RATE_LIMITED" in anchor and nth == 1:
            # A real server's hint; the client honours it instead of its own backoff.
            return 429, {"retry-after-ms": "20"}, _error("scripted rate limit", "rate_limit")
        if "MALFORMED" in anchor or ("FLAKY_PARSE" in anchor and nth == 1):
            return 200, {}, self._completion([f"Sure! A query for that: {anchor}"])
        k = asked_for(body.get("messages", []))
        with self._lock:
            sent = self.answers.setdefault(anchor, [])
            questions = [well_formed_question(anchor, len(sent) + i) for i in range(k)]
            sent.extend(questions)
        lines = "\n".join(f"{i}. {q}" for i, q in enumerate(questions, start=1))
        return 200, {}, self._completion([lines])

    def _completion(self, contents: list[str]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
                for i, content in enumerate(contents)
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }

    def enter_request(self) -> None:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def leave_request(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _make_handler(server: FaultyLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {}, _error(f"no route {self.path}", "not_found"))
                return
            server.enter_request()
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                time.sleep(server.delay_s)
                self._send(*server.respond(body))
            finally:
                server.leave_request()

        def _send(self, status: int, headers: dict[str, str], payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler


def fault_settings(server: FaultyLLMServer, **extra: object) -> SyntheticSettings:
    """Settings of the llm generator pointed at ``server``."""
    llm = LLMSettings(
        base_url=server.base_url,
        model="fault-server",
        input_batch_size=1,
        timeout_s=5,
        max_retries=0,
    )
    return SyntheticSettings(generator="llm", queries_per_chunk=2, llm=llm, **extra)  # type: ignore[arg-type]
