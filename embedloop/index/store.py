"""What every production-index store keeps and answers, whichever database holds it.

Two stores implement it: DuckDB (``duckdb_store``, the embedded default, exact search) and
PostgreSQL with pgvector (``pgvector_store``, HNSW). Both keep one row per live chunk with
the model version that embedded it, and one *state* record saying which model built the
index. A store changes only atomically: an incremental update is one transaction, a rebuild
is built beside the live index and switched in at once, so a search sees the old index or
the new one, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import pandas as pd

# Row columns besides the vectors; model_key is the weights key of the model that embedded
# the row, so a reader can tell which model its query vector must come from.
ROW_COLUMNS = ["chunk_id", "doc_id", "heading_path", "text", "text_hash", "model_version"]
FINGERPRINT = ["chunk_id", "text_hash", "doc_id", "heading_path"]


class IndexUnavailable(LookupError):
    """No index to search (never built, its model gone, its database unreachable): says
    what to do, and never names a server path, a URL or a password (an API answers it as a
    503 to whoever asked)."""


class IndexSwitched(IndexUnavailable):
    """The index switched to another build while a search ran on it (its column or table
    is gone): nothing is wrong, the search should look at the state again and retry."""


UNREACHABLE = "the index database is unreachable; retrying on the next request"
SWITCHED = "the index switched to another build during the search; retry"


@dataclass(frozen=True)
class IndexState:
    """Which model built the index, at which dims, and when."""

    generation: str  # changes with every rebuild
    weights_key: str  # embedloop.embedding_cache.model_key of model_path
    encoder_key: str  # weights and backend: which vectors the rows hold
    model_path: str  # where a reader loads the model that encodes its queries
    model_version: str  # the ZenML version number, or "base"
    dim: int  # the native dim
    dims: tuple[int, ...]  # every indexed dim, native first
    n_chunks: int
    built_at: str
    updated_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict) -> IndexState:
        raw = json.loads(text) if isinstance(text, str) else dict(text)
        raw["dims"] = tuple(int(d) for d in raw["dims"])
        return cls(**raw)


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    doc_id: str
    heading_path: str
    text: str
    score: float
    model_version: str


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` components, re-normalized: a Matryoshka vector at ``dim``."""
    part = np.ascontiguousarray(vectors[:, :dim], dtype=np.float32)
    norms = np.linalg.norm(part, axis=1, keepdims=True)
    return part / np.maximum(norms, 1e-12)


class IndexStore(Protocol):
    """A production index in some database. Writers and readers open their own."""

    backend: str  # "duckdb" or "pgvector"

    def state(self) -> IndexState | None: ...

    def fingerprints(self) -> pd.DataFrame:
        """FINGERPRINT columns of every row (empty without an index)."""
        ...

    def update(
        self, delete: list[str], rows: pd.DataFrame, vectors: np.ndarray, state: IndexState
    ) -> None:
        """Delete ``delete`` and insert ``rows`` (ROW_COLUMNS, with their native vectors)
        in one transaction, recording ``state``."""
        ...

    def rebuild(
        self,
        rows: pd.DataFrame,
        vectors: np.ndarray,
        state: IndexState,
        before_switch: Callable[[], None] | None = None,
    ) -> None:
        """Build a complete new index beside the live one, then switch to it atomically
        (``before_switch`` runs when it is built and not yet live)."""
        ...

    def search(self, vector: np.ndarray, k: int, dim: int) -> tuple[list[Hit], str]:
        """The ``k`` best rows for a unit ``vector`` at ``dim`` (an indexed dim), and the
        generation that answered."""
        ...

    def close(self) -> None: ...
