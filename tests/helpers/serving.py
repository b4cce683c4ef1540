"""Serving test helpers: the question the small corpus answers, an index built from it,
and a config file for the CLI over the same data directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from embedloop.config import Settings
from embedloop.index.build import IndexTarget, refresh_index
from embedloop.models import production_encoder
from embedloop.warehouse import EMBEDDING_CACHE

QUESTION = "where do API keys go"


def build(settings: Settings, target: IndexTarget, chunks: pd.DataFrame) -> None:
    store = target.open(settings)
    try:
        refresh_index(
            store, chunks, production_encoder(settings), settings, EMBEDDING_CACHE.empty()
        )
    finally:
        store.close()


def serving_config(settings: Settings, tmp_path: Path) -> str:
    path = tmp_path / "embedloop.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(settings.data_dir),
                "model": {"backend": "torch"},
                "training": {"matryoshka_dims": [384, 128]},
            }
        )
    )
    return str(path)
