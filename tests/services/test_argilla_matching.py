"""The SQL search backend's filter, sort, text and vector logic, on hand-made documents."""

from __future__ import annotations

from datetime import datetime

import pytest

from services.argilla.sqlsearch.matching import (
    All,
    Path,
    Range,
    SortKey,
    Terms,
    matches,
    needs,
    numeric_range,
    search,
    similar,
    sort_documents,
    term_counts,
    text_score,
)

ANN, BOB = "user-ann", "user-bob"


def doc(i: int, **parts: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": f"r{i}",
        "external_id": f"p{i}",
        "status": "pending",
        "inserted_at": datetime(2026, 1, 1, 0, 0, i),
        "updated_at": datetime(2026, 1, 2, 0, 0, i),
        "fields": {"query": f"query {i}", "passage": "text"},
        "metadata": {},
        "suggestions": {},
        "responses": [],
    }
    base.update(parts)
    return base


RESTART = {"query": "How do I restart the worker?", "passage": "Restart it with systemctl."}
SUGGESTED = {"value": "relevant", "score": 0.9, "agent": "offline:heading", "type": None}


def response(user: str, status: str, relevance: str, rating: int) -> dict[str, object]:
    return {"user_id": user, "status": status, "values": {"relevance": relevance, "rating": rating}}


DOCS = [
    doc(0, metadata={"doc": "a.md", "priority": 7}, fields=RESTART),
    doc(
        1,
        metadata={"doc": "b.md", "priority": 2, "tags": ["x", "y"]},
        suggestions={"relevance": SUGGESTED},
    ),
    doc(
        2,
        status="completed",
        metadata={"doc": "a.md"},
        responses=[response(ANN, "submitted", "not_relevant", 2)],
    ),
    doc(
        3,
        metadata={"doc": "c.md", "priority": 12},
        responses=[
            response(BOB, "draft", "relevant", 5),
            response(ANN, "submitted", "relevant", 4),
        ],
    ),
]


def ids(docs: list[dict[str, object]]) -> list[str]:
    return [str(d["id"]) for d in docs]


def matching(filter: object) -> list[str]:
    return [str(d["id"]) for d in DOCS if matches(d, filter)]  # type: ignore[arg-type]


def test_terms_filters_on_metadata_record_and_suggestion() -> None:
    assert matching(Terms(Path("metadata", "doc"), ("a.md",))) == ["r0", "r2"]
    assert matching(Terms(Path("metadata", "tags"), ("y",))) == ["r1"]  # any list element
    assert matching(Terms(Path("record", "status"), ("completed",))) == ["r2"]
    assert matching(Terms(Path("suggestion", "relevance", "value"), ("relevant",))) == ["r1"]
    assert matching(Terms(Path("suggestion", "relevance", "agent"), ("offline:heading",))) == ["r1"]
    assert matching(Terms(Path("metadata", "doc"), ("zzz",))) == []


def test_range_filters_are_inclusive_and_skip_missing_values() -> None:
    assert matching(Range(Path("metadata", "priority"), ge=7)) == ["r0", "r3"]
    assert matching(Range(Path("metadata", "priority"), ge=2, le=7)) == ["r0", "r1"]
    assert matching(Range(Path("suggestion", "relevance", "score"), ge=0.95)) == []
    # Dates compare as epoch milliseconds, as in Elasticsearch.
    cutoff = datetime(2026, 1, 1, 0, 0, 2).timestamp() * 1000
    assert matching(Range(Path("record", "inserted_at"), ge=cutoff)) == ["r2", "r3"]


def test_response_status_filters_including_pending() -> None:
    status = Path("response", None, "status")
    assert matching(Terms(status, ("submitted",))) == ["r2", "r3"]
    assert matching(Terms(status, ("pending",))) == ["r0", "r1"]  # no response at all
    assert matching(Terms(status, ("pending", "draft"))) == ["r0", "r1", "r3"]
    # Scoped to a user: pending means *that user* has not responded.
    bob_status = Path("response", None, "status", user_id=BOB)
    assert matching(Terms(bob_status, ("pending",))) == ["r0", "r1", "r2"]
    assert matching(Terms(bob_status, ("submitted",))) == []


def test_response_value_filters_per_user() -> None:
    assert matching(Terms(Path("response", "relevance"), ("relevant",))) == ["r3"]
    assert matching(Terms(Path("response", "relevance", user_id=ANN), ("not_relevant",))) == ["r2"]
    assert matching(Range(Path("response", "rating", user_id=BOB), ge=5)) == ["r3"]
    assert matching(Range(Path("response", "rating", user_id=ANN), ge=5)) == []


def test_and_filter_needs_every_part() -> None:
    both = All(
        (Terms(Path("metadata", "doc"), ("a.md",)), Terms(Path("record", "status"), ("completed",)))
    )
    assert matching(both) == ["r2"]
    assert needs(both) == {"metadata", "record"}
    assert needs(None, [SortKey(Path("response", "rating"))]) == {"response"}


def test_sorting_puts_missing_values_last_in_both_directions() -> None:
    priority = Path("metadata", "priority")
    assert ids(sort_documents(DOCS, [SortKey(priority)])) == ["r1", "r0", "r3", "r2"]
    assert ids(sort_documents(DOCS, [SortKey(priority, descending=True)])) == [
        "r3",
        "r0",
        "r1",
        "r2",
    ]
    # Ties on the first key fall to the second.
    by_doc_then_time = [
        SortKey(Path("metadata", "doc")),
        SortKey(Path("record", "inserted_at"), True),
    ]
    assert ids(sort_documents(DOCS, by_doc_then_time)) == ["r2", "r0", "r1", "r3"]
    # Response values sort by their average, as Elasticsearch's mode "avg".
    assert ids(sort_documents(DOCS, [SortKey(Path("response", "rating"))]))[:2] == ["r2", "r3"]


def test_text_query_is_an_and_of_terms_with_phrases_prefixes_and_negation() -> None:
    first = DOCS[0]
    assert text_score(first, "restart worker") is not None
    assert text_score(first, "restart database") is None
    assert text_score(first, '"restart the worker"') is not None
    assert text_score(first, '"worker the restart"') is None
    assert text_score(first, "systemc*") is not None
    assert text_score(first, "restart -systemctl") is None
    assert text_score(first, "systemctl", field="query") is None  # only in the passage
    assert text_score(first, "RESTART") is not None  # case-insensitive


def test_search_pages_and_counts_all_matches() -> None:
    hits, total = search(DOCS, sort=[SortKey(Path("record", "inserted_at"))], offset=1, limit=2)
    assert total == 4 and [h.record_id for h in hits] == ["r1", "r2"]
    hits, total = search(DOCS, query="worker")
    assert total == 1 and hits[0].record_id == "r0"


def test_user_search_order_is_a_stable_per_user_shuffle() -> None:
    many = [doc(i) for i in range(30)]
    ann = [h.record_id for h in search(many, user_id=ANN, limit=30)[0]]
    assert ann == [h.record_id for h in search(many, user_id=ANN, limit=30)[0]]
    bob = [h.record_id for h in search(many, user_id=BOB, limit=30)[0]]
    assert sorted(ann) == sorted(bob) and ann != bob


def test_similarity_search_ranks_by_cosine_and_excludes_the_query_record() -> None:
    docs = [doc(i, vector=v) for i, v in enumerate([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]])]
    docs.append(doc(9))  # no vector: never a hit
    hits = similar(docs, [1, 0], k=3)
    assert [h.record_id for h in hits] == ["r0", "r1", "r2"]
    assert hits[0].score == pytest.approx(1.0) and hits[2].score == pytest.approx(0.5)
    assert [h.record_id for h in similar(docs, [1, 0], k=1, exclude_id="r0")] == ["r1"]
    assert [h.record_id for h in similar(docs, [1, 0], k=1, least_similar=True)] == ["r3"]
    assert [h.record_id for h in similar(docs, [1, 0], k=5, threshold=0.9)] == ["r0", "r1"]


def test_metadata_metrics() -> None:
    assert term_counts(DOCS, Path("metadata", "doc")) == (
        4,
        [("a.md", 2), ("b.md", 1), ("c.md", 1)],
    )
    assert numeric_range(DOCS, Path("metadata", "priority")) == (2, 12)
    assert numeric_range(DOCS, Path("metadata", "missing")) == (None, None)


def test_string_range_bounds_are_read_like_elasticsearch_or_refused() -> None:
    # The API accepts strings as range bounds (meant for dates); a string compared with a
    # number used to raise TypeError: HTTP 500. Now numbers and ISO dates are read...
    priority = Path("metadata", "priority")
    assert matching(Range(priority, ge="7")) == matching(Range(priority, ge=7)) == ["r0", "r3"]
    assert matching(Range(priority, ge=" 2 ", le="7.0")) == ["r0", "r1"]
    since = datetime(2026, 1, 1, 0, 0, 2).isoformat()
    assert matching(Range(Path("record", "inserted_at"), ge=since)) == ["r2", "r3"]
    # ...and anything else is a ValueError, which the server answers with 422.
    for bad in ("abc", "", "nan", "inf", True):
        with pytest.raises(ValueError, match=r"metadata\.priority: bound .* neither a number"):
            Range(priority, ge=bad)
