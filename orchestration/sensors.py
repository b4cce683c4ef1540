"""argilla_feedback_sensor: retrain when enough human feedback has come in;
search_log_sensor: publish new searches for judgment as they come in.

The feedback sensor only looks: it reads the submitted responses' timestamps in the three
Argilla datasets (review, questions, searches) and the newest feedback searchers sent to
the API (the search log's feedback seq), and requests a run of ``retraining_job`` (which
pulls, merges, trains and evaluates). Its cursor holds the newest submitted-response
timestamp, the number of submitted responses and the log's feedback seq as of the last
request; the run key is derived from that state, so no tick can request the same
retraining twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg

from embedloop.config import Settings
from embedloop.index.build import IndexTarget
from embedloop.review.argilla_io import (
    CONNECTION_ERRORS,
    ArgillaConnection,
    FeedbackState,
    combined_feedback_state,
)
from embedloop.searches.log import open_search_log, search_log_path
from orchestration.jobs import retraining_job, search_publication_job
from orchestration.stale_runs import fail_dead_runs


@dataclass(frozen=True)
class FeedbackCursor:
    latest: str | None = None  # newest submitted-response updated_at at the last request
    submitted: int = 0
    api_feedback: int = 0  # the search log's newest feedback seq at the last request

    @classmethod
    def parse(cls, raw: str | None) -> FeedbackCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            latest=data.get("latest"),
            submitted=int(data.get("submitted", 0)),
            api_feedback=int(data.get("api_feedback", 0)),
        )

    def dumps(self) -> str:
        return json.dumps(
            {"latest": self.latest, "submitted": self.submitted, "api_feedback": self.api_feedback}
        )


def new_or_changed(state: FeedbackState, cursor: FeedbackCursor) -> int:
    """Submitted responses written or edited after the last retraining request."""
    if cursor.latest is None:
        return state.submitted
    return sum(1 for stamp in state.updated_at if stamp > cursor.latest)


def api_feedback_seq(settings: Settings, index: IndexTarget) -> tuple[int, int]:
    """(feedback rows, newest feedback seq) of the search log; (0, 0) while there is none
    or it cannot be read (the API's feedback then waits for the next tick)."""
    if index.postgres_url is None and not search_log_path(settings.data_dir).exists():
        return 0, 0
    log = open_search_log(settings.data_dir, index.postgres_url)
    try:
        counts = log.counts()
    except Exception:
        return 0, 0
    finally:
        log.close()
    return counts["search_feedback"], counts["search_feedback_seq"]


def build_feedback_sensor(settings: Settings) -> dg.SensorDefinition:
    threshold = settings.argilla.min_new_responses
    cfg = settings.argilla
    datasets = [cfg.dataset, cfg.question_dataset, cfg.search_dataset]

    @dg.sensor(
        name="argilla_feedback_sensor",
        job=retraining_job,
        minimum_interval_seconds=settings.argilla.poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Requests retraining_job once {threshold} submitted Argilla responses "
        f"(datasets {', '.join(datasets)}) and searcher feedback sent to the API are new or "
        "changed since the last retraining.",
    )
    def argilla_feedback_sensor(
        context: dg.SensorEvaluationContext,
        argilla: dg.ResourceParam[ArgillaConnection],
        vector_index: dg.ResourceParam[IndexTarget],
    ) -> dg.SensorResult | dg.SkipReason:
        # A killed run would otherwise hold the one run slot forever.
        for run_id in fail_dead_runs(context.instance):
            context.log.warning(f"marked run {run_id} failed: its process is gone")
        cursor = FeedbackCursor.parse(context.cursor)
        try:
            state = combined_feedback_state(argilla.client(), argilla.workspace, datasets)
        except CONNECTION_ERRORS as err:
            return dg.SkipReason(f"Argilla unavailable, will retry: {err}")
        _, api_seq = api_feedback_seq(settings, vector_index)
        # Feedback rows only get new seqs: the seq distance bounds the new verdicts.
        from_api = max(0, api_seq - cursor.api_feedback)
        fresh = new_or_changed(state, cursor) + from_api
        if fresh < threshold:
            return dg.SkipReason(
                f"{fresh} new or changed submitted responses and searcher verdicts since the "
                f"last retraining ({from_api} from the API); waiting for {threshold} "
                f"({state.submitted} submitted in Argilla in all)"
            )
        after = FeedbackCursor(latest=state.latest, submitted=state.submitted, api_feedback=api_seq)
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"feedback:{after.latest}:{after.submitted}",
                    tags={
                        "embedloop/trigger": "argilla_feedback",
                        "embedloop/new_responses": str(fresh),
                        "embedloop/new_api_feedback": str(from_api),
                        # The feedback snapshot this retraining answers (in its lineage).
                        "embedloop/feedback_submitted": str(after.submitted),
                        "embedloop/feedback_latest": str(after.latest),
                    },
                )
            ],
            cursor=after.dumps(),
        )

    return argilla_feedback_sensor


def build_search_log_sensor(settings: Settings) -> dg.SensorDefinition:
    """Requests ``search_publication_job`` when the search log holds searches or feedback
    that ``search_log`` has not read (its seqs moved past the cursor of the last request)."""

    @dg.sensor(
        name="search_log_sensor",
        job=search_publication_job,
        minimum_interval_seconds=settings.argilla.poll_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Copies new searches and searcher feedback from the search log and "
        f"publishes a sample to Argilla ({settings.argilla.search_dataset}) for judgment.",
    )
    def search_log_sensor(
        context: dg.SensorEvaluationContext, vector_index: dg.ResourceParam[IndexTarget]
    ) -> dg.SensorResult | dg.SkipReason:
        if vector_index.postgres_url is None and not search_log_path(settings.data_dir).exists():
            return dg.SkipReason("no search log yet: nobody has searched")
        log = open_search_log(settings.data_dir, vector_index.postgres_url)
        try:
            counts = log.counts()
        except Exception as err:
            return dg.SkipReason(f"search log unavailable, will retry: {err}")
        finally:
            log.close()
        seen = json.loads(context.cursor) if context.cursor else {}
        now = {k: counts[f"{k}_seq"] for k in ("searches", "search_feedback", "search_purges")}
        if now == {k: int(seen.get(k, 0)) for k in now}:
            return dg.SkipReason(f"no new searches ({counts['searches']} logged)")
        key = ":".join(str(now[k]) for k in sorted(now))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(run_key=f"searches:{key}", tags={"embedloop/trigger": "search_log"})
            ],
            cursor=json.dumps(now),
        )

    return search_log_sensor
