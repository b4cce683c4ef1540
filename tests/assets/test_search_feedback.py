"""Searches teach the loop, against the real local Argilla: searches logged by the real
searcher, copied by search_log, a scrubbed sample published with roles, judged passage by
passage, pulled back into training pairs with people's negatives and the `searches`
evaluation set; purges reach Argilla; Argilla down loses nothing."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import argilla as rg
import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from embedloop.config import load_settings
from embedloop.index.build import IndexTarget
from embedloop.searches.log import LogCursor, open_search_log
from embedloop.serving.searcher import Searcher, SearchRequest
from orchestration.definitions import ALL_ASSETS
from orchestration.resources import ArgillaResource, build_resources
from orchestration.sensors import build_feedback_sensor, build_search_log_sensor
from quality.search_checks import SEARCH_CHECKS, validate_no_search_exam
from services.argilla.stack import StackConfig
from tests.helpers.assets import DATA_ASSETS, check_results, make_config, meta

SAMPLE, PASSAGES, DISTINCT = 6, 3, 8
QUERIES = [
    "how do I configure topic 1",
    "How do I configure topic 1?",  # a near-duplicate: shown once
    "restart the topic 2 worker",
    "where are topic 3 logs written",
    "mail ops@example.org about topic 4 settings",
    "enable topic 5 in the client",
    "topic 6 health checks",
    "configure topic 7 settings file",
    "logs for topic 0",
]


def _assets(*names: str) -> list[dg.AssetsDefinition]:
    return [a for a in ALL_ASSETS if {k.path[-1] for k in a.keys} & set(names)]


SEARCH_ASSETS = _assets("search_log", "argilla_search_dataset")


@dataclass
class Project:
    config: Path
    stack: StackConfig
    owner: rg.Argilla
    name: str
    ids: dict[str, str]  # query -> search_id

    def materialize(
        self, assets: list, config: Path | None = None, **kw
    ) -> dg.ExecuteInProcessResult:  # type: ignore[type-arg,no-untyped-def]
        return dg.materialize(assets, resources=build_resources(config or self.config), **kw)

    def table(self, name: str) -> pd.DataFrame:
        with duckdb.connect(str(load_settings(self.config).warehouse_path), read_only=True) as conn:
            return conn.execute(f'SELECT * FROM "{name}"').df()

    def records(self) -> dict[str, rg.Record]:
        dataset = self.owner.datasets(name=self.name, workspace="embedloop")
        return {r.id: r for r in dataset.records(with_responses=False, with_suggestions=True)}

    def judge(self, record_id: str, labels: dict[int, str]) -> None:
        """What the UI's Submit sends: one label per judged passage."""
        item = {
            "record_id": str(self.records()[record_id]._server_id),
            "status": "submitted",
            "values": {f"judge_{p}": {"value": v} for p, v in labels.items()},
        }
        sent = self.owner.api.http_client.post("/api/v1/me/responses/bulk", json={"items": [item]})
        sent.raise_for_status()
        assert [i["error"] for i in sent.json()["items"]] == [None]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, argilla_stack: StackConfig) -> Project:
    tmp = tmp_path_factory.mktemp("searches")
    name = f"searches-{uuid.uuid4().hex[:6]}"
    config = make_config(
        tmp,
        argilla={
            "api_url": argilla_stack.api_url,
            "search_dataset": name,
            "search_sample_size": SAMPLE,
            "search_passages": PASSAGES,
            "min_new_responses": 3,
        },
        feedback={"eval_share": 0.34, "min_eval_searches": 2},
    )
    result = dg.materialize(DATA_ASSETS, resources=build_resources(config))
    assert result.success
    settings = load_settings(config)
    searcher = Searcher(settings, IndexTarget(None), open_search_log(settings.data_dir, None))
    ids = {}
    try:
        for query in QUERIES:
            ids[query] = searcher.search(SearchRequest(query=query, k=5, user="tester")).search_id
        log = searcher.search_log
        assert log is not None
        log.feedback(ids[QUERIES[6]], None, False, "tester")  # none of the hits helped
        top = log.read_since(LogCursor()).searches
        first = top.set_index("search_id").loc[ids[QUERIES[2]], "chunk_ids"][0]
        log.feedback(ids[QUERIES[2]], first, True, "tester")
    finally:
        searcher.close()
    owner = rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
    return Project(config, argilla_stack, owner, name, ids)


def test_a_scrubbed_prioritized_sample_is_published_with_roles(project: Project) -> None:
    fired = build_search_log_sensor(load_settings(project.config))(
        dg.build_sensor_context(resources={"vector_index": IndexTarget(None)})
    )
    assert isinstance(fired, dg.SensorResult) and len(fired.run_requests or []) == 1
    result = project.materialize([*SEARCH_ASSETS, *SEARCH_CHECKS[:1]])
    assert result.success and check_results(result) == {"search_log_valid": True}
    assert meta(result, "search_log")["new_searches"] == len(QUERIES)
    assert meta(result, "search_log")["new_feedback"] == 2
    published = project.table("search_records")
    assert len(published) == SAMPLE  # 8 distinct queries, 6 published
    assert published["query"].str.lower().str.contains("configure topic 1").sum() <= 1
    first = published.sort_values("priority", ascending=False).iloc[0]
    assert first["search_id"] == project.ids[QUERIES[6]]  # said unhelpful: judged first
    assert first["searcher_verdict"] == "unhelpful"
    roles = published["role"].value_counts()
    assert roles["evaluate"] == 3 and roles["train"] == 3  # ceil(0.34 * 6)
    newest = published.sort_values("searched_at").tail(3)
    assert set(newest["role"]) == {"evaluate"}  # split by time
    records = project.records()
    assert set(records) == {f"s-{s}" for s in published["search_id"]}
    for row in published.itertuples():
        record = records[row.record_id]
        assert "@" not in record.fields["query"]
        assert record.fields["passage_1"] and record.metadata["role"] == row.role
        if row.role == "evaluate":
            assert not record.suggestions  # nothing anchors the judges of the exam
    mailed = published[published["search_id"] == project.ids[QUERIES[4]]]
    if len(mailed):
        assert "[email]" in mailed["query"].iloc[0]
    again = project.materialize(SEARCH_ASSETS)  # the sample size is per run: the rest now
    assert meta(again, "argilla_search_dataset")["new"] == DISTINCT - SAMPLE
    third = project.materialize(SEARCH_ASSETS)
    assert meta(third, "argilla_search_dataset")["sent"] == 0  # only changes are sent


def _feedback_sensor(project: Project, cursor: str | None):  # type: ignore[no-untyped-def]
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


def test_judgments_train_with_peoples_negatives_and_evaluate_apart(project: Project) -> None:
    published = project.table("search_records")
    skip = _feedback_sensor(
        project, json.dumps({"latest": "9999", "submitted": 0, "api_feedback": 0})
    )
    assert isinstance(skip, dg.SkipReason) and "2 from the API" in str(skip.skip_message)
    train = published[published["role"] == "train"]["record_id"].tolist()
    evaluate = published[published["role"] == "evaluate"]["record_id"].tolist()
    project.judge(train[0], {1: "answers", 2: "does_not"})
    project.judge(train[1], {2: "answers", 1: "does_not", 3: "does_not"})
    project.judge(train[2], {1: "partly"})  # teaches nothing
    project.judge(evaluate[0], {1: "answers"})
    project.judge(evaluate[1], {1: "does_not", 2: "does_not", 3: "does_not"})  # not among hits
    fired = _feedback_sensor(project, None)
    assert isinstance(fired, dg.SensorResult) and fired.run_requests

    wanted = _assets("search_judgments", "training_splits", "evaluation_sets")
    result = project.materialize([*wanted, *SEARCH_CHECKS[1:]])
    assert result.success and all(check_results(result).values())
    judged = meta(result, "search_judgments")
    assert judged["judged_searches_train"] == 3 and judged["judged_searches_evaluate"] == 2
    assert judged["evaluate_without_an_answer_among_hits"] == 1
    judgments = project.table("search_judgments")
    assert set(judgments["label"]) == {"answers", "does_not", "partly"}
    pairs = project.table("training_splits")
    searched = pairs[pairs["generator"] == "search"].sort_values("query")
    rows = published.set_index("record_id")
    expect = {
        (
            rows.loc[train[0], "query"],
            rows.loc[train[0], "chunk_ids"][0],
            rows.loc[train[0], "chunk_ids"][1],
        ),
        (
            rows.loc[train[1], "query"],
            rows.loc[train[1], "chunk_ids"][1],
            rows.loc[train[1], "chunk_ids"][0],
        ),
    }
    got = set(
        zip(searched["query"], searched["chunk_id"], searched["negative_chunk_id"], strict=True)
    )
    assert got == expect  # people's negatives, best-ranked first; nothing from "partly"
    assert meta(result, "training_splits")["search_pairs"] == 2
    exam = {rows.loc[r, "query"] for r in evaluate}
    assert not exam & set(pairs["query"])
    sets = project.table("evaluation_queries")
    searches = sets[sets["set_name"] == "searches"]
    assert list(searches["query"]) == [rows.loc[evaluate[0], "query"]]
    assert rows.loc[evaluate[0], "chunk_ids"][0] in set(searches["relevant_chunk_ids"].iloc[0])


def test_a_leaked_evaluation_search_stops_training(project: Project) -> None:
    pairs = project.table("training_splits")
    judgments = project.table("search_judgments")
    exam = judgments[judgments["role"] == "evaluate"]["query"].iloc[0]
    leaked = pd.concat([pairs, pairs.head(1).assign(query=exam.upper() + "!")])
    assert not validate_no_search_exam(leaked, judgments).success
    assert validate_no_search_exam(pairs, judgments).success


def test_argilla_down_loses_nothing_and_purges_reach_argilla(
    project: Project, tmp_path: Path
) -> None:
    settings = load_settings(project.config)
    log = open_search_log(settings.data_dir, None)
    late = Searcher(settings, IndexTarget(None), log)
    try:
        late.search(SearchRequest(query="where is the topic 3 settings file", k=3))
    finally:
        late.close()
    raw = yaml.safe_load(project.config.read_text())
    raw["argilla"]["api_url"] = "http://127.0.0.1:9"  # nothing listens there
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump(raw))
    before = project.table("search_records")
    failed = project.materialize(SEARCH_ASSETS, config=down, raise_on_error=False)
    assert not failed.success
    assert project.table("search_records").equals(before)  # nothing half-written
    back = project.materialize(SEARCH_ASSETS)
    assert meta(back, "argilla_search_dataset")["new"] == 1  # the missing one, now

    purged = open_search_log(settings.data_dir, None).purge(
        datetime.now(UTC) + timedelta(seconds=1)
    )
    assert purged == len(QUERIES) + 1
    after = project.materialize(SEARCH_ASSETS)
    assert meta(after, "search_log")["purged_searches"] == purged
    assert meta(after, "argilla_search_dataset")["deleted_purged"] == DISTINCT + 1
    assert project.table("searches").empty and project.table("search_records").empty
    assert project.records() == {}
