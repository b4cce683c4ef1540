"""Group ``training``: the ZenML pipelines of ``training/``, seen from Dagster.

``finetuned_embedding_model`` trains a new version of the ZenML Model and
``embedding_evaluation`` scores and gates it (the promotion gate is
``training/promotion.py``). Their check ``finetuned_not_worse_than_base`` is in
``quality/checks.py``.
"""

from typing import Any

import dagster as dg

from assets.evaluation import GROUP, evaluation_set_metadata
from assets.training_lineage import link_model_version
from embedloop.memory import track_memory
from embedloop.metrics import PRIMARY
from embedloop.reports import grouped_bars_png, line_png, markdown_table, png_markdown
from training.runner import ZenMLTraining

# Bump when a change to this module changes what the assets write (Dagster marks them stale).
CODE_VERSION = "3"
# One slot (dagster.yaml `concurrency.pools.default_limit`): trainings never overlap.
TRAINING_POOL = "embedloop_training"


@dg.asset(
    # evaluation_sets first: once people's questions gate, every document trains except
    # those questions (embedloop.evaluation.holdout), so training must know them.
    deps=["training_splits", "evaluation_sets"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    pool=TRAINING_POOL,
    kinds={"zenml", "pytorch"},
    description="A new version of the ZenML Model, finetuned on the train split (every "
    "split but validation once real questions gate, never on those questions) with "
    "Matryoshka + in-batch-negatives loss; the best checkpoint is chosen on validation. "
    "Exported to `<data_dir>/models/<version>/`.",
)
@track_memory
def finetuned_embedding_model(
    context: dg.AssetExecutionContext, zenml: dg.ResourceParam[ZenMLTraining]
) -> dg.MaterializeResult:
    summary = zenml.finetune(dagster_run_id=context.run_id)
    metadata: dict[str, Any] = {
        "model_name": summary.model_name,
        "model_version": dg.MetadataValue.int(summary.model_version),
        "zenml_run_id": summary.zenml_run_id,
        "export_dir": dg.MetadataValue.path(str(summary.export_dir)),
        "device": summary.device,
        "precision": summary.precision,
        "duration_s": dg.MetadataValue.float(round(summary.duration_s, 2)),
        "samples_per_s": dg.MetadataValue.float(round(summary.samples_per_s, 2)),
        "training_pairs": dg.MetadataValue.json(summary.data_snapshot),
    }
    if summary.best_step is not None:
        metadata["best_step"] = dg.MetadataValue.int(int(summary.best_step))
    if summary.base_weight:
        metadata["base_weight_served"] = dg.MetadataValue.float(
            float(summary.base_weight["base_weight_served"])
        )
        metadata["base_weight_chosen_on"] = str(summary.base_weight["base_weight_chosen_on"])
    if summary.loss_history:
        png = line_png(summary.loss_history, "Training loss", "step", "loss")
        metadata["loss_curve"] = dg.MetadataValue.md(png_markdown(png, "training loss"))
    metadata.update(link_model_version(context, zenml, summary.model_version))
    return dg.MaterializeResult(
        metadata=metadata,
        data_version=dg.DataVersion(f"{summary.model_name}:v{summary.model_version}"),
    )


@dg.asset(
    deps=["finetuned_embedding_model", "evaluation_sets"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    pool=TRAINING_POOL,
    kinds={"zenml", "pytorch"},
    description="Base, production and finetuned retrieval (query → chunk) on every "
    "evaluation set (synthetic, human, questions) at every Matryoshka dim, and the "
    "promotion decision of the ZenML Model Control Plane (paired bootstrap on real "
    "questions when there are enough).",
)
@track_memory
def embedding_evaluation(
    context: dg.AssetExecutionContext, zenml: dg.ResourceParam[ZenMLTraining]
) -> dg.MaterializeResult:
    version = _trained_version(context)
    summary = zenml.evaluate(version, dagster_run_id=context.run_id)
    native = max(summary.candidate)
    dims = sorted(summary.candidate, reverse=True)
    rows = [
        {
            "dim": dim,
            "metric": metric,
            "base": round(summary.base[dim][metric], 4),
            "finetuned": round(summary.candidate[dim][metric], 4),
            "delta": round(summary.candidate[dim][metric] - summary.base[dim][metric], 4),
        }
        for dim in dims
        for metric in summary.candidate[dim]
    ]
    series = {
        "base": [summary.base[d][PRIMARY] for d in dims],
        "finetuned": [summary.candidate[d][PRIMARY] for d in dims],
    }
    if summary.incumbent_version is not None:
        series[f"production v{summary.incumbent_version}"] = [
            summary.incumbent[d][PRIMARY] for d in dims
        ]
    chart = grouped_bars_png([str(d) for d in dims], series, "nDCG@10 on the test split", PRIMARY)
    base_native = summary.base[native][PRIMARY]
    tuned_native = summary.candidate[native][PRIMARY]
    metadata: dict[str, Any] = {
        "model_version": dg.MetadataValue.int(summary.model_version),
        "stage": summary.stage,
        "promoted": dg.MetadataValue.bool(summary.promoted),
        "reason": summary.reason,
        "zenml_run_id": summary.zenml_run_id,
        f"base_{PRIMARY}@{native}": dg.MetadataValue.float(round(base_native, 4)),
        f"finetuned_{PRIMARY}@{native}": dg.MetadataValue.float(round(tuned_native, 4)),
        "metrics": dg.MetadataValue.md(markdown_table(rows)),
        "ndcg_chart": dg.MetadataValue.md(png_markdown(chart, "nDCG@10 per dimension")),
        "native_dim": dg.MetadataValue.int(native),
        f"{PRIMARY}_by_dim": dg.MetadataValue.json(
            {
                str(d): {"base": series["base"][i], "finetuned": series["finetuned"][i]}
                for i, d in enumerate(dims)
            }
        ),
    }
    metadata.update(
        evaluation_set_metadata(summary.sets, summary.primary_set, summary.test_set_hash, native)
    )
    # A new version, or the same version gated differently, is new data downstream.
    version_tag = f"{summary.model_name}:v{summary.model_version}:{summary.stage}"
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(version_tag))


def _trained_version(context: dg.AssetExecutionContext) -> int:
    """The version the upstream asset trained last, read from its materialization."""
    event = context.instance.get_latest_materialization_event(
        dg.AssetKey("finetuned_embedding_model")
    )
    materialization = event.asset_materialization if event else None
    if materialization is None or "model_version" not in materialization.metadata:
        raise dg.Failure("finetuned_embedding_model has not been materialized yet")
    return int(materialization.metadata["model_version"].value)  # type: ignore[arg-type]
