"""Which embedding model the pipeline uses now, and where it runs.

Hard-negative mining, review vectors and search all encode with the production model (the
base model until one is promoted), on the best device this machine has; training picks its
device here too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from embedloop.config import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


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


def load_encoder(path: str) -> SentenceTransformer:
    """A sentence-transformers model from a local directory, on ``pick_device()``."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=pick_device(), local_files_only=True)
