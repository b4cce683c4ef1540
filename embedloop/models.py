"""Which embedding model the pipeline uses now, where it runs, and how it encodes.

Hard-negative mining, review vectors, search and evaluation all encode through
``load_encoder`` with the configured ``model.backend`` (``embedloop.encoders``), on the best
device this machine has; training picks its device here too but always trains in torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from embedloop.config import Settings
from embedloop.encoders import encoder_key, resolve_backend, with_backend

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


# What training/export.py writes beside an exported model: its ZenML name, version, artifact.
MODEL_MARKER = "embedloop_model.json"
OFFLINE_ENV = "HF_HUB_OFFLINE"


class ModelNotFound(LookupError):
    """A model that is neither a local directory nor loadable from the Hugging Face Hub."""


def hub_offline(settings: Settings | None = None) -> bool:
    """Whether models load without the Hugging Face Hub: ``model.offline`` in the config, or
    ``$HF_HUB_OFFLINE`` set by the user (`make demo` and the tests set it). Nothing else
    turns it on: a hub model id downloads once, then loads from the local cache."""
    env = os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
    return env or bool(settings is not None and settings.model.offline)


def load_sentence_transformer(
    path: str, device: str | None = None, offline: bool = False
) -> SentenceTransformer:
    """A SentenceTransformer from a directory or a hub id; a hub id that cannot be had
    (offline and not cached, or no such model) is a ``ModelNotFound`` that says why."""
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(path, device=device, local_files_only=offline)
    except (OSError, ValueError) as err:
        if Path(path).exists():
            raise
        why = (
            "it is not in the local Hugging Face cache and hub access is off (model.offline "
            f"in the config or ${OFFLINE_ENV}): unset both once to download it"
            if offline
            else f"it could not be loaded from the Hugging Face Hub ({err})"
        )
        raise ModelNotFound(f"model {path!r} is not a local directory, and {why}") from None


def model_version(path: str) -> str:
    """The ZenML version number of an exported model directory, or "base"."""
    try:
        marker = json.loads((Path(path) / MODEL_MARKER).read_text(encoding="utf-8"))
        return str(int(marker["version"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "base"


def production_dir(settings: Settings) -> Path:
    """Directory of the promoted model; the promotion step writes it."""
    return settings.data_dir / "models" / "production"


def production_model_path(settings: Settings) -> str:
    """The promoted model if there is one, else the configured base model."""
    pointer = production_dir(settings)
    if (pointer / "modules.json").is_file():
        return str(pointer.resolve())
    return settings.model.resolved_base_model()


def pick_device() -> str:
    """CUDA, then Apple's MPS, then the CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def load_encoder(
    path: str, backend: str = "torch", cache_dir: Path | None = None, offline: bool | None = None
) -> SentenceTransformer:
    """A sentence-transformers model (a directory or a hub id), on ``pick_device()``, whose
    transformer runs on ``backend`` (``auto``, ``torch``, ``openvino``, ``torch-int8``).

    ``offline``: no hub access (None: as ``$HF_HUB_OFFLINE`` says)."""
    device = pick_device()
    model = load_sentence_transformer(path, device, hub_offline() if offline is None else offline)
    return with_backend(model, resolve_backend(backend, device), cache_dir, inplace=True)


def serving_backend(settings: Settings) -> str:
    """The backend inference uses on this machine: evaluation must score models with it."""
    return resolve_backend(settings.model.backend, pick_device())


def as_served(model: SentenceTransformer, settings: Settings) -> SentenceTransformer:
    """``model`` as inference runs it on this machine (the serving backend): a copy for a
    CPU backend, ``model`` itself for torch. Evaluation scores candidates through this, so
    the promotion gate judges the vectors that will be served."""
    return with_backend(model, serving_backend(settings), settings.cache_dir)


@dataclass(frozen=True)
class Encoder:
    """The production model as the pipeline encodes with it, and its vectors' cache key."""

    model: SentenceTransformer
    path: str
    backend: str
    key: str


def production_encoder(settings: Settings) -> Encoder:
    """The production model (base until one is promoted) on the configured backend."""
    from embedloop.embedding_cache import model_key

    path = production_model_path(settings)
    backend = serving_backend(settings)
    model = load_encoder(path, backend, settings.cache_dir, hub_offline(settings))
    return Encoder(model, path, backend, encoder_key(model_key(path), backend))
