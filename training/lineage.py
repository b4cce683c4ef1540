"""Where a model version came from, and how to go back to an older one.

ZenML holds the model versions; this module writes onto each version the other half of its
story and reads the whole of it back:

- ``record_training_lineage``: after training, the warehouse as the version saw it
  (documents and their newest change, chunks, pairs by generator, the human feedback
  snapshot), the Dagster run that asked for it and the data versions of its inputs;
  returns the ZenML links (dashboard URLs when a ZenML server is configured) for the
  Dagster metadata.
- ``lineage``: that record with the ZenML runs, metrics, stage and promotion reason of a
  version, for ``embedloop lineage``.
- ``rollback``: make an older version production again, re-export it to
  ``<data_dir>/models/production`` and record who did it and why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from embedloop.config import Settings
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    FEEDBACK_HISTORY,
    QUESTION_HISTORY,
    SOURCE_DOCUMENTS,
    TRAINING_SPLITS,
    read_table,
)
from training.zenml_env import configure_zenml

if TYPE_CHECKING:
    from zenml.models import ModelVersionResponse

LINEAGE = "lineage"
ROLLBACK = "rollback"


def warehouse_snapshot(settings: Settings) -> dict[str, Any]:
    """Counts of what a model trained on now is built from (read-only; empty if no warehouse)."""
    path = settings.warehouse_path
    if not path.is_file():
        return {}
    with duckdb.connect(str(path), read_only=True) as conn:
        docs = read_table(conn, SOURCE_DOCUMENTS)
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        pairs = read_table(conn, TRAINING_SPLITS)
        reviews = read_table(conn, FEEDBACK_HISTORY)
        questions = read_table(conn, QUESTION_HISTORY)
    live = docs[~docs["deleted"].astype(bool)]
    by_generator = pairs.groupby(["generator", "split"]).size() if len(pairs) else pd.Series()
    pair_counts: dict[str, dict[str, int]] = {}
    for (generator, split), n in by_generator.items():
        pair_counts.setdefault(str(generator), {})[str(split)] = int(n)
    review = _latest_submitted(reviews, ["pair_id", "user_id"])
    asked = _latest_submitted(questions, ["record_id", "user_id"])
    stamps = [s for s in (*review["updated_at"], *asked["updated_at"]) if not pd.isna(s)]
    return {
        "documents": {
            "live": len(live),
            "deleted": len(docs) - len(live),
            "newest_change": _iso(live["updated_at"].max()) if len(live) else None,
        },
        "chunks": len(chunks),
        "pairs_by_generator": pair_counts,
        "feedback": {
            "responses": len(review) + len(asked),
            "review_responses": len(review),
            "question_responses": len(asked),
            "latest_updated_at": _iso(max(stamps)) if stamps else None,
        },
    }


def _latest_submitted(history: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Each annotator's latest response per item, kept when it is submitted."""
    if history.empty:
        return history
    ordered = history.assign(updated_at=pd.to_datetime(history["updated_at"], utc=True))
    latest = ordered.sort_values(["updated_at", "pulled_at", "response_id"]).drop_duplicates(
        key, keep="last"
    )
    return latest[latest["status"] == "submitted"]


def _iso(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    return (stamp.tz_convert(UTC) if stamp.tzinfo else stamp).isoformat()


def record_training_lineage(
    settings: Settings, version: int, dagster: dict[str, Any]
) -> dict[str, Any]:
    """Attach the warehouse snapshot and ``dagster`` (run id, input data versions, trigger)
    to ``version`` of the configured ZenML Model; return its ZenML links."""
    configure_zenml(settings)
    from zenml import log_metadata

    record = {**warehouse_snapshot(settings), "dagster": _clean(dagster)}
    record["recorded_at"] = datetime.now(UTC).isoformat()
    log_metadata(
        metadata={LINEAGE: record},
        model_name=settings.training.model_name,
        model_version=str(version),
    )
    return zenml_links(settings, version)


def zenml_links(settings: Settings, version: int) -> dict[str, Any]:
    """Model version id, its runs, and dashboard URLs where a ZenML server serves them."""
    configure_zenml(settings)
    from zenml.client import Client
    from zenml.utils import dashboard_utils

    client = Client()
    model_version = client.get_model_version(settings.training.model_name, version)
    runs = _runs(client, model_version)
    return {
        "model_version_id": str(model_version.id),
        "model_version_url": dashboard_utils.get_model_version_url(model_version),
        "server_url": dashboard_utils.get_server_dashboard_url(),
        "runs": [
            {
                "name": run.name,
                "id": str(run.id),
                "pipeline": run.pipeline.name if run.pipeline else None,
                "status": run.status.value,
                "url": dashboard_utils.get_run_url(run),
            }
            for run in runs
        ],
    }


def _runs(client: Any, model_version: ModelVersionResponse) -> list[Any]:
    page = client.list_pipeline_runs(
        model_version_id=model_version.id, sort_by="asc:created", size=100, hydrate=True
    )
    return list(page.items)


def _clean(value: Any) -> Any:
    """ZenML metadata takes no None; nested dicts and lists are fine."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def get_version(settings: Settings, version: str | int | None) -> ModelVersionResponse:
    """A version by number; None = production, else the latest. LookupError if none."""
    configure_zenml(settings)
    from zenml.client import Client
    from zenml.enums import ModelStages

    name = settings.training.model_name
    client = Client()
    refs: list[Any] = (
        [int(version)] if version is not None else [ModelStages.PRODUCTION, ModelStages.LATEST]
    )
    for ref in refs:
        try:
            return client.get_model_version(name, ref)
        except KeyError:
            continue
    what = f"version {version}" if version is not None else "version"
    raise LookupError(f"model {name!r} has no {what}: run `embedloop run` first")


def lineage(settings: Settings, version: str | int | None = None) -> dict[str, Any]:
    """Everything known about one model version, from ZenML's metadata and runs."""
    mv = get_version(settings, version)
    meta = dict(mv.run_metadata)
    number = int(mv.number)
    evaluation = meta.get("evaluation")
    evaluation = evaluation if isinstance(evaluation, dict) else {}
    promotion = meta.get("promotion") or {}
    return {
        "model": settings.training.model_name,
        "version": number,
        "stage": str(getattr(mv.stage, "value", mv.stage)) if mv.stage else None,
        "created": mv.created.isoformat() if mv.created else None,
        "lineage": meta.get(LINEAGE) or {},
        "dagster_run_id": meta.get("dagster_run_id"),
        "data_snapshot": meta.get("data_snapshot") or {},
        "zenml": zenml_links(settings, number),
        "metrics": _native_metrics(evaluation),
        "promotion": promotion,
        "rollback": meta.get(ROLLBACK),
    }


def _native_metrics(evaluation: dict[str, Any]) -> dict[str, Any]:
    native = str(evaluation.get("native_dim", ""))
    if not native:
        return {}
    pick = {k: (evaluation.get(k) or {}).get(native) for k in ("base", "incumbent", "candidate")}
    return {"dim": int(native), **{k: v for k, v in pick.items() if v}}
