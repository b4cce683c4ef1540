"""Links between a Dagster run and the ZenML model version it trained, in both directions.

The ``finetuned_embedding_model`` asset calls :func:`link_model_version` after training:
the ZenML version gets the Dagster run id, the run's trigger (e.g. the feedback snapshot
the sensor saw) and the data versions of every input asset as metadata
(``training.lineage``); the Dagster materialization gets the ZenML model version and run
ids, and dashboard URLs when a ZenML server is configured.
"""

from typing import Any

import dagster as dg

from embedloop.config import load_settings
from training.lineage import record_training_lineage
from training.runner import ZenMLTraining

# What a model version is built from, in graph order (external source first).
INPUT_ASSETS = (
    "documentation_sources",
    "source_documents",
    "document_chunks",
    "candidate_pairs",
    "human_feedback",
    "human_questions",
    "training_splits",
)
DATA_VERSION_TAG = "dagster/data_version"
TRIGGER_PREFIX = "embedloop/"


def input_data_versions(instance: dg.DagsterInstance) -> dict[str, str]:
    """The current data version of each input asset (those never built are left out)."""
    versions = {}
    for name in INPUT_ASSETS:
        record = instance.get_latest_data_version_record(dg.AssetKey(name))
        tags = (record.event_log_entry.tags or {}) if record is not None else {}
        if DATA_VERSION_TAG in tags:
            versions[name] = tags[DATA_VERSION_TAG]
    return versions


def link_model_version(
    context: dg.AssetExecutionContext, zenml: ZenMLTraining, version: int
) -> dict[str, Any]:
    """Record the Dagster side on the ZenML version; return metadata for the Dagster side."""
    trigger = {k: v for k, v in context.run.tags.items() if k.startswith(TRIGGER_PREFIX)}
    versions = input_data_versions(context.instance)
    links = record_training_lineage(
        load_settings(zenml.config_file),
        version,
        {
            "run_id": context.run_id,
            "job": context.job_name,
            "input_data_versions": versions,
            "trigger": trigger,
        },
    )
    metadata: dict[str, Any] = {
        "zenml_model_version_id": links["model_version_id"],
        "input_data_versions": dg.MetadataValue.json(versions),
    }
    if links.get("model_version_url"):
        metadata["zenml_model_version_url"] = dg.MetadataValue.url(links["model_version_url"])
    training_runs = [r for r in links["runs"] if r["pipeline"] == "finetune_embeddings"]
    if training_runs and training_runs[-1]["url"]:
        metadata["zenml_run_url"] = dg.MetadataValue.url(training_runs[-1]["url"])
    return metadata
