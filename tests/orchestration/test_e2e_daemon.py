"""The feedback loop end to end, as the Dagster daemon runs it, then lineage and rollback.

A real local Argilla, a real Dagster instance configured like ``make dev``'s (queued run
coordinator, one run at a time, the training pool), the code location loaded in its own
gRPC server process as the daemon loads it, a real ZenML store and real (tiny) training:

1. the refresh job publishes the review dataset of a small corpus;
2. an annotator submits three reviews through the SDK: one not relevant with a corrected
   query, one not relevant, one relevant;
3. the daemon's sensor iteration evaluates ``argilla_feedback_sensor``; the run it asks for
   is submitted to the queued run coordinator, and the coordinator daemon's iteration
   launches it (run worker process of the gRPC server);
4. the new ZenML model version links back to the Dagster run and the feedback snapshot, its
   training data holds the corrected query and not the rejected pair, and a second tick
   with no new feedback requests nothing;
5. ``embedloop lineage`` prints that chain, and ``embedloop rollback`` puts an older
   version back into production, recorded in the Dagster run log and in ZenML.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import argilla as rg
import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._daemon.sensor import execute_sensor_iteration

from embedloop.config import Settings, load_settings
from orchestration.cli import main
from orchestration.definitions import build_definitions
from orchestration.source_automation import TRIGGER_TAG
from orchestration.source_sensor import observe_sources
from services.argilla.stack import StackConfig
from tests.helpers.assets import make_config

ROOT = Path(__file__).resolve().parents[2]
CORRECTED = "how do I restart a stuck worker"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
pytestmark = pytest.mark.slow


@dataclass
class Loop:
    config: Path
    settings: Settings
    home: Path
    instance: dg.DagsterInstance
    workspace: object  # WorkspaceProcessContext
    client: rg.Argilla

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(str(self.settings.warehouse_path), read_only=True) as conn:
            return conn.execute(f'SELECT * FROM "{name}"').df()

    def respond(self, pair_id: str, label: str, corrected: str | None = None) -> None:
        dataset = self.client.datasets(name=self.settings.argilla.dataset, workspace="embedloop")
        (record,) = [r for r in dataset.records(with_responses=True) if r.id == pair_id]
        me = self.client.me.id
        record.responses.add(rg.Response("relevance", label, user_id=me, status="submitted"))
        if corrected:
            record.responses.add(
                rg.Response("corrected_query", corrected, user_id=me, status="submitted")
            )
        dataset.records.log([record])

    def sensor_tick(self) -> None:
        """One iteration of the daemon's sensor loop over every running sensor."""
        list(
            execute_sensor_iteration(
                self.workspace,  # type: ignore[arg-type]
                logging.getLogger("test-sensor-daemon"),
                threadpool_executor=None,
                submit_threadpool_executor=None,
            )
        )

    def runs(self, job: str) -> list[dg.DagsterRun]:
        return list(self.instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def _env(**values: str | None) -> dict[str, str | None]:
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return saved


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, argilla_stack: StackConfig) -> Iterator[Loop]:
    tmp = tmp_path_factory.mktemp("e2e")
    suffix = uuid.uuid4().hex[:6]
    config = make_config(
        tmp,
        argilla={
            "api_url": argilla_stack.api_url,
            "dataset": f"e2e-review-{suffix}",
            "question_dataset": f"e2e-questions-{suffix}",
            "min_new_responses": 3,
            "poll_interval_s": 5,
        },
        training={"max_steps": 2, "batch_size": 8, "max_seq_length": 96,
                  "matryoshka_dims": [384, 128], "bootstrap_resamples": 100},
    )  # fmt: skip
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "orchestration" / "dagster_local.yaml").read_text())
    # The code server and run workers are other processes: they find the project by env.
    saved = _env(
        EMBEDLOOP_CONFIG=str(config), DAGSTER_HOME=str(home), ZENML_STORE_URL=None,
        ZENML_CONFIG_PATH=None,
    )  # fmt: skip
    settings = load_settings(config)
    client = rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
    target = ModuleTarget(
        module_name="orchestration.definitions",
        attribute="defs",
        working_directory=str(ROOT),
        location_name="embedloop",
    )
    try:
        with (
            dg.DagsterInstance.from_config(str(home)) as instance,
            create_test_daemon_workspace_context(target, instance) as workspace,
        ):
            yield Loop(config, settings, home, instance, workspace, client)
    finally:
        _env(**saved)


def _wait(loop: Loop, run_id: str, timeout_s: float = 900) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = loop.instance.get_run_by_id(run_id)
        assert run is not None
        if run.status in FINISHED:
            return run
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s}s")


def _sensor_ticks(loop: Loop, name: str) -> list:  # type: ignore[type-arg]
    context = loop.workspace.create_request_context()  # type: ignore[attr-defined]
    location = context.get_code_location("embedloop")
    (repo,) = location.get_repositories().values()
    sensor = repo.get_sensor(name)
    return list(loop.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id))


def _model_versions(loop: Loop) -> list:  # type: ignore[type-arg]
    from training.zenml_env import configure_zenml

    configure_zenml(loop.settings)
    from zenml.client import Client

    name = loop.settings.training.model_name
    try:
        return list(Client().list_model_versions(name, size=50).items)
    except KeyError:
        return []


@dataclass
class Retrained:
    run: dg.DagsterRun
    rejected: str  # the pair the annotator marked not relevant, without a correction


@pytest.fixture(scope="module")
def retrained(loop: Loop) -> Retrained:
    # What the ingestion would have seen first: the sources' observed version.
    observe_sources(loop.instance, loop.settings)
    refresh = build_definitions(loop.config).resolve_job_def("source_refresh_job")
    assert refresh.execute_in_process(instance=loop.instance).success
    assert _model_versions(loop) == []

    published = loop.table("review_records")
    train = list(published.loc[published["split"] == "train", "pair_id"])
    loop.respond(train[0], "not_relevant", corrected=CORRECTED)
    loop.respond(train[1], "not_relevant")
    loop.respond(train[2], "relevant")

    loop.sensor_tick()
    (run,) = loop.runs("retraining_job")
    assert run.status == dg.DagsterRunStatus.QUEUED  # submitted to the run coordinator
    assert run.tags["embedloop/trigger"] == "argilla_feedback"
    assert run.tags["embedloop/feedback_submitted"] == "3"
    # The sources did not move: source automation requested nothing.
    assert not [r for r in loop.instance.get_runs() if r.tags.get(TRIGGER_TAG) == "source_change"]

    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(loop.workspace))  # type: ignore[arg-type]
    done = _wait(loop, run.run_id)
    assert done.status == dg.DagsterRunStatus.SUCCESS, done.status
    return Retrained(done, rejected=train[1])


def test_the_daemon_retrains_once_on_submitted_feedback(loop: Loop, retrained: Retrained) -> None:
    from training.lineage import LINEAGE

    run = retrained.run
    (version,) = _model_versions(loop)
    meta = version.run_metadata
    assert meta["dagster_run_id"] == run.run_id
    lineage = meta[LINEAGE]
    assert lineage["dagster"]["run_id"] == run.run_id
    assert lineage["dagster"]["job"] == "retraining_job"
    assert set(lineage["dagster"]["input_data_versions"]) >= {
        "documentation_sources",
        "source_documents",
        "training_splits",
    }
    feedback = lineage["feedback"]
    assert feedback["review_responses"] == 3
    requested = run.tags["embedloop/feedback_latest"]
    assert pd.Timestamp(feedback["latest_updated_at"]) == pd.Timestamp(requested)
    assert lineage["dagster"]["trigger"]["embedloop/feedback_latest"] == requested

    # The version's own training data, as ZenML stored it for the training step.
    from zenml.client import Client

    runs = Client().list_pipeline_runs(model_version_id=version.id, size=10).items
    (training_run,) = [r for r in runs if r.pipeline and r.pipeline.name == "finetune_embeddings"]
    step = Client().get_pipeline_run(training_run.id).steps["load_training_data"]
    artifact = step.outputs["train_pairs"]
    train = (artifact[0] if isinstance(artifact, list) else artifact).load()
    assert CORRECTED in set(train["query"])
    assert retrained.rejected not in set(train["pair_id"])

    # The Dagster side links to ZenML.
    event = loop.instance.get_latest_materialization_event(dg.AssetKey("finetuned_embedding_model"))
    assert event is not None and event.run_id == run.run_id
    dagster_meta = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert dagster_meta["zenml_model_version_id"].value == str(version.id)

    # A second tick with no new feedback requests nothing.
    time.sleep(loop.settings.argilla.poll_interval_s + 1)
    loop.sensor_tick()
    assert len(loop.runs("retraining_job")) == 1
    latest = _sensor_ticks(loop, "argilla_feedback_sensor")[0]
    assert latest.status == TickStatus.SKIPPED
    assert "0 new or changed" in (latest.skip_reason or "")


def test_lineage_prints_the_chain(
    loop: Loop, retrained: Retrained, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = retrained.run.run_id
    assert main(["--config", str(loop.config), "lineage", "1"]) == 0
    out = capsys.readouterr().out
    assert f"run {run_id} (retraining_job), trigger argilla_feedback" in out
    assert "feedback   3 submitted responses (3 reviews" in out
    assert "human" in out and "documents" in out and "chunks" in out
    assert "zenml      finetune_embeddings:" in out and "evaluate_embeddings" in out
    assert "nDCG@10 at dim 384" in out and "promotion" in out
    assert main(["--config", str(loop.config), "lineage", "1", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["lineage"]["dagster"]["run_id"] == run_id
    assert main(["--config", str(loop.config), "lineage", "99"]) == 2
    assert "no version 99" in capsys.readouterr().err


def test_rollback_restores_an_older_version_on_the_record(
    loop: Loop, retrained: Retrained, capsys: pytest.CaptureFixture[str]
) -> None:
    from training.export import read_marker
    from training.lineage import lineage

    job = build_definitions(loop.config).resolve_job_def("training_job")
    assert job.execute_in_process(instance=loop.instance).success  # version 2
    stages = {int(v.number): str(getattr(v.stage, "value", v.stage)) for v in _model_versions(loop)}
    assert set(stages) == {1, 2}
    target = next(n for n in (1, 2) if stages[n] != "production")
    argv = ["--config", str(loop.config), "rollback", str(target)]
    assert main([*argv, "--reason", "v2 answers worse on the wiki", "--by", "ops-oncall"]) == 0
    assert f"version {target} is production again" in capsys.readouterr().out

    report = lineage(loop.settings, target)
    assert report["stage"] == "production"
    assert report["rollback"]["by"] == "ops-oncall"
    assert report["rollback"]["reason"] == "v2 answers worse on the wiki"
    marker = read_marker(loop.settings.data_dir / "models" / "production")
    assert marker is not None and marker["version"] == target
    (run,) = loop.runs("rollback_job")
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert report["rollback"]["dagster_run_id"] == run.run_id
    observed = loop.instance.fetch_observations(dg.AssetKey("embedding_evaluation"), limit=1)
    (obs,) = observed.records
    meta = obs.asset_observation.metadata  # type: ignore[union-attr]
    assert meta["rolled_back_by"].value == "ops-oncall"
    assert meta["production_version"].value == target

    # Refused, with a reason and nothing changed: the current production, a missing version.
    assert main([*argv, "--reason", "again"]) == 2
    assert "already production" in capsys.readouterr().err
    assert main(["--config", str(loop.config), "rollback", "99", "--reason", "x"]) == 2
    assert "no version 99" in capsys.readouterr().err
    assert len(loop.runs("rollback_job")) == 3  # the refusals are failed runs on the record
