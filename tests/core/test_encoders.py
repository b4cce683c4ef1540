"""The inference backends (embedloop.encoders) and the one encode path through the cache.

Correctness only: the OpenVINO backend gives torch's vectors; dynamic int8 is lossy, so it
is never what ``auto`` picks; the cache path returns exactly what a bare encode returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from embedloop.config import ConfigError, parse_settings
from embedloop.embedding_cache import encode_with_cache
from embedloop.encoders import encode, encoder_key, resolve_backend
from embedloop.models import load_encoder
from embedloop.warehouse import EMBEDDING_CACHE

TEXTS = [
    "How do I create an index on a large table without locking writes?",
    "CREATE INDEX CONCURRENTLY builds the index without taking a lock that blocks inserts, "
    "updates or deletes; it scans the table twice and waits for running transactions.",
    "VACUUM reclaims storage occupied by dead tuples.",
    "The pg_hba.conf file controls client authentication: which hosts may connect, as "
    "which database users, to which databases, and with which authentication method.",
    "checkpoint_timeout",
    "Streaming replication ships WAL records to standby servers as they are generated.",
]
# Measured on TEXTS: mean cosine of torch-int8 to torch 0.95-0.97 (0.93 on chunks of a
# real manual). The bound holds with margin; it is far below what "same vectors" means.
INT8_MIN_MEAN_COSINE = 0.85


@pytest.fixture(scope="module")
def base_model() -> str:
    return parse_settings({}).model.resolved_base_model()


@pytest.fixture(scope="module")
def torch_vectors(base_model: str) -> np.ndarray:
    return encode(load_encoder(base_model, "torch"), TEXTS, role="document")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_openvino_gives_torch_vectors_and_reuses_its_converted_graph(
    base_model: str, torch_vectors: np.ndarray, tmp_path: Path
) -> None:
    model = load_encoder(base_model, "openvino", tmp_path)
    vectors = encode(
        model, TEXTS, batch_size=4, role="document"
    )  # two batches of different lengths
    assert vectors.shape == torch_vectors.shape
    # Float32 on every CPU: left to itself, OpenVINO computes in bf16 where the CPU has it
    # (cosine about 0.999 there), and the vectors would depend on the machine.
    assert (
        str(model[0].model.compiled.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    )
    assert cosines(vectors, torch_vectors).min() > 0.99999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    (ir,) = tmp_path.glob("openvino/*/model.xml")
    again = encode(load_encoder(base_model, "openvino", tmp_path), TEXTS[:2], role="document")
    assert list(tmp_path.glob("openvino/*/model.xml")) == [ir]
    assert np.allclose(again, vectors[:2], atol=1e-5)


def test_int8_is_lossy_and_never_the_default(base_model: str, torch_vectors: np.ndarray) -> None:
    vectors = encode(load_encoder(base_model, "torch-int8"), TEXTS, role="document")
    similarity = cosines(vectors, torch_vectors)
    assert similarity.mean() > INT8_MIN_MEAN_COSINE
    assert similarity.mean() < 0.999  # lossy indeed: not interchangeable with torch vectors
    assert resolve_backend("auto", "cpu") == "openvino"
    assert parse_settings({}).model.backend == "auto"
    # Its vectors are cached apart from torch's; torch keeps the plain weights key.
    assert encoder_key("abc", "torch-int8") != encoder_key("abc", "torch") == "abc"


def test_backends_resolve_per_device_and_bad_names_fail() -> None:
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("openvino", "cuda") == "torch"  # CPU backends stay off the GPU
    assert resolve_backend("torch-int8", "cpu") == "torch-int8"
    with pytest.raises(ValueError, match="unknown model backend"):
        resolve_backend("onnx", "cpu")
    with pytest.raises(ConfigError, match=r"model\.backend"):
        parse_settings({"model": {"backend": "onnx"}})


def test_cache_path_returns_bare_vectors_and_only_encodes_what_is_missing(
    base_model: str,
) -> None:
    model = load_encoder(base_model, "torch")
    keys = [f"k{i}" for i in range(len(TEXTS))]
    first = encode_with_cache(
        model, keys, TEXTS, EMBEDDING_CACHE.empty(), "m", batch_size=2, role="document"
    )
    bare = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert first.encoded == len(TEXTS)
    assert np.allclose(first.vectors, bare, atol=1e-5)
    assert list(first.cache.columns) == EMBEDDING_CACHE.columns
    assert list(first.cache["key"]) == keys
    # One text changed, one key new, another model's rows ignored: only two are encoded.
    texts = [*TEXTS[:-1], "A changed text.", "A new text."]
    other = first.cache.assign(model_key="other")
    cache = pd.concat([first.cache, other], ignore_index=True)
    second = encode_with_cache(
        model, [*keys, "k-new"], texts, cache, "m", batch_size=2, role="document"
    )
    assert second.encoded == 2
    expected = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(second.vectors, expected, atol=1e-5)
    blobs = [np.frombuffer(b, dtype=np.float32) for b in second.cache["embedding"]]
    assert np.array_equal(np.vstack(blobs), second.vectors)
    assert set(second.cache["model_key"]) == {"m"}


def test_chunk_budget_follows_the_training_sequence_length(tmp_path: Path) -> None:
    from embedloop.chunking.incremental import chunker_for

    settings = parse_settings({"training": {"max_seq_length": 128}})
    _, params = chunker_for(settings)
    assert params.max_tokens == 126  # 128 minus [CLS] and [SEP]: training sees chunks whole
    _, default = chunker_for(parse_settings({}))
    assert default.max_tokens == 254
    with pytest.warns(UserWarning, match=r"chunking\.max_tokens \(200\).*at most 126"):
        parse_settings({"chunking": {"max_tokens": 200}, "training": {"max_seq_length": 128}})
