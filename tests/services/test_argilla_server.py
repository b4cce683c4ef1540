"""The real argilla SDK against the real local server with the SQL search engine."""

from __future__ import annotations

import uuid
from pathlib import Path

import argilla as rg
import httpx
import pytest

from services.argilla.stack import (
    StackConfig,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dataset(argilla_client: rg.Argilla) -> rg.Dataset:
    settings = rg.Settings(
        fields=[rg.TextField(name="query"), rg.TextField(name="passage")],
        questions=[
            rg.LabelQuestion(name="relevance", labels=["relevant", "not_relevant"]),
            rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5], required=False),
            rg.TextQuestion(name="notes", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="doc"),
            rg.IntegerMetadataProperty(name="priority"),
        ],
        vectors=[rg.VectorField(name="emb", dimensions=3)],
    )
    ds = rg.Dataset(
        name=f"t-{uuid.uuid4().hex[:8]}",
        workspace="argilla",
        settings=settings,
        client=argilla_client,
    )
    ds.create()
    ds.records.log(
        [
            rg.Record(
                id=f"p{i}",
                fields={"query": f"how to restart worker {i}", "passage": f"passage {i} text"},
                metadata={"doc": "a.md" if i % 2 else "b.md", "priority": i},
                suggestions=[rg.Suggestion("relevance", "relevant", agent="offline", score=0.5)],
                vectors={"emb": [1.0, float(i), 0.0]},
            )
            for i in range(6)
        ]
    )
    return ds


def _ids(records) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(r.id for r in records)


def _respond(
    ds: rg.Dataset, client: rg.Argilla, rid: str, label: str, status: str, **extra
) -> None:
    (record,) = [r for r in ds.records(with_responses=True) if r.id == rid]
    record.responses.add(rg.Response("relevance", label, user_id=client.me.id, status=status))
    for question, value in extra.items():
        record.responses.add(rg.Response(question, value, user_id=client.me.id, status=status))
    ds.records.log([record])


def test_filters_sorting_text_and_progress(dataset: rg.Dataset, argilla_client: rg.Argilla) -> None:
    ds = dataset
    _respond(ds, argilla_client, "p1", "not_relevant", "submitted", quality=2)
    _respond(ds, argilla_client, "p2", "relevant", "draft")

    def query(*conditions: tuple[str, str, object]) -> list[str]:
        return _ids(ds.records(query=rg.Query(filter=rg.Filter(list(conditions)))))

    assert query(("metadata.doc", "==", "a.md")) == ["p1", "p3", "p5"]
    assert query(("metadata.priority", ">=", 3), ("metadata.doc", "==", "b.md")) == ["p4"]
    assert query(("response.status", "==", "submitted")) == ["p1"]
    assert query(("response.status", "==", "pending")) == ["p0", "p3", "p4", "p5"]
    assert query(("response.status", "in", ["pending", "draft"])) == ["p0", "p2", "p3", "p4", "p5"]
    assert query(("relevance.response", "==", "not_relevant")) == ["p1"]
    assert query(("quality.response", "<=", 2)) == ["p1"]
    assert query(("relevance.suggestion", "==", "relevant")) == [f"p{i}" for i in range(6)]
    assert query(("relevance.agent", "==", "nobody")) == []
    assert query(("relevance.agent", "==", "offline")) == [f"p{i}" for i in range(6)]
    assert _ids(ds.records(query=rg.Query(query="worker 4"))) == ["p4"]

    page = argilla_client.api.http_client.post(
        f"/api/v1/datasets/{ds.id}/records/search",
        params={"limit": 2, "offset": 0},
        json={
            "sort": [
                {"scope": {"entity": "metadata", "metadata_property": "priority"}, "order": "desc"}
            ]
        },
    ).json()
    assert page["total"] == 6
    assert [i["record"]["external_id"] for i in page["items"]] == ["p5", "p4"]

    progress = ds.progress(with_users_distribution=True)
    assert progress["total"] == 6 and progress["completed"] == 1 and progress["pending"] == 5
    metrics = argilla_client.api.http_client.get(f"/api/v1/me/datasets/{ds.id}/metrics").json()
    assert metrics["responses"]["submitted"] == 1 and metrics["responses"]["draft"] == 1


def test_similarity_search_and_metadata_metrics(
    dataset: rg.Dataset, argilla_client: rg.Argilla
) -> None:
    hits = list(
        dataset.records(
            query=rg.Query(similar=rg.Similar(name="emb", value=[0.0, 1.0, 0.0])), limit=2
        )
    )
    assert [record.id for record, _score in hits] == ["p5", "p4"]
    (prop,) = [p for p in dataset.settings.metadata if p.name == "priority"]
    metrics = argilla_client.api.http_client.get(
        f"/api/v1/metadata-properties/{prop.id}/metrics"
    ).json()
    assert (metrics["min"], metrics["max"]) == (0, 5)


def test_update_keeps_responses_and_delete_removes_records(
    dataset: rg.Dataset, argilla_client: rg.Argilla
) -> None:
    _respond(dataset, argilla_client, "p0", "relevant", "submitted")
    dataset.records.log(
        [
            rg.Record(
                id="p0",
                fields={"query": "new query", "passage": "passage 0 text"},
                metadata={"doc": "b.md", "priority": 0},
            )
        ]
    )
    (p0,) = [r for r in dataset.records(with_responses=True) if r.id == "p0"]
    assert p0.fields["query"] == "new query"
    assert [r.value for r in p0.responses] == ["relevant"]
    doomed = [r for r in dataset.records() if r.id in ("p4", "p5")]
    dataset.records.delete(doomed)
    assert _ids(dataset.records()) == ["p0", "p1", "p2", "p3"]
    assert dataset.progress()["total"] == 4


def test_a_wrong_api_key_names_the_variable_to_set(argilla_stack: StackConfig) -> None:
    from embedloop.review.argilla_io import ArgillaConnection, ArgillaUnavailable

    connection = ArgillaConnection(api_url=argilla_stack.api_url, api_key="wrong", workspace="w")
    with pytest.raises(ArgillaUnavailable, match="rejected the API key: set ARGILLA_API_KEY"):
        connection.client()


def test_a_range_filter_with_a_string_bound_is_read_or_refused_not_a_crash(
    dataset: rg.Dataset, argilla_client: rg.Argilla
) -> None:
    def search(bound: object) -> httpx.Response:
        condition = {
            "type": "range",
            "scope": {"entity": "metadata", "metadata_property": "priority"},
            "ge": bound,
        }
        return argilla_client.api.http_client.post(
            f"/api/v1/datasets/{dataset.id}/records/search",
            json={"filters": {"and": [condition]}},
        )

    refused = search("abc")
    assert refused.status_code == 422, refused.text
    assert "neither a number nor a date" in refused.text
    numeric = search("4")  # read as a number, as Elasticsearch does
    assert numeric.status_code == 200, numeric.text
    assert sorted(i["record"]["external_id"] for i in numeric.json()["items"]) == ["p4", "p5"]
