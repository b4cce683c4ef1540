"""Read model versions out of the ZenML Model Control Plane (for the CLI): the model, a
model card from the version's metadata, and optionally an OpenVINO copy for serving."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from embedloop.config import Settings
from embedloop.model_card import CardFacts, render_model_card
from training.export import export_model
from training.zenml_env import configure_zenml

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from zenml.models import ModelVersionResponse


def export_model_version(
    settings: Settings,
    stage: Literal["production", "latest"],
    target: Path,
    openvino: bool = False,
) -> int:
    """Write the stage's model artifact to ``target`` with a model card (README.md) and,
    with ``openvino``, an OpenVINO copy; LookupError when there is none."""
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
    model = artifact.load()
    export_model(model, target, marker)
    extra = (write_openvino_copy(model, target),) if openvino else ()
    write_model_card(settings, version, target, extra)
    return int(version.number)


def write_openvino_copy(model: SentenceTransformer, target: Path) -> str:
    """The transformer as an OpenVINO IR (float32, the serving backend's graph) in
    ``target/openvino/``; tokenizer, pooling and normalization stay the folder's own."""
    import openvino as ov

    from embedloop.encoders import convert_to_openvino

    path = target / "openvino" / "openvino_model.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(convert_to_openvino(model[0].auto_model), str(path), compress_to_fp16=False)
    return str(path.relative_to(target))


def write_model_card(
    settings: Settings, version: ModelVersionResponse, target: Path, extra: tuple[str, ...] = ()
) -> Path:
    """README.md: base model, data snapshot, scores with the gate's interval, provenance."""
    import zenml

    facts = CardFacts(
        model_name=settings.training.model_name,
        version=int(version.number),
        stage=str(getattr(version.stage, "value", version.stage) or "none"),
        base_model=settings.model.base_model or "sentence-transformers/all-MiniLM-L6-v2",
        zenml_version=str(zenml.__version__),
        metadata=dict(version.run_metadata),
        extra_files=extra,
    )
    card = target / "README.md"
    card.write_text(render_model_card(facts), encoding="utf-8")
    return card
