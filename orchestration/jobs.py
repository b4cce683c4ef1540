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

all_assets_job = dg.define_asset_job(
    "embedloop_job",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph (what `make demo` runs).",
)

ALL_JOBS = [ingestion_job, training_data_job, training_job, all_assets_job]
