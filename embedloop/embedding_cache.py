"""Encode texts with a SentenceTransformer, reusing cached vectors of unchanged texts.

Vectors are cached per (key, text hash, model) in the warehouse as float32 blobs: a chunk
or query whose text did not change is never encoded twice by the same model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedloop.progress import progress
from embedloop.warehouse import EMBEDDING_CACHE

# Texts per model.encode call, in batches: small enough for regular progress lines.
BATCHES_PER_BLOCK = 4


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def model_key(model_path: str) -> str:
    """Identify a model by its weights, so a re-exported copy hits the same cache."""
    path = Path(model_path)
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if weights:
        digest = hashlib.sha256()
        for file in weights:
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            with file.open("rb") as f:
                digest.update(f.read(1 << 20))  # the first MiB is distinctive enough
        return digest.hexdigest()[:16]
    return hashlib.sha256(model_path.encode()).hexdigest()[:16]


@dataclass
class Encoded:
    vectors: np.ndarray  # (n, dim), L2-normalized, aligned with the requested keys
    cache: pd.DataFrame  # cache rows for exactly the requested keys
    encoded: int  # how many texts were actually run through the model


def encode_with_cache(
    model: object,
    keys: Sequence[str],
    texts: Sequence[str],
    cache: pd.DataFrame,
    model_id: str,
    batch_size: int = 64,
    what: str = "texts",
) -> Encoded:
    """Embeddings for ``texts``, from ``cache`` where the key, text and model match."""
    hashes = [text_hash(t) for t in texts]
    usable = cache[cache["model_key"] == model_id]
    cached = {
        (k, h): blob
        for k, h, blob in zip(usable["key"], usable["text_hash"], usable["embedding"], strict=True)
    }
    missing = [i for i, kh in enumerate(zip(keys, hashes, strict=True)) if kh not in cached]
    fresh: dict[int, np.ndarray] = {}
    # Longest first, as SentenceTransformer.encode orders one call: blocks of a few batches
    # then pad like a single call would, and progress can be reported between blocks.
    missing.sort(key=lambda i: -len(texts[i]))
    block = batch_size * BATCHES_PER_BLOCK
    with progress(f"encoding {what}", len(missing), "texts") as tracker:
        for start in range(0, len(missing), block):
            part = missing[start : start + block]
            vectors = model.encode(  # type: ignore[attr-defined]
                [texts[i] for i in part],
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh.update(
                (i, np.asarray(v, dtype=np.float32)) for i, v in zip(part, vectors, strict=True)
            )
            tracker.update(len(part))
    rows = []
    matrix = []
    for i, (key, h) in enumerate(zip(keys, hashes, strict=True)):
        vector = fresh[i] if i in fresh else np.frombuffer(cached[(key, h)], dtype=np.float32)
        matrix.append(vector)
        rows.append(
            {"key": key, "text_hash": h, "model_key": model_id, "embedding": vector.tobytes()}
        )
    dim = matrix[0].shape[0] if matrix else 0
    return Encoded(
        vectors=np.vstack(matrix) if matrix else np.zeros((0, dim), dtype=np.float32),
        cache=pd.DataFrame(rows, columns=EMBEDDING_CACHE.columns),
        encoded=len(missing),
    )
