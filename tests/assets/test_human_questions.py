"""The question-writing task against the real local Argilla: publish a uniform sample,
annotators write questions, pull them, merge the train ones, keep the test ones out."""

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
from embedloop.review.questions_io import fetch_question_responses
from embedloop.splits import chunk_splits
from orchestration.definitions import ALL_ASSETS
from orchestration.resources import ArgillaResource, build_resources
from orchestration.sensors import build_feedback_sensor
from quality.checks import training_splits_exclude_test_questions, training_splits_valid
from services.argilla.stack import StackConfig
from tests.helpers.assets import DATA_ASSETS, check_results, make_config, meta

SAMPLE, MIN_TEST = 10, 4
CHECKS = [training_splits_valid, training_splits_exclude_test_questions]


def _assets(*names: str) -> list[dg.AssetsDefinition]:
    return [a for a in ALL_ASSETS if {k.path[-1] for k in a.keys} & set(names)]


QUESTION_ASSETS = _assets("argilla_question_dataset", "human_questions")


@dataclass
class Project:
    config: Path
    stack: StackConfig
    owner: rg.Argilla
    annotator: rg.Argilla  # a second person, role annotator
    name: str

    def materialize(self, assets: list, **kw) -> dg.ExecuteInProcessResult:  # type: ignore[type-arg,no-untyped-def]
        return dg.materialize(assets, resources=build_resources(self.config), **kw)

    def table(self, name: str) -> pd.DataFrame:
        path = load_settings(self.config).warehouse_path
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(f'SELECT * FROM "{name}"').df()

    def records(self) -> dict[str, rg.Record]:
        dataset = self.owner.datasets(name=self.name, workspace="embedloop")
        # Without responses: the SDK fails to read a discarded response that has no values.
        return {r.id: r for r in dataset.records(with_responses=False)}

    def answer(self, who: rg.Argilla, record_id: str, text: str | None) -> None:
        """What the annotation UI's Submit / Discard buttons send, as ``who``."""
        item: dict[str, object] = {"record_id": str(self.records()[record_id]._server_id)}
        if text:
            item.update(status="submitted", values={"question": {"value": text}})
        else:
            item.update(status="discarded")
        sent = who.api.http_client.post("/api/v1/me/responses/bulk", json={"items": [item]})
        sent.raise_for_status()
        assert [i["error"] for i in sent.json()["items"]] == [None]


def _annotator(owner: rg.Argilla, api_url: str) -> rg.Argilla:
    name = f"annotator-{uuid.uuid4().hex[:6]}"
    user = rg.User(username=name, password=uuid.uuid4().hex, role="annotator", client=owner)
    user = user.create()
    user.add_to_workspace(owner.workspaces("embedloop"))
    # The SDK's User drops the key the server returns to an owner.
    key = owner.api.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]
    return rg.Argilla(api_url=api_url, api_key=key)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, argilla_stack: StackConfig) -> Project:
    tmp = tmp_path_factory.mktemp("questions")
    name = f"questions-{uuid.uuid4().hex[:6]}"
    config = make_config(
        tmp,
        argilla={
            "api_url": argilla_stack.api_url,
            "question_dataset": name,
            "question_sample_size": SAMPLE,
            "question_min_test": MIN_TEST,
            "min_new_responses": 5,
            "batch_size": 4,
        },
    )
    result = dg.materialize([*DATA_ASSETS, *QUESTION_ASSETS], resources=build_resources(config))
    assert result.success
    owner = rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
    return Project(config, argilla_stack, owner, _annotator(owner, argilla_stack.api_url), name)


def test_a_uniform_sample_with_test_documents_is_published(project: Project) -> None:
    published = project.table("question_records")
    chunks = project.table("document_chunks").set_index("chunk_id")
    split = chunk_splits(chunks.reset_index(), load_settings(project.config).splits)
    assert len(published) == SAMPLE < len(chunks)
    # Every test chunk (fewer than MIN_TEST here), more than a uniform 10 of 16 would give.
    test_chunks = sum(s == "test" for s in split.values())
    assert (published["split"] == "test").sum() == min(MIN_TEST, test_chunks) >= 2
    assert {split[c] for c in published["chunk_id"]} >= {"train", "test"}
    assert list(published["split"]) == [split[c] for c in published["chunk_id"]]
    # The sample is the lowest seeded keys, not the most uncertain or the first chunks.
    assert list(published["sample_key"]) == sorted(published["sample_key"])
    records = project.records()
    assert set(records) == {f"q-{c}" for c in published["chunk_id"]}
    for row in published.itertuples():
        record = records[row.record_id]
        assert record.fields["passage"] == chunks.loc[row.chunk_id, "text"]
        assert record.fields["heading"] == (chunks.loc[row.chunk_id, "heading_path"] or None)
        assert record.metadata == {"doc": row.doc_id, "split": row.split, "chunk_state": "current"}
        assert not record.suggestions  # nothing to anchor the annotator on a generated query
    dataset = project.owner.datasets(name=project.name, workspace="embedloop")
    (asked,) = dataset.settings.questions
    assert asked.title == "Write a question a user would ask that this passage answers"

    again = project.materialize(_assets("argilla_question_dataset"))
    assert meta(again, "argilla_question_dataset")["sent"] == 0


def _sensor(project: Project, cursor: str | None):  # type: ignore[no-untyped-def]
    sensor = build_feedback_sensor(load_settings(project.config))
    resource = ArgillaResource(
        api_url=project.stack.api_url, api_key=project.stack.api_key, workspace="embedloop"
    )
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"argilla": resource, "vector_index": IndexTarget(None)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    return sensor(context)


def test_questions_are_pulled_trained_on_train_documents_and_kept_out_on_test(
    project: Project,
) -> None:
    published = project.table("question_records")
    by_split = {s: list(g["record_id"]) for s, g in published.groupby("split")}
    train, test = by_split["train"], by_split["test"]
    me, other = project.owner, project.annotator
    project.answer(me, train[0], "how do I turn the topic on")
    project.answer(other, train[0], "where do I enable it")
    project.answer(me, train[1], "what is this")
    project.answer(me, train[2], None)  # answers no real question
    project.answer(me, test[0], "how do I bring a stuck worker back")
    skip = _sensor(project, None)
    assert isinstance(skip, dg.SkipReason) and "4 new or changed" in str(skip.skip_message)
    first = project.materialize(_assets("human_questions"))
    assert meta(first, "human_questions")["history_appended"] == 5
    project.answer(me, train[1], "which setting file configures it")  # edited: latest wins
    project.answer(other, test[1], "where do the logs go")

    result = project.materialize([*_assets("human_questions", "training_splits"), *CHECKS])
    assert result.success and all(check_results(result).values())
    assert meta(result, "human_questions")["history_appended"] == 2
    assert meta(result, "human_questions")["discarded"] == 1
    history = project.table("question_history")
    assert len(history) == 7 and "what is this" in set(history["query"])
    questions = project.table("human_questions")
    got = {(r.record_id, r.annotator): r.query for r in questions.itertuples()}
    assert got == {
        (train[0], str(me.me.id)): "how do I turn the topic on",
        (train[0], str(other.me.id)): "where do I enable it",
        (train[1], str(me.me.id)): "which setting file configures it",
        (test[0], str(me.me.id)): "how do I bring a stuck worker back",
        (test[1], str(other.me.id)): "where do the logs go",
    }
    rows = published.set_index("record_id")
    assert list(questions["split"]) == [rows.loc[r, "split"] for r in questions["record_id"]]
    assert list(questions["chunk_id"]) == [rows.loc[r, "chunk_id"] for r in questions["record_id"]]

    splits = project.table("training_splits")
    asked = splits[splits["generator"] == "human-question"]
    assert sorted(asked["query"]) == sorted(
        ["how do I turn the topic on", "where do I enable it", "which setting file configures it"]
    )
    assert set(asked["split"]) == {"train"}
    assert list(asked["positive"]) == [rows.loc[f"q-{c}", "passage"] for c in asked["chunk_id"]]
    assert not set(splits["query"]) & {"how do I bring a stuck worker back", "where do the logs go"}
    assert meta(result, "training_splits")["human_question_pairs"] == 3

    # Every response counts for the retraining sensor.
    fired = _sensor(project, None)
    assert isinstance(fired, dg.SensorResult) and fired.run_requests


def test_changed_passages_are_flagged_and_keep_their_questions(project: Project) -> None:
    questions = project.table("human_questions")
    docs = project.table("source_documents").set_index("doc_id")
    answered = questions.iloc[0]
    path = Path(str(docs.loc[answered["doc_id"], "uri"]).removeprefix("file://"))
    path.write_text(path.read_text().replace("Restart", "Reboot").replace("Configure", "Set up"))
    result = project.materialize([*DATA_ASSETS, *QUESTION_ASSETS])
    assert result.success
    assert meta(result, "argilla_question_dataset")["flagged_changed_or_removed"] != 0
    published = project.table("question_records").set_index("record_id")
    assert published.loc[answered["record_id"], "chunk_state"] == "chunk_changed"
    record = project.records()[answered["record_id"]]
    assert record.metadata["chunk_state"] == "chunk_changed"
    dataset = project.owner.datasets(name=project.name, workspace="embedloop")
    live = fetch_question_responses(project.owner, dataset)
    assert answered["query"] in set(live.loc[live["record_id"] == record.id, "query"])
    after = project.table("human_questions")
    assert set(zip(questions["record_id"], questions["query"], strict=True)) <= set(
        zip(after["record_id"], after["query"], strict=True)
    )


def test_argilla_down_fails_and_writes_nothing(project: Project) -> None:
    before = project.table("question_records"), project.table("question_history")
    down = build_resources(project.config)
    down["argilla"] = ArgillaResource(
        api_url="http://127.0.0.1:9", api_key="x", workspace="embedloop"
    )
    for asset in QUESTION_ASSETS:
        result = dg.materialize([asset], resources=down, raise_on_error=False)
        assert not result.success
    pd.testing.assert_frame_equal(project.table("question_records"), before[0])
    pd.testing.assert_frame_equal(project.table("question_history"), before[1])
