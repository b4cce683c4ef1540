"""Roll production back to an older model version, on the record.

Production is what hard-negative mining, review vectors and search load (the export in
``<data_dir>/models/production``). Rolling back sets the chosen version's ZenML stage to
production (the current one is archived), re-exports its stored artifact there, and writes
who did it, why and what was production before onto the version's ZenML metadata. The
Dagster side (``orchestration/rollback.py``) runs this inside ``rollback_job``, so the run
log records it too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from embedloop.config import Settings
from training.lineage import ROLLBACK, get_version
from training.zenml_env import configure_zenml


@dataclass(frozen=True)
class Rollback:
    model: str
    version: int
    previous_production: int | None
    by: str
    reason: str
    at: str
    export_dir: str
    dagster_run_id: str | None = None


def rollback(
    settings: Settings, version: int, by: str, reason: str, dagster_run_id: str | None = None
) -> Rollback:
    """Make ``version`` production again. LookupError/ValueError say why it cannot be."""
    if not reason.strip():
        raise ValueError("a rollback needs a reason (it is recorded with the version)")
    configure_zenml(settings)
    from zenml import log_metadata
    from zenml.client import Client
    from zenml.enums import ModelStages

    from training.pipelines import production_version
    from training.runner import sync_production_export
    from training.steps import MODEL_ARTIFACT

    target = get_version(settings, version)
    if target.get_model_artifact(MODEL_ARTIFACT) is None:
        raise LookupError(f"version {version} has no trained model artifact to serve")
    current = production_version(Client(), settings.training.model_name)
    if current is not None and current.id == target.id:
        raise ValueError(f"version {version} is already production")
    target.set_stage(ModelStages.PRODUCTION, force=True)  # archives the current one
    export = sync_production_export(settings)
    record = Rollback(
        model=settings.training.model_name,
        version=int(target.number),
        previous_production=int(current.number) if current is not None else None,
        by=by,
        reason=reason.strip(),
        at=datetime.now(UTC).isoformat(),
        export_dir=str(export or Path()),
        dagster_run_id=dagster_run_id,
    )
    log_metadata(
        metadata={ROLLBACK: {k: v for k, v in asdict(record).items() if v is not None}},
        model_name=record.model,
        model_version=str(record.version),
    )
    return record
