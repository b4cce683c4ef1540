"""The human loop against the real local Argilla: publish, review, pull, merge, sensor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import argilla as rg
import dagster as dg
import duckdb
import pandas as pd
import pytest

from embedloop.config import load_settings
from embedloop.index.build import IndexTarget
from orchestration.definitions import ALL_ASSETS
from orchestration.resources import ArgillaResource, build_resources
from orchestration.sensors import build_feedback_sensor
from services.argilla.stack import StackConfig
from tests.helpers.assets import DATA_ASSETS, make_config, meta

REVIEW_ASSETS = [
    a
    for a in ALL_ASSETS
    if {k.path[-1] for k in a.keys} & {"argilla_review_dataset", "human_feedback"}
]


def _assets(*names: str) -> list[dg.AssetsDefinition]:
    return [a for a in ALL_ASSETS if {k.path[-1] for k in a.keys} & set(names)]


@dataclass
class Project:
    config: Path
    docs: Path
    stack: StackConfig
    client: rg.Argilla
    dataset_name: str

    def materialize(self, assets: list[dg.AssetsDefinition], **kw) -> dg.ExecuteInProcessResult:  # type: ignore[no-untyped-def]
        return dg.materialize(assets, resources=build_resources(self.config), **kw)

    def table(self, name: str) -> pd.DataFrame:
        path = load_settings(self.config).warehouse_path
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(f'SELECT * FROM "{name}"').df()

    def dataset(self) -> rg.Dataset:
        return self.client.datasets(name=self.dataset_name, workspace="embedloop")

    def respond(
        self, pair_id: str, label: str, corrected: str | None = None, status: str = "submitted"
    ) -> None:
        (record,) = [r for r in self.dataset().records(with_responses=True) if r.id == pair_id]
        me = self.client.me.id
        record.responses.add(rg.Response("relevance", label, user_id=me, status=status))
        if corrected:
            record.responses.add(
                rg.Response("corrected_query", corrected, user_id=me, status=status)
            )
        self.dataset().records.log([record])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, argilla_stack: StackConfig) -> Project:
    tmp = tmp_path_factory.mktemp("loop")
    name = f"review-{uuid.uuid4().hex[:6]}"
    config = make_config(
        tmp,
        argilla={
            "api_url": argilla_stack.api_url,
            "dataset": name,
            "min_new_responses": 3,
            "batch_size": 7,
        },
    )
    result = dg.materialize([*DATA_ASSETS, *REVIEW_ASSETS], resources=build_resources(config))
    assert result.success
    client = rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
    return Project(config, tmp / "pages", argilla_stack, client, name)


def _sensor(project: Project, cursor: str | None, api_url: str | None = None):  # type: ignore[no-untyped-def]
    sensor = build_feedback_sensor(load_settings(project.config))
    resource = ArgillaResource(
        api_url=api_url or project.stack.api_url,
        api_key=project.stack.api_key,
        workspace="embedloop",
    )
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"argilla": resource, "vector_index": IndexTarget(None)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    return sensor(context), context


def test_publish_creates_prioritized_records_with_suggestions_and_vectors(project: Project) -> None:
    published = project.table("review_records")
    pairs = project.table("training_splits")
    assert set(published["pair_id"]) == set(pairs["pair_id"])
    records = list(project.dataset().records(with_suggestions=True, with_vectors=True))
    assert len(records) == len(published)
    record = records[0]
    row = published.set_index("pair_id").loc[record.id]
    assert record.fields["query"] == row["query"]
    assert record.metadata["priority"] == row["priority"]
    assert record.metadata["chunk_state"] == "current"
    assert record.suggestions["relevance"].agent == row["model"]
    assert len(record.vectors["query_embedding"]) == 384
    # Annotators see the most uncertain first when they sort by priority.
    assert list(published["priority"]) == sorted(published["priority"], reverse=True)


def test_republishing_unchanged_pairs_sends_nothing(project: Project) -> None:
    result = project.materialize(_assets("argilla_review_dataset"))
    assert meta(result, "argilla_review_dataset")["sent"] == 0


def test_sensor_retrains_once_per_batch_of_feedback_and_skips_when_argilla_is_down(
    project: Project,
) -> None:
    published = project.table("review_records")
    by_split = {s: list(g["pair_id"]) for s, g in published.groupby("split")}
    first, second = by_split["train"][:2]
    test_pair = by_split["test"][0]

    result, _ = _sensor(project, None)
    assert isinstance(result, dg.SkipReason) and "0 new or changed" in str(result.skip_message)

    project.respond(first, "not_relevant", corrected="how do I restart a stuck worker")
    project.respond(second, "partially_relevant")
    project.respond(by_split["train"][2], "relevant", status="draft")  # drafts do not count
    result, _ = _sensor(project, None)
    assert isinstance(result, dg.SkipReason) and "2 new or changed" in str(result.skip_message)

    project.respond(test_pair, "relevant")
    result, _ = _sensor(project, None)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests or []
    assert request.run_key and request.run_key.startswith("feedback:")
    cursor = result.cursor

    again, _ = _sensor(project, cursor)
    assert isinstance(again, dg.SkipReason) and "0 new or changed" in str(again.skip_message)

    down, context = _sensor(project, cursor, api_url="http://127.0.0.1:9")
    assert isinstance(down, dg.SkipReason) and "Argilla unavailable" in str(down.skip_message)
    assert context.cursor == cursor

    # The requested job is the retraining: pull, merge, train, evaluate.
    assert build_feedback_sensor(load_settings(project.config)).job_name == "retraining_job"
    feedback = project.materialize(_assets("human_feedback", "training_splits"))
    decisions = project.table("feedback_pairs").set_index("pair_id")
    assert decisions.loc[first, "decision"] == "rejected"
    assert decisions.loc[first, "corrected_query"] == "how do I restart a stuck worker"
    assert decisions.loc[second, "decision"] == "partial"
    assert decisions.loc[test_pair, "decision"] == "accepted"
    assert by_split["train"][2] not in decisions.index
    assert meta(feedback, "human_feedback")["history_appended"] == 3
    current = project.table("feedback_current").set_index("pair_id")
    assert current.loc[first, "relevance"] == "not_relevant" and len(current) == 3

    splits = project.table("training_splits")
    assert first not in set(splits["pair_id"])  # rejected: out of training
    human = splits[splits["generator"] == "human"]
    assert list(human["query"]) == ["how do I restart a stuck worker"]
    assert meta(feedback, "training_splits")["dropped_human_rejected"] == 1
    human_eval = project.table("human_eval")
    assert list(human_eval["pair_id"]) == [test_pair] and list(human_eval["origin"]) == ["accepted"]


@pytest.mark.slow
def test_retraining_job_reports_the_human_validated_set(project: Project) -> None:
    from orchestration.definitions import build_definitions

    job = build_definitions(project.config).resolve_job_def("retraining_job")
    result = job.execute_in_process()
    assert result.success
    assert {e.asset_key.path[-1] for e in result.get_asset_materialization_events()} == {
        "human_feedback",
        "human_questions",
        "search_log",
        "search_judgments",
        "training_splits",
        "finetuned_embedding_model",
        "evaluation_sets",
        "embedding_evaluation",
    }
    evaluation = meta(result, "embedding_evaluation")
    assert evaluation["human_queries"] == 1
    assert "| 384 | ndcg@10 |" in str(evaluation["human_metrics"])


def test_history_survives_records_deleted_in_argilla(project: Project) -> None:
    before = project.table("feedback_history")
    reviewed = set(before["pair_id"])
    doomed = [r for r in project.dataset().records() if r.id in reviewed]
    project.dataset().records.delete(doomed)
    project.materialize(_assets("human_feedback"))
    after = project.table("feedback_history")
    assert set(after["response_id"]) == set(before["response_id"])
    assert set(project.table("feedback_pairs")["pair_id"]) == reviewed


def test_changed_and_removed_chunks_are_flagged_not_deleted(project: Project) -> None:
    published = project.table("review_records")
    docs = project.table("source_documents").set_index("doc_id")
    victims = published.drop_duplicates("doc_id").head(2)
    changed_doc, removed_doc = victims["doc_id"]
    changed_file = Path(str(docs.loc[changed_doc, "uri"]).removeprefix("file://"))
    removed_file = Path(str(docs.loc[removed_doc, "uri"]).removeprefix("file://"))
    changed_file.write_text(changed_file.read_text().replace("Restart", "Reboot"))
    removed_file.unlink()
    result = project.materialize([*DATA_ASSETS, *_assets("argilla_review_dataset")])
    assert result.success
    after = project.table("review_records").set_index("pair_id")
    assert meta(result, "argilla_review_dataset")["flagged_changed_or_removed"] > 0
    states = set(after.loc[after["doc_id"] == removed_doc, "chunk_state"])
    assert states == {"chunk_removed"}
    assert "chunk_changed" in set(after.loc[after["doc_id"] == changed_doc, "chunk_state"])
    # Nothing published before is gone from Argilla or from the local mirror.
    assert set(published["pair_id"]) <= set(after.index)
    live = {r.id: r for r in project.dataset().records()}
    flagged = after[after["chunk_state"] != "current"].index
    assert all(live[p].metadata["chunk_state"] != "current" for p in flagged if p in live)


def test_argilla_down_fails_the_publish_and_writes_nothing(
    project: Project, tmp_path: Path
) -> None:
    before = project.table("review_records")
    down = build_resources(project.config)
    down["argilla"] = ArgillaResource(
        api_url="http://127.0.0.1:9", api_key="x", workspace="embedloop"
    )
    result = dg.materialize(
        _assets("argilla_review_dataset", "human_feedback"), resources=down, raise_on_error=False
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure][:1]
    message = str(failure.step_failure_data.error)
    assert "Argilla is not reachable at http://127.0.0.1:9" in message
    assert "nothing was written locally" in message
    pd.testing.assert_frame_equal(project.table("review_records"), before)

    history = project.table("feedback_history")
    pulled = dg.materialize(_assets("human_feedback"), resources=down, raise_on_error=False)
    assert not pulled.success
    pd.testing.assert_frame_equal(project.table("feedback_history"), history)
