"""Query vectors for review records: what makes Argilla's "find similar" work.

The production model's query embeddings on the serving backend, taken from the embedding
cache when the pipeline already encoded the query; the model loads only if some query is
not cached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from embedloop.config import Settings
from embedloop.embedding_cache import encode_with_cache, model_key
from embedloop.encoders import encoder_key
from embedloop.models import hub_offline, load_encoder, production_model_path, serving_backend


class QueryVectors:
    def __init__(
        self,
        model_path: str,
        cache: pd.DataFrame,
        backend: str = "torch",
        cache_dir: Path | None = None,
        offline: bool | None = None,
    ) -> None:
        """``backend`` must be resolved (``embedloop.models.serving_backend``)."""
        self.model_path = model_path
        self.backend = backend
        self.cache_dir = cache_dir
        self.offline = offline
        self.key = encoder_key(model_key(model_path), backend)
        self.cache = cache
        self.encoded = 0
        self._model: Any = None

    @classmethod
    def for_settings(cls, settings: Settings, cache: pd.DataFrame) -> QueryVectors:
        """The production model's vectors on this machine's serving backend."""
        return cls(
            production_model_path(settings),
            cache,
            serving_backend(settings),
            settings.cache_dir,
            hub_offline(settings),
        )

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_encoder(self.model_path, self.backend, self.cache_dir, self.offline)
        return self._model

    # Loads the model on first use; the cache path calls only these (embedloop.encoders).
    def encode_query(self, *args: Any, **kwargs: Any) -> Any:
        return self._load().encode_query(*args, **kwargs)

    def encode_document(self, *args: Any, **kwargs: Any) -> Any:
        return self._load().encode_document(*args, **kwargs)

    def dimension(self) -> int:
        usable = self.cache[self.cache["model_key"] == self.key]
        if len(usable):
            return len(usable["embedding"].iloc[0]) // 4  # float32 blobs
        return int(self._load().get_embedding_dimension())

    def __call__(self, rows: pd.DataFrame) -> list[list[float] | None]:
        """A vector per row; None for flagged rows (their chunk changed or vanished)."""
        current = rows["chunk_state"] == "current"
        keys, texts = list(rows.loc[current, "pair_id"]), list(rows.loc[current, "query"])
        encoded = encode_with_cache(
            self, keys, texts, self.cache, self.key, what="queries", role="query"
        )
        self.encoded += encoded.encoded
        by_key = dict(zip(keys, encoded.vectors.tolist(), strict=True))
        return [by_key.get(p) for p in rows["pair_id"]]
