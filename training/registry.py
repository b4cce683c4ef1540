"""Read model versions out of the ZenML Model Control Plane (for the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from embedloop.config import Settings
from training.export import export_model
from training.zenml_env import configure_zenml


def export_model_version(
    settings: Settings, stage: Literal["production", "latest"], target: Path
) -> int:
    """Write the stage's model artifact to ``target``; LookupError when there is none."""
    configure_zenml(settings)
    from zenml.client import Client
    from zenml.enums import ModelStages

    from training.steps import MODEL_ARTIFACT

    name = settings.training.model_name
    ref = ModelStages.PRODUCTION if stage == "production" else ModelStages.LATEST
    try:
        version = Client().get_model_version(name, ref)
    except KeyError:
        raise LookupError(
            f"no {stage} version of model {name!r} yet: run `embedloop run` first"
        ) from None
    artifact = version.get_model_artifact(MODEL_ARTIFACT)
    if artifact is None:
        raise LookupError(f"{name} version {version.number} has no trained model artifact")
    marker = {"model_name": name, "version": int(version.number), "artifact_id": str(artifact.id)}
    export_model(artifact.load(), target, marker)
    return int(version.number)
