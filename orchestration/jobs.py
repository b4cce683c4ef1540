"""Jobs: named selections of the asset graph."""

from __future__ import annotations

import dagster as dg

from assets.evaluation import GROUP as TRAINING_GROUP

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
    selection=dg.AssetSelection.groups(TRAINING_GROUP),
    description="Finetune a new model version in ZenML and evaluate it against the base model.",
)

retraining_job = dg.define_asset_job(
    "retraining_job",
    selection=dg.AssetSelection.assets(
        "human_feedback",
        "human_questions",
        "search_log",
        "search_judgments",
        "training_splits",
        "finetuned_embedding_model",
        "evaluation_sets",
        "embedding_evaluation",
    ),
    description="Pull human feedback, questions and search judgments from Argilla, merge them "
    "into the splits, "
    "finetune and evaluate a new model version (what argilla_feedback_sensor launches).",
)

all_assets_job = dg.define_asset_job(
    "embedloop_job",
    selection=dg.AssetSelection.all(),
    description="Materialize the whole graph (what `make demo` runs).",
)

# Everything below the sources except training: what a source change may refresh without a
# person or the feedback sensor deciding to train (orchestration/source_automation.py).
REFRESH_SCOPE = dg.AssetSelection.all() - dg.AssetSelection.groups(TRAINING_GROUP)

source_refresh_job = dg.define_asset_job(
    "source_refresh_job",
    selection=REFRESH_SCOPE,
    description="Re-ingest the sources and rebuild what they feed, up to the Argilla datasets "
    "(the daily schedule runs it whole; source_automation_sensor only what changed).",
)

search_publication_job = dg.define_asset_job(
    "search_publication_job",
    selection=dg.AssetSelection.assets("search_log", "argilla_search_dataset"),
    description="Copy new searches and feedback from the search log and publish a sample to "
    "Argilla for judgment (what search_log_sensor launches).",
)

ALL_JOBS = [
    search_publication_job,
    ingestion_job,
    training_data_job,
    training_job,
    retraining_job,
    all_assets_job,
    source_refresh_job,
]
