"""Jobs: named selections of the asset graph."""

from __future__ import annotations

import dagster as dg

ingestion_job = dg.define_asset_job(
    "ingestion_job",
    selection=dg.AssetSelection.groups("ingestion"),
    description="Ingest every source and re-chunk what changed, with quality checks.",
)

training_data_job = dg.define_asset_job(
    "training_data_job",
    selection=dg.AssetSelection.groups("training_data"),
    description="Generate synthetic pairs, mine hard negatives and rebuild the splits.",
)

training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups("training"),
    description="Finetune a new model version in ZenML and evaluate it against the base model.",
)

retraining_job = dg.define_asset_job(
    "retraining_job",
    selection=dg.AssetSelection.assets(
        "human_feedback", "training_splits", "finetuned_embedding_model", "embedding_evaluation"
    ),
    description="Pull human feedback from Argilla, merge it into the splits, finetune and "
    "evaluate a new model version (what argilla_feedback_sensor launches).",
)

all_assets_job = dg.define_asset_job(
    "embedloop_job",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph (what `make demo` runs).",
)

ALL_JOBS = [ingestion_job, training_data_job, training_job, retraining_job, all_assets_job]
