"""Which embedding model the pipeline uses now."""

from __future__ import annotations

from pathlib import Path

from orchestration.settings import Settings


def production_pointer(settings: Settings) -> Path:
    """Directory of the promoted model; the promotion step writes it."""
    return settings.data_dir / "models" / "production"


def production_model_path(settings: Settings) -> str:
    """The promoted model if there is one, else the configured base model."""
    pointer = production_pointer(settings)
    if (pointer / "modules.json").is_file():
        return str(pointer.resolve())
    return settings.model.resolved_base_model()
