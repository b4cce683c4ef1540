"""``training.init``: a retraining starts from production, so learning accumulates (issue 20).

Production here is the base model with every weight shifted by a known amount, exported
where the pipeline exports production; a real (tiny) finetune then shows where it started
and what it averaged with.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from sentence_transformers import SentenceTransformer

from embedloop.config import Settings
from embedloop.models import production_dir
from training.export import export_model
from training.finetune import finetune, initial_model

SHIFT = 0.01


def _first_weight(model: SentenceTransformer) -> torch.Tensor:
    return model[0].auto_model.encoder.layer[0].attention.self.query.weight.detach().clone()


def _settings(tmp_path: Path, **training: object) -> Settings:
    fixed = {"max_steps": 3, "batch_size": 4, "max_minutes": None, "base_weight_choices": []}
    return Settings.model_validate({"data_dir": str(tmp_path), "training": {**fixed, **training}})


def _data() -> tuple[pd.DataFrame, pd.DataFrame]:
    topics = [f"topic {i} explains the setting number {i} of the tool" for i in range(12)]
    chunks = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(12)], "text": topics})
    pairs = pd.DataFrame(
        {"query": [f"what does setting {i} do" for i in range(12)], "positive": topics}
    ).assign(chunk_id=chunks["chunk_id"], negative=None, generator="offline:heading")
    return pairs, chunks


def test_a_run_starts_from_production_and_keeps_its_share(tmp_path: Path) -> None:
    settings = _settings(tmp_path, init="production", base_weight=1.0)
    base_path = settings.model.resolved_base_model()
    # No production model yet: the base model, and the metadata says why.
    assert initial_model(settings) == (base_path, "base (no production model yet)")

    production = SentenceTransformer(base_path, device="cpu")
    with torch.no_grad():
        for tensor in production.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(SHIFT)
    marker = {"model_name": "embedloop-embeddings", "version": 3, "artifact_id": "a"}
    export_model(production, production_dir(settings), marker)
    assert initial_model(settings) == (str(production_dir(settings)), "production v3")
    assert initial_model(_settings(tmp_path, init="base"))[1] == "base"

    pairs, chunks = _data()
    # A share of 1 serves exactly the model the run started from: production, not base.
    kept = finetune(settings, pairs, pairs.head(0), chunks)
    assert kept.hyperparameters["init"] == "production v3"
    assert torch.allclose(_first_weight(kept.model), _first_weight(production), atol=1e-6)
    # Unaveraged, it moved from production by about what a few steps move the base model.
    moved = finetune(
        _settings(tmp_path, init="production", base_weight=0.0), pairs, pairs.head(0), chunks
    )
    start = _first_weight(production)
    step = (_first_weight(moved.model) - start).abs().mean().item()
    assert 0 < step < SHIFT / 2  # near production, far from base
    base = finetune(_settings(tmp_path, init="base", base_weight=0.0), pairs, pairs.head(0), chunks)
    base_start = _first_weight(SentenceTransformer(base_path, device="cpu"))
    assert (_first_weight(base.model) - base_start).abs().mean().item() < SHIFT / 2
