"""Questions an LLM wrote, kept per (chunk text, model, prompt version) as they arrive.

A local model writes about one passage a second on a laptop CPU, so a run that is stopped
(a time budget, a kill, a crash) must keep every answer it got, and no unchanged chunk
should ever be sent twice. Each answered batch is appended to a JSON-lines file and
flushed to disk before the next batch is asked; a half-written last line (a kill during
the write) is skipped on reading. The warehouse tables are still written only at the end
of the asset, as for every other generator: this file is what lets the next run start
where this one stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CachedAnswer:
    key: str
    questions: tuple[str, ...]
    model: str


def cache_key(text: str, model: str, prompt_version: int, options: str = "") -> str:
    """What decides an answer: the chunk's text, the model, the prompt and its options."""
    payload = "\x1f".join((text, model, str(prompt_version), options))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class QuestionCache:
    """An append-only JSON-lines file of answers; later lines win."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: dict[str, CachedAnswer] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                answer = _parse(line)
                if answer is not None:
                    self._answers[answer.key] = answer

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str) -> CachedAnswer | None:
        return self._answers.get(key)

    def add(self, answers: Iterable[CachedAnswer]) -> None:
        """Append ``answers`` and flush them to disk before returning."""
        new = list(answers)
        if not new:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            for a in new:
                row = {"key": a.key, "questions": list(a.questions), "model": a.model}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._answers.update((a.key, a) for a in new)


def _parse(line: str) -> CachedAnswer | None:
    try:
        row = json.loads(line)
        return CachedAnswer(str(row["key"]), tuple(map(str, row["questions"])), str(row["model"]))
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a kill
