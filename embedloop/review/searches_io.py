"""The search dataset in Argilla: its layout, publishing, pulling judgments.

One record per published search: the query and the passages it returned in positional
fields (``passage_1`` ... ``passage_N``, best first), with one label question per passage
(answers / partly / does not). Positional, not one record per (query, passage): a reviewer
judges the hits side by side, as the searcher saw them. Connection handling, record search
and the error types are shared with ``argilla_io``.
"""

from __future__ import annotations

import json
from typing import Any

import argilla as rg
import pandas as pd

from embedloop.progress import progress
from embedloop.review.argilla_io import ReviewDatasetError, fetch_responses, workspace_and_dataset
from embedloop.searches.publication import ANSWERS, DOES_NOT, EVALUATE, PARTLY

RESPONSE_COLUMNS = ["response_id", "record_id", "user_id", "status", "labels", "updated_at"]
GONE = "_(this passage has changed or been removed since the search)_"
LABEL_TITLES = {ANSWERS: "answers", PARTLY: "partly", DOES_NOT: "does not answer"}

GUIDELINES = """\
Each record is a **search a person ran** against our documentation, with the passages it
returned, best first. For each passage, say whether it answers the query:

- **answers**: a person asking this would be happy to land on it.
- **partly**: it helps, but the answer is incomplete or elsewhere.
- **does not answer**: it does not help with this query.

Judge the first passage at least, and then those you read; a passage you leave unjudged
teaches nothing (it is never counted as wrong). Queries are as people typed them, with
anything that looked like an email or a secret masked. Sort by `priority` to see first the
searches someone said did not help and those the model was least sure about.
"""


def judge_question(position: int) -> str:
    return f"judge_{position}"


def passage_field(position: int) -> str:
    return f"passage_{position}"


def search_settings(passages: int) -> rg.Settings:
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name="query", title="Query"),
            *(
                rg.TextField(
                    name=passage_field(i), title=f"Passage {i}", use_markdown=True, required=False
                )
                for i in range(1, passages + 1)
            ),
        ],
        questions=[
            rg.LabelQuestion(
                name=judge_question(i),
                title=f"Does passage {i} answer the query?",
                labels=LABEL_TITLES,
                # Argilla needs one required question: the first passage, which every
                # published search has, is judged at least.
                required=i == 1,
            )
            for i in range(1, passages + 1)
        ],
        metadata=[
            rg.TermsMetadataProperty(name="role", title="Role (train or evaluate)"),
            rg.TermsMetadataProperty(name="searcher_verdict", title="The searcher said"),
            rg.IntegerMetadataProperty(name="priority", title="Priority"),
            rg.FloatMetadataProperty(name="top_score", title="Top score"),
        ],
    )


def ensure_search_dataset(
    client: rg.Argilla, workspace: str, name: str, passages: int
) -> rg.Dataset:
    """The search dataset, created (with its workspace) on first use."""
    ws, dataset = workspace_and_dataset(client, workspace, name)
    if dataset is None:
        dataset = rg.Dataset(
            name=name, workspace=ws, settings=search_settings(passages), client=client
        )
        return dataset.create()
    have = {q.name for q in dataset.settings.questions}
    want = {judge_question(i) for i in range(1, passages + 1)}
    if not want <= have:
        raise ReviewDatasetError(
            f"Argilla dataset {workspace}/{name} exists without the questions "
            f"{sorted(want - have)} (argilla.search_passages grew?): choose another "
            "argilla.search_dataset"
        )
    return dataset


def to_record(row: dict[str, Any], texts: dict[str, str], passages: int) -> rg.Record:
    chunk_ids = list(row["chunk_ids"])
    fields: dict[str, Any] = {"query": row["query"]}
    for i in range(1, passages + 1):
        if i <= len(chunk_ids):
            fields[passage_field(i)] = texts.get(chunk_ids[i - 1], GONE)
    suggestions = [
        rg.Suggestion(question_name=judge_question(int(p)), value=label, agent="searcher")
        for p, label in sorted(json.loads(row["suggestions"] or "{}").items())
        if row["role"] != EVALUATE and int(p) <= passages
    ]
    return rg.Record(
        id=row["record_id"],
        fields=fields,
        metadata={
            "role": row["role"],
            "searcher_verdict": row["searcher_verdict"],
            "priority": int(row["priority"]),
            "top_score": float(row["top_score"]),
        },
        suggestions=suggestions,
    )


def publish_searches(
    dataset: rg.Dataset, rows: pd.DataFrame, texts: dict[str, str], passages: int, batch: int
) -> int:
    """Create or update records in batches (an upsert by record id: responses survive)."""
    sent = 0
    with progress("publishing searches to Argilla", len(rows), "records") as tracker:
        for start in range(0, len(rows), batch):
            part = rows.iloc[start : start + batch]
            records = [to_record(r, texts, passages) for r in part.to_dict("records")]
            dataset.records.log(records, batch_size=batch)
            sent += len(records)
            tracker.update(len(records))
    return sent


def delete_records(dataset: rg.Dataset, record_ids: list[str]) -> int:
    """Delete the records of purged searches (their queries must not outlive the purge);
    how many were there to delete."""
    wanted = set(record_ids)
    found = [r for r in dataset.records(with_responses=False) if r.id in wanted]
    if found:
        dataset.records.delete(found)
    return len(found)


def fetch_search_responses(client: rg.Argilla, dataset: rg.Dataset) -> pd.DataFrame:
    """Every submitted or discarded response, one row per (record, user) (RESPONSE_COLUMNS)."""
    return fetch_responses(
        client, dataset, ("submitted", "discarded"), row=_row, columns=RESPONSE_COLUMNS
    )


def _row(record: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    values = response.get("values") or {}
    labels = {
        name.removeprefix("judge_"): (value or {}).get("value")
        for name, value in values.items()
        if name.startswith("judge_") and (value or {}).get("value")
    }
    return {
        "response_id": response["id"],
        "record_id": record.get("external_id") or record["id"],
        "user_id": response["user_id"],
        "status": response["status"],
        "labels": json.dumps(labels, sort_keys=True),
        "updated_at": response["updated_at"],
    }
