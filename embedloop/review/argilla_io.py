"""Talking to Argilla through its SDK: the connection, the review dataset, publishing
records, pulling responses.

The dataset layout lives here, in one place: fields, questions, metadata and the vector
that makes the UI's "find similar" work.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import argilla as rg
import httpx
import pandas as pd

from embedloop.progress import progress
from embedloop.review.records import CURRENT

ARGILLA_API_KEY_ENV = "ARGILLA_API_KEY"


class ArgillaUnavailable(RuntimeError):
    """Argilla could not be reached or refused the credentials; the message says which."""


@dataclass(frozen=True)
class ArgillaConnection:
    """An Argilla server (the local stack or any Argilla 2.x deployment) and a workspace."""

    api_url: str
    api_key: str
    workspace: str
    timeout_s: float = 60
    # Why there is no key, when there is none: raised on first use, so a sensor tick skips
    # with the reason instead of failing while its resources are built.
    missing_key: str | None = None

    def client(self) -> rg.Argilla:
        from argilla._exceptions import ArgillaCredentialsError

        if self.missing_key:
            raise ArgillaUnavailable(self.missing_key)
        try:
            return rg.Argilla(api_url=self.api_url, api_key=self.api_key, timeout=self.timeout_s)
        except ArgillaCredentialsError:
            raise ArgillaUnavailable(
                f"Argilla at {self.api_url} rejected the API key: set {ARGILLA_API_KEY_ENV} to "
                f"the key of an owner or admin of workspace {self.workspace!r}"
            ) from None
        except httpx.HTTPError as err:
            raise ArgillaUnavailable(
                f"Argilla is not reachable at {self.api_url} ({err}); start the local stack "
                "with `make argilla-up` or set argilla.api_url in the config file"
            ) from None


RELEVANCE = "relevance"
LABELS = ["relevant", "partially_relevant", "not_relevant"]
CORRECTED_QUERY = "corrected_query"
NOTES = "notes"
VECTOR = "query_embedding"
PAGE = 1000  # the records search endpoint's largest page

GUIDELINES = """\
Each record is a search **query** that was generated for a **passage** of our
documentation. Judge whether the passage answers the query.

- **relevant**: a person asking this would be happy to land on this passage.
- **partially relevant**: it helps, but the answer is incomplete or elsewhere.
- **not relevant**: the passage does not answer the query.

If the query is awkward or wrong but the passage is good, write a better query in
*corrected query*: it becomes training data. Sort by the `priority` metadata (descending)
to see first the pairs the current model is least sure about. Records with `chunk_state`
other than `current` point to a passage that has since changed: skip them.
"""


class ReviewDatasetError(RuntimeError):
    """The Argilla dataset exists but does not have the layout embedloop publishes."""


def review_settings(vector_dim: int) -> rg.Settings:
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name="query", title="Query"),
            rg.TextField(name="passage", title="Passage", use_markdown=True),
            rg.TextField(name="heading", title="Section", required=False),
            rg.TextField(name="source", title="Source document", use_markdown=True),
        ],
        questions=[
            rg.LabelQuestion(
                name=RELEVANCE,
                title="Does the passage answer the query?",
                labels={
                    "relevant": "relevant",
                    "partially_relevant": "partially relevant",
                    "not_relevant": "not relevant",
                },
            ),
            rg.TextQuestion(name=CORRECTED_QUERY, title="Corrected query", required=False),
            rg.TextQuestion(name=NOTES, title="Notes", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="doc", title="Document"),
            rg.TermsMetadataProperty(name="split"),
            rg.TermsMetadataProperty(name="generator"),
            rg.IntegerMetadataProperty(name="priority", title="Priority (model uncertainty)"),
            rg.TermsMetadataProperty(name="chunk_state", title="Chunk state"),
        ],
        vectors=[rg.VectorField(name=VECTOR, title="Query embedding", dimensions=vector_dim)],
    )


def workspace_and_dataset(
    client: rg.Argilla, workspace: str, name: str
) -> tuple[rg.Workspace, rg.Dataset | None]:
    """The workspace (created on first use) and the dataset ``name`` in it, if there is one."""
    with warnings.catch_warnings():  # the SDK warns when a lookup finds nothing
        warnings.simplefilter("ignore", UserWarning)
        ws = client.workspaces(workspace)
        if ws is None:
            ws = rg.Workspace(name=workspace, client=client).create()
        dataset = client.datasets(name=name, workspace=ws)
    return ws, dataset


def ensure_dataset(client: rg.Argilla, workspace: str, name: str, vector_dim: int) -> rg.Dataset:
    """The review dataset, created (with its workspace) on first use."""
    ws, dataset = workspace_and_dataset(client, workspace, name)
    if dataset is None:
        dataset = rg.Dataset(
            name=name, workspace=ws, settings=review_settings(vector_dim), client=client
        )
        return dataset.create()
    questions = {q.name for q in dataset.settings.questions}
    if RELEVANCE not in questions or CORRECTED_QUERY not in questions:
        raise ReviewDatasetError(
            f"Argilla dataset {workspace}/{name} exists without the questions "
            f"{RELEVANCE!r} and {CORRECTED_QUERY!r}: choose another argilla.dataset"
        )
    return dataset


def find_dataset(client: rg.Argilla, workspace: str, name: str) -> rg.Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if client.workspaces(workspace) is None:
            return None
        return client.datasets(name=name, workspace=workspace)


def to_record(row: dict[str, Any], vector: list[float] | None) -> rg.Record:
    """A review row as an Argilla record. Flagged rows carry no suggestion: the generator's
    label no longer describes the current chunk."""
    suggestions = []
    if row["chunk_state"] == CURRENT:
        suggestions = [rg.Suggestion(question_name=RELEVANCE, value="relevant", agent=row["model"])]
    return rg.Record(
        id=row["pair_id"],
        fields={
            "query": row["query"],
            "passage": row["passage"],
            "heading": row["heading"] or None,
            "source": row["source"],
        },
        metadata={
            "doc": row["doc_id"],
            "split": row["split"],
            "generator": row["generator"],
            "priority": int(row["priority"]),
            "chunk_state": row["chunk_state"],
        },
        suggestions=suggestions,
        vectors={VECTOR: vector} if vector is not None else {},
    )


def publish(
    dataset: rg.Dataset,
    rows: pd.DataFrame,
    vectors: Callable[[pd.DataFrame], list[list[float] | None]],
    batch_size: int,
) -> int:
    """Create or update records in batches (an upsert by record id: responses survive)."""
    sent = 0
    with progress("publishing to Argilla", len(rows), "records") as tracker:
        for start in range(0, len(rows), batch_size):
            batch = rows.iloc[start : start + batch_size]
            records = [
                to_record(row, vec)
                for row, vec in zip(batch.to_dict("records"), vectors(batch), strict=True)
            ]
            dataset.records.log(records, batch_size=batch_size)
            sent += len(records)
            tracker.update(len(records))
    return sent


RESPONSE_COLUMNS = [
    "response_id",
    "pair_id",
    "record_id",
    "user_id",
    "status",
    "relevance",
    "corrected_query",
    "notes",
    "updated_at",
]


def fetch_responses(
    client: rg.Argilla,
    dataset: rg.Dataset,
    statuses: tuple[str, ...] = ("submitted", "discarded"),
    row: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Every response with one of ``statuses``, one row per (record, user).

    Reads the REST search endpoint through the SDK's authenticated client, because the SDK's
    Response objects drop the ``updated_at`` the history and the sensor's cursor need.
    ``row`` turns a (record, response) into a row of ``columns``; the defaults read the review
    dataset's questions into RESPONSE_COLUMNS.
    """
    to_row = row or _response_row
    rows = [
        to_row(record, response)
        for record in search_records(client, dataset, statuses)
        for response in record.get("responses") or []
        if response["status"] in statuses
    ]
    frame = pd.DataFrame(rows, columns=columns or RESPONSE_COLUMNS)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame.sort_values(["updated_at", "response_id"], ignore_index=True)


def search_records(
    client: rg.Argilla, dataset: rg.Dataset, statuses: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    """Every record (REST JSON, responses included) with a response of one of ``statuses``."""
    body = {
        "filters": {
            "and": [
                {
                    "type": "terms",
                    "scope": {"entity": "response", "property": "status"},
                    "values": list(statuses),
                }
            ]
        },
        "sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}],
    }
    offset = 0
    while True:
        response = client.api.http_client.post(
            f"/api/v1/datasets/{dataset.id}/records/search",
            params={"include": "responses", "offset": offset, "limit": PAGE},
            json=body,
        )
        response.raise_for_status()
        items = response.json()["items"]
        yield from (item["record"] for item in items)
        if len(items) < PAGE:
            return
        offset += PAGE


def _response_row(record: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    values = response.get("values") or {}

    def value(question: str) -> Any:
        text = (values.get(question) or {}).get("value")
        return text.strip() if isinstance(text, str) and text.strip() else None

    return {
        "response_id": response["id"],
        "pair_id": record.get("external_id") or record["id"],
        "record_id": record["id"],
        "user_id": response["user_id"],
        "status": response["status"],
        "relevance": value(RELEVANCE),
        "corrected_query": value(CORRECTED_QUERY),
        "notes": value(NOTES),
        "updated_at": response["updated_at"],
    }


@dataclass(frozen=True)
class FeedbackState:
    """What the sensor compares between ticks."""

    submitted: int
    latest: str | None  # ISO timestamp of the newest submitted response
    updated_at: list[str]  # of every submitted response


def feedback_state(client: rg.Argilla, workspace: str, name: str) -> FeedbackState:
    dataset = find_dataset(client, workspace, name)
    if dataset is None:
        return FeedbackState(0, None, [])
    frame = fetch_responses(client, dataset, ("submitted",))
    stamps = sorted(t.isoformat() for t in frame["updated_at"])
    return FeedbackState(len(stamps), stamps[-1] if stamps else None, stamps)


def combined_feedback_state(client: rg.Argilla, workspace: str, names: list[str]) -> FeedbackState:
    """One state over several datasets (the review and the question task): a response in
    either counts as new feedback."""
    stamps = sorted(s for name in names for s in feedback_state(client, workspace, name).updated_at)
    return FeedbackState(len(stamps), stamps[-1] if stamps else None, stamps)


# What publishing or pulling raises when Argilla goes away half-way.
CONNECTION_ERRORS = (ArgillaUnavailable, httpx.HTTPError, ConnectionError)
