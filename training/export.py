"""Copies of trained models on local disk, for code that should not need ZenML to load one.

``<data_dir>/models/<version>/`` holds every trained version; ``<data_dir>/models/production/``
holds the one that passed the promotion gate (``embedloop.models.production_dir``). Both are
written next to their final place and swapped in with renames, so a reader sees the old
complete model or the new complete model, never a half-written one.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedloop.config import Settings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MARKER = "embedloop_model.json"


def models_dir(settings: Settings) -> Path:
    """Where exported models live: ``<data_dir>/models``."""
    return settings.data_dir / "models"


def version_dir(settings: Settings, number: int) -> Path:
    """The export directory of one model version: ``<data_dir>/models/<number>``."""
    return models_dir(settings) / str(number)


def read_marker(directory: Path) -> dict[str, Any] | None:
    """What an exported model directory says it holds.

    Args:
        directory: An export directory.

    Returns:
        Its marker (version, stage, source), or None when absent or unreadable.
    """
    try:
        return json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def export_model(model: SentenceTransformer, target: Path, marker: dict[str, Any]) -> Path:
    """Save ``model`` to ``target`` (replacing it) with ``marker`` saying what it is."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        model.save(str(staging), create_model_card=False)
        (staging / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True))
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap_in(staging: Path, target: Path) -> None:
    # Two renames on one filesystem: between them the target is briefly absent, and
    # embedloop.models.production_model_path() then falls back to the base model.
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    had_old = target.exists()
    if had_old:
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if had_old:
            old.rename(target)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)
