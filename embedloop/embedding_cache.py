"""Encode texts with a SentenceTransformer, reusing cached vectors of unchanged texts.

Vectors are cached per (key, text hash, model) in the warehouse as float32 blobs: a chunk
or query whose text did not change is never encoded twice by the same model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from embedloop.encoders import Role, encode
from embedloop.progress import progress
from embedloop.warehouse import EMBEDDING_CACHE

# Texts per model.encode call, in batches: small enough for regular progress lines.
BATCHES_PER_BLOCK = 4


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def model_key(model_path: str) -> str:
    """Identify a model by its weights, so a re-exported copy hits the same cache.

    A model with query or passage prompts is keyed by them too: the same weights encode
    ``query: x`` to another vector than ``x``."""
    path = Path(model_path)
    weights = sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin"))
    if weights:
        digest = hashlib.sha256()
        for file in weights:
            digest.update(file.name.encode())
            digest.update(str(file.stat().st_size).encode())
            with file.open("rb") as f:
                digest.update(f.read(1 << 20))  # the first MiB is distinctive enough
        prompts = model_prompts(path)
        if prompts:
            digest.update(json.dumps(prompts, sort_keys=True).encode())
        return digest.hexdigest()[:16]
    return hashlib.sha256(model_path.encode()).hexdigest()[:16]


def model_prompts(path: Path) -> dict[str, str]:
    """The non-empty prompts a saved sentence-transformers model applies (``prompts`` of its
    config_sentence_transformers.json); {} for none or no readable config."""
    try:
        config = json.loads((path / "config_sentence_transformers.json").read_text())
    except (OSError, ValueError):
        return {}
    prompts = config.get("prompts") if isinstance(config, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {str(k): str(v) for k, v in prompts.items() if v}


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
    *,
    role: Role,
) -> Encoded:
    """Embeddings for ``texts``, from ``cache`` where the key, text and model match.

    ``model_id`` names the model *and* backend (``embedloop.encoders.encoder_key``);
    ``role`` says whether the texts are queries or passages (``embedloop.encoders.encode``).
    Keys of the two roles never meet: queries are keyed by pair, passages by chunk.
    """
    hashes = [text_hash(t) for t in texts]
    usable = cache[cache["model_key"] == model_id]
    cached = dict(
        zip(zip(usable["key"], usable["text_hash"], strict=True), usable["embedding"], strict=True)
    )
    missing = [i for i, kh in enumerate(zip(keys, hashes, strict=True)) if kh not in cached]
    matrix: np.ndarray | None = None
    for i, kh in enumerate(zip(keys, hashes, strict=True)):
        if kh in cached:
            vector = np.frombuffer(cached[kh], dtype=np.float32)
            if matrix is None:
                matrix = np.empty((len(keys), vector.shape[0]), dtype=np.float32)
            matrix[i] = vector
    matrix = _encode_missing(model, texts, missing, matrix, len(keys), batch_size, what, role)
    blobs = [row.tobytes() for row in matrix]
    return Encoded(
        vectors=matrix,
        cache=pd.DataFrame(
            {"key": list(keys), "text_hash": hashes, "model_key": model_id, "embedding": blobs},
            columns=EMBEDDING_CACHE.columns,
        ),
        encoded=len(missing),
    )


def _encode_missing(
    model: object,
    texts: Sequence[str],
    missing: list[int],
    matrix: np.ndarray | None,
    n: int,
    batch_size: int,
    what: str,
    role: Role,
) -> np.ndarray:
    """Encode ``texts[missing]`` into rows of ``matrix`` (allocated here if None).

    Longest first, as SentenceTransformer.encode orders one call: blocks of a few batches
    then pad exactly like a single call would (no throughput lost to blocking), and progress
    is reported between blocks.
    """
    missing = sorted(missing, key=lambda i: -len(texts[i]))
    block = batch_size * BATCHES_PER_BLOCK
    with progress(f"encoding {what}", len(missing), "texts") as tracker:
        for start in range(0, len(missing), block):
            part = missing[start : start + block]
            vectors = encode(model, [texts[i] for i in part], batch_size, role=role)
            if matrix is None:
                matrix = np.empty((n, vectors.shape[1]), dtype=np.float32)
            matrix[part] = vectors
            tracker.update(len(part))
    return matrix if matrix is not None else np.zeros((0, 0), dtype=np.float32)
