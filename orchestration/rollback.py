"""rollback_job: make an older model version production again, through Dagster.

Run as a job (from `embedloop rollback`, the Launchpad or `dg launch --job rollback_job
--config ...`) so that the Dagster run log keeps who rolled back, to which version and why,
next to the training runs; the ZenML version's metadata keeps the same record
(``training.rollback``). The asset ``embedding_evaluation``, which decides production,
gets an observation saying production changed outside the promotion gate.
"""

import getpass
from typing import Any

import dagster as dg

from embedloop.config import Settings


class RollbackConfig(dg.Config):
    version: int
    reason: str
    by: str = ""  # default: the user the run's process runs as


@dg.op(description="Set a model version to production, re-export it and record who and why.")
def rollback_model(
    context: dg.OpExecutionContext, config: RollbackConfig, settings: dg.ResourceParam[Settings]
) -> dg.Output[dict]:
    from training.rollback import rollback

    by = config.by.strip() or getpass.getuser()
    try:
        done = rollback(settings, config.version, by, config.reason, dagster_run_id=context.run_id)
    except (LookupError, ValueError) as err:
        raise dg.Failure(
            description=f"rollback to version {config.version} refused: {err}"
        ) from None
    previous = done.previous_production
    context.log.info(
        f"{by} rolled {done.model} back to version {done.version} "
        f"(was {previous if previous is not None else 'none'}): {done.reason}"
    )
    details: dict[str, Any] = {
        "production_version": dg.MetadataValue.int(done.version),
        "previous_production": dg.MetadataValue.int(previous if previous is not None else -1),
        "rolled_back_by": by,
        "reason": done.reason,
        "export_dir": dg.MetadataValue.path(done.export_dir),
    }
    context.log_event(dg.AssetObservation(asset_key="embedding_evaluation", metadata=details))
    return dg.Output(
        {"version": done.version, "previous_production": previous, "by": by}, metadata=details
    )


@dg.job(
    description="Roll production back to an older model version (config: version, reason, by).",
    tags={"embedloop/trigger": "rollback"},
)
def rollback_job() -> None:
    rollback_model()


# A rollback changes production without materializing any asset, so the eager automation
# of production_index cannot see it: this job and sensor rebuild the index after one.
production_index_job = dg.define_asset_job(
    "production_index_job",
    selection=dg.AssetSelection.assets("production_index"),
    description="Bring the production index up to the production model and the chunks.",
)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[rollback_job],
    request_job=production_index_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a successful rollback, rebuild the production index with the model "
    "that is production again.",
)
def index_after_rollback_sensor(context: dg.RunStatusSensorContext) -> dg.RunRequest:
    run_id = context.dagster_run.run_id
    return dg.RunRequest(run_key=f"rollback:{run_id}", tags={"embedloop/trigger": "rollback"})
