"""Questions an LLM wrote, kept per (chunk text, model, prompt version) as they arrive.

A local model writes about one passage a second on a laptop CPU, so a run that is stopped
(a time budget, a kill, a crash) must keep every answer it got, and no unchanged chunk
should ever be sent twice. Each answered batch is appended to a JSON-lines file and
flushed to disk before the next batch is asked; a half-written last line (a kill during
the write) is skipped on reading, and the next append starts on a fresh line so it is not
glued onto the torn one. The warehouse tables are still written only at the end
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
from typing import TYPE_CHECKING, Any, BinaryIO

from embedloop.pairs.llm_questions import PROMPT_VERSION

if TYPE_CHECKING:
    from embedloop.config import LLMSettings, SyntheticSettings

# Settings of synthetic.llm that change how an answer is fetched, not what it says.
OPERATIONAL_LLM_KEYS = frozenset(
    {"base_url", "input_batch_size", "concurrency", "timeout_s", "max_retries"}
)


@dataclass(frozen=True)
class CachedAnswer:
    key: str
    questions: tuple[str, ...]
    model: str


def cache_key(text: str, model: str, prompt_version: int, options: str = "") -> str:
    """What decides an answer: the chunk's text, the model, the prompt and its options."""
    payload = "\x1f".join((text, model, str(prompt_version), options))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def llm_identity(llm: LLMSettings) -> dict[str, Any]:
    """The settings of synthetic.llm that decide what it answers (backend, model,
    generation kwargs): the one key of both LLM caches, this file's answers and the
    synthetic pairs' config hash (``incremental.config_hash``)."""
    return {k: v for k, v in llm.model_dump().items() if k not in OPERATIONAL_LLM_KEYS}


def answer_options(settings: SyntheticSettings) -> str:
    """Everything besides the text and the model name that changes the answer."""
    return json.dumps(
        {
            "n": settings.queries_per_chunk,
            "corpus": settings.corpus_description,
            "llm": llm_identity(settings.llm),
            "prompt_version": PROMPT_VERSION,
        },
        sort_keys=True,
    )


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
        with self.path.open("a+b") as f:
            if _ends_torn(f):  # a kill mid-line: start on a fresh one, or both are lost
                f.write(b"\n")
            for a in new:
                row = {"key": a.key, "questions": list(a.questions), "model": a.model}
                f.write((json.dumps(row, ensure_ascii=False) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        self._answers.update((a.key, a) for a in new)


def _ends_torn(f: BinaryIO) -> bool:
    """Whether the file open at ``f`` is non-empty and does not end with a newline."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return False
    f.seek(size - 1)
    return f.read(1) != b"\n"


def _parse(line: str) -> CachedAnswer | None:
    try:
        row = json.loads(line)
        return CachedAnswer(str(row["key"]), tuple(map(str, row["questions"])), str(row["model"]))
    except (ValueError, KeyError, TypeError):
        return None  # a line cut short by a kill
