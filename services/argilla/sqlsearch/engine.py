"""An Argilla search engine that answers from the server's own SQL database.

Argilla 2.x keeps every record, response, suggestion and vector in its SQL database and
mirrors them into Elasticsearch for search. This engine skips the mirror: the write hooks
(index_records, update_record_response, ...) have nothing to do, and every query reads the
current rows and evaluates filters, sorting, text and vector search with ``matching``.
That is linear in the dataset's size; bench/argilla_bench.py measures it.

The server creates an engine per request, so the instance holds no state: each call opens
and closes its own database session. What a process may keep is a small cache of loaded
documents, valid only while the dataset's fingerprint (row counts and newest ``updated_at``
of its records, responses, suggestions and vectors, which Argilla maintains on every write)
is unchanged: paging through results or reloading the UI then skips re-reading every row,
and a write by any process (API server or worker) invalidates it. Import this module in
every process that needs the engine; registration happens at import.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import numpy as np
from argilla_server import search_engine as se
from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import MetadataPropertyType, SimilarityOrder
from argilla_server.models import (
    Dataset,
    MetadataProperty,
    Question,
    Record,
    Response,
    Suggestion,
    User,
    Vector,
    VectorSettings,
)
from sqlalchemy import func, select, text

from . import matching as m

ENGINE_NAME = "sql"


def _path(scope: se.FilterScope) -> m.Path:
    if isinstance(scope, se.RecordFilterScope):
        return m.Path("record", str(scope.property))
    if isinstance(scope, se.MetadataFilterScope):
        return m.Path("metadata", scope.metadata_property)
    if isinstance(scope, se.SuggestionFilterScope):
        return m.Path("suggestion", scope.question, scope.property or "value")
    if isinstance(scope, se.ResponseFilterScope):
        user = str(scope.user.id) if scope.user else None
        if scope.question:
            return m.Path("response", scope.question, user_id=user)
        if scope.property == "status":
            return m.Path("response", None, "status", user_id=user)
    raise ValueError(f"Cannot process request for search scope {scope}")


def translate_filter(filter: se.Filter | None) -> m.Filter | None:
    if filter is None:
        return None
    if isinstance(filter, se.AndFilter):
        return m.All(tuple(f for f in map(translate_filter, filter.filters) if f is not None))
    if isinstance(filter, se.TermsFilter):
        return m.Terms(_path(filter.scope), tuple(str(v) for v in filter.values))
    if isinstance(filter, se.RangeFilter):
        # Bounds may be strings: m.Range reads them or raises a ValueError (HTTP 422).
        return m.Range(_path(filter.scope), filter.ge, filter.le)
    raise ValueError(f"Cannot process request for filter {filter}")


def translate_sort(sort: list[se.Order] | None) -> list[m.SortKey]:
    return [m.SortKey(_path(o.scope), str(o.order) == "desc") for o in sort or []]


def _text(query: se.TextQuery | str | None) -> tuple[str | None, str | None]:
    if query is None:
        return None, None
    if isinstance(query, str):
        return query, None
    return query.q, query.field


_CACHE: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], list[dict[str, Any]]]] = OrderedDict()
_CACHE_ENTRIES = 8


async def _fingerprint(db: Any, dataset_id: UUID) -> tuple[Any, ...]:
    """Changes whenever a record, response, suggestion or vector of the dataset is written
    or deleted."""
    parts: list[Any] = []
    for model in (Record, Response, Suggestion, Vector):
        query = select(func.count(), func.max(model.updated_at))
        if model is not Record:
            query = query.join(Record, Record.id == model.record_id)
        row = (await db.execute(query.where(Record.dataset_id == dataset_id))).one()
        parts.extend(row)
    return tuple(parts)


async def _documents(
    db: Any,
    dataset_id: UUID,
    kinds: set[m.Kind],
    with_fields: bool = False,
    vector_settings_id: UUID | None = None,
) -> list[dict[str, Any]]:
    key = (dataset_id, frozenset(kinds), with_fields, vector_settings_id)
    fingerprint = await _fingerprint(db, dataset_id)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == fingerprint:
        _CACHE.move_to_end(key)
        return cached[1]
    docs = await _load_documents(db, dataset_id, kinds, with_fields, vector_settings_id)
    _CACHE[key] = (fingerprint, docs)
    while len(_CACHE) > _CACHE_ENTRIES:
        _CACHE.popitem(last=False)
    return docs


async def _load_documents(
    db: Any,
    dataset_id: UUID,
    kinds: set[m.Kind],
    with_fields: bool = False,
    vector_settings_id: UUID | None = None,
) -> list[dict[str, Any]]:
    """The dataset's records as documents, carrying only the parts the query reads."""
    columns = [
        Record.id,
        Record.external_id,
        Record.status,
        Record.inserted_at,
        Record.updated_at,
        Record.metadata_,
    ]
    if with_fields:
        columns.append(Record.fields)
    rows = await db.execute(
        select(*columns)
        .where(Record.dataset_id == dataset_id)
        .order_by(Record.inserted_at, Record.id)
    )
    docs: dict[UUID, dict[str, Any]] = {}
    for row in rows:
        docs[row.id] = {
            "id": str(row.id),
            "external_id": row.external_id,
            "status": str(row.status),
            "inserted_at": row.inserted_at,
            "updated_at": row.updated_at,
            "metadata": row.metadata_ or {},
            "fields": row.fields if with_fields else {},
            "suggestions": {},
            "responses": [],
        }
    if "suggestion" in kinds:
        await _add_suggestions(db, dataset_id, docs)
    if "response" in kinds:
        await _add_responses(db, dataset_id, docs)
    if vector_settings_id is not None:
        await _add_vectors(db, vector_settings_id, docs)
    return list(docs.values())


async def _add_suggestions(db: Any, dataset_id: UUID, docs: dict[UUID, dict[str, Any]]) -> None:
    suggestions = await db.execute(
        select(
            Suggestion.record_id,
            Question.name,
            Suggestion.value,
            Suggestion.score,
            Suggestion.agent,
            Suggestion.type,
        )
        .join(Question, Question.id == Suggestion.question_id)
        .join(Record, Record.id == Suggestion.record_id)
        .where(Record.dataset_id == dataset_id)
    )
    for rid, question, value, score, agent, type_ in suggestions:
        if rid in docs:
            docs[rid]["suggestions"][question] = {
                "value": value,
                "score": score,
                "agent": agent,
                "type": str(type_) if type_ else None,
            }


async def _add_responses(db: Any, dataset_id: UUID, docs: dict[UUID, dict[str, Any]]) -> None:
    responses = await db.execute(
        select(Response.record_id, Response.user_id, Response.status, Response.values)
        .join(Record, Record.id == Response.record_id)
        .where(Record.dataset_id == dataset_id)
    )
    for rid, user_id, status, values in responses:
        if rid in docs:
            flat = {q: (v or {}).get("value") for q, v in (values or {}).items()}
            docs[rid]["responses"].append(
                {"user_id": str(user_id), "status": str(status), "values": flat}
            )


async def _add_vectors(db: Any, vector_settings_id: UUID, docs: dict[UUID, dict[str, Any]]) -> None:
    vectors = await db.execute(
        select(Vector.record_id, Vector.value).where(
            Vector.vector_settings_id == vector_settings_id
        )
    )
    for rid, value in vectors:
        if rid in docs:
            docs[rid]["vector"] = np.asarray(value, dtype=np.float32)


@se.SearchEngine.register(engine_name=ENGINE_NAME)
class SQLSearchEngine(se.SearchEngine):
    """Search served from the SQL database (SQLite or PostgreSQL) the server already uses."""

    @classmethod
    async def new_instance(cls) -> SQLSearchEngine:
        return cls()

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        try:
            async with AsyncSessionLocal() as db:
                await db.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def info(self) -> dict:
        async with AsyncSessionLocal() as db:
            dialect = db.bind.dialect.name
        return {"distribution": "embedloop-sql", "version": {"number": "1", "backend": dialect}}

    # The SQL rows are the index: nothing to create, mirror or delete.
    async def create_index(self, dataset: Dataset) -> None:
        pass

    async def delete_index(self, dataset: Dataset) -> None:
        pass

    async def configure_metadata_property(self, dataset: Dataset, metadata_property) -> None:
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings) -> None:
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def partial_record_update(self, record: Record, **update) -> None:
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]) -> None:
        pass

    async def update_record_response(self, response: Response) -> None:
        pass

    async def delete_record_response(self, response: Response) -> None:
        pass

    async def update_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion) -> None:
        pass

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = await db.execute(
                select(Record.status, func.count())
                .where(Record.dataset_id == dataset.id)
                .group_by(Record.status)
            )
            counts = {str(status): int(n) for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        async with AsyncSessionLocal() as db:
            rows = await db.execute(
                select(Response.status, func.count())
                .join(Record, Record.id == Response.record_id)
                .where(Record.dataset_id == dataset.id, Response.user_id == user.id)
                .group_by(Response.status)
            )
            counts = {str(status): int(n) for status, n in rows}
        return {"total": sum(counts.values()), **counts}

    async def search(
        self,
        dataset: Dataset,
        query: se.TextQuery | str | None = None,
        filter: se.Filter | None = None,
        sort: list[se.Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: str | None = None,
    ) -> se.SearchResponses:
        q, field = _text(query)
        mfilter, msort = translate_filter(filter), translate_sort(sort)
        async with AsyncSessionLocal() as db:
            docs = await _documents(db, dataset.id, m.needs(mfilter, msort), with_fields=bool(q))
        hits, total = m.search(
            docs,
            mfilter,
            msort,
            q,
            field,
            str(user_id) if user_id else None,
            offset,
            limit,
        )
        return se.SearchResponses(
            items=[se.SearchResponseItem(record_id=UUID(h.record_id), score=h.score) for h in hits],
            total=total,
        )

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: se.TextQuery | str | None = None,
        filter: se.Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> se.SearchResponses:
        if bool(value) == bool(record):
            raise ValueError(
                "Must provide either vector value or record to compute the similarity search"
            )
        vector = value or (
            record.vector_value_by_vector_settings(vector_settings) if record else None
        )
        if not vector:
            raise ValueError("Cannot find a vector value to apply with provided info")
        q, field = _text(query)
        mfilter = translate_filter(filter)
        async with AsyncSessionLocal() as db:
            docs = await _documents(
                db, dataset.id, m.needs(mfilter), bool(q), vector_settings_id=vector_settings.id
            )
        hits = m.similar(
            docs,
            vector,
            max_results,
            mfilter,
            q,
            field,
            exclude_id=str(record.id) if record else None,
            least_similar=order == SimilarityOrder.least_similar,
            threshold=threshold,
        )
        items = [se.SearchResponseItem(record_id=UUID(h.record_id), score=h.score) for h in hits]
        return se.SearchResponses(items=items, total=len(items))

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> se.MetadataMetrics:
        async with AsyncSessionLocal() as db:
            docs = await _documents(db, metadata_property.dataset_id, set())
        path = m.Path("metadata", metadata_property.name)
        if metadata_property.type == MetadataPropertyType.terms:
            total, counts = m.term_counts(docs, path)
            return se.TermsMetrics(
                total=total, values=[se.TermsMetrics.TermCount(term=t, count=c) for t, c in counts]
            )
        low, high = m.numeric_range(docs, path)
        if metadata_property.type == MetadataPropertyType.integer:
            return se.IntegerMetadataMetrics(min=low, max=high)
        return se.FloatMetadataMetrics(min=low, max=high)
