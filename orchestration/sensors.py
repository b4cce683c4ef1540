"""argilla_feedback_sensor: retrain when enough human feedback has come in.

The sensor only looks: it reads the submitted responses' timestamps, and requests a run of
``retraining_job`` (which pulls, merges, trains and evaluates). Its cursor holds the newest
submitted-response timestamp and the number of submitted responses as of the last request;
the run key is derived from that state, so no tick can request the same retraining twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg

from embedloop.config import Settings
from embedloop.review.argilla_io import (
    CONNECTION_ERRORS,
    ArgillaConnection,
    FeedbackState,
    combined_feedback_state,
)
from orchestration.jobs import retraining_job
from orchestration.stale_runs import fail_dead_runs


@dataclass(frozen=True)
class FeedbackCursor:
    latest: str | None = None  # newest submitted-response updated_at at the last request
    submitted: int = 0

    @classmethod
    def parse(cls, raw: str | None) -> FeedbackCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(latest=data.get("latest"), submitted=int(data.get("submitted", 0)))

    def dumps(self) -> str:
        return json.dumps({"latest": self.latest, "submitted": self.submitted})


def new_or_changed(state: FeedbackState, cursor: FeedbackCursor) -> int:
    """Submitted responses written or edited after the last retraining request."""
    if cursor.latest is None:
        return state.submitted
    return sum(1 for stamp in state.updated_at if stamp > cursor.latest)


def build_feedback_sensor(settings: Settings) -> dg.SensorDefinition:
    threshold = settings.argilla.min_new_responses
    datasets = [settings.argilla.dataset, settings.argilla.question_dataset]

    @dg.sensor(
        name="argilla_feedback_sensor",
        job=retraining_job,
        minimum_interval_seconds=settings.argilla.poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests retraining_job once {threshold} submitted Argilla responses "
        f"are new or changed since the last retraining (datasets {' and '.join(datasets)}).",
    )
    def argilla_feedback_sensor(
        context: dg.SensorEvaluationContext, argilla: dg.ResourceParam[ArgillaConnection]
    ) -> dg.SensorResult | dg.SkipReason:
        # A killed run would otherwise hold the one run slot forever.
        for run_id in fail_dead_runs(context.instance):
            context.log.warning(f"marked run {run_id} failed: its process is gone")
        cursor = FeedbackCursor.parse(context.cursor)
        try:
            state = combined_feedback_state(argilla.client(), argilla.workspace, datasets)
        except CONNECTION_ERRORS as err:
            return dg.SkipReason(f"Argilla unavailable, will retry: {err}")
        fresh = new_or_changed(state, cursor)
        if fresh < threshold:
            return dg.SkipReason(
                f"{fresh} new or changed submitted responses since the last retraining; "
                f"waiting for {threshold} ({state.submitted} submitted in all)"
            )
        after = FeedbackCursor(latest=state.latest, submitted=state.submitted)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"feedback:{after.latest}:{after.submitted}",
                    tags={
                        "embedloop/trigger": "argilla_feedback",
                        "embedloop/new_responses": str(fresh),
                        # The feedback snapshot this retraining answers (in its lineage).
                        "embedloop/feedback_submitted": str(after.submitted),
                        "embedloop/feedback_latest": str(after.latest),
                    },
                )
            ],
            cursor=after.dumps(),
        )

    return argilla_feedback_sensor
