"""The question-writing dataset in Argilla: its layout, publishing, pulling responses.

Separate from ``argilla_io`` (the review dataset) because the layout differs: no query, no
suggestion to anchor the annotator on a generated query, no vector; one text question.
Connection handling, record search and the error types are shared with ``argilla_io``.
"""

from __future__ import annotations

from typing import Any

import argilla as rg
import pandas as pd

from embedloop.progress import progress
from embedloop.review.argilla_io import (
    ReviewDatasetError,
    fetch_responses,
    workspace_and_dataset,
)

QUESTION = "question"
QUESTION_TITLE = "Write a question a user would ask that this passage answers"
RESPONSE_COLUMNS = ["response_id", "record_id", "user_id", "status", "query", "updated_at"]

GUIDELINES = """\
Each record is a **passage** of our documentation, picked at random. Write the question
a user of the product would ask (in a search box, a chat, a support ticket) whose answer
is this passage.

- Ask as someone who has not read the passage would: use your own words, not its phrases,
  section titles or identifiers unless a user would know them.
- One question per record; it may be short ("how do I rotate the API key").
- If the passage answers no real question (navigation, boilerplate, a fragment, a bare
  code listing), press **Discard**.
- Records whose `chunk_state` is not `current` show a passage that has since changed or
  gone: skip them.
"""


def question_settings() -> rg.Settings:
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name="passage", title="Passage", use_markdown=True),
            rg.TextField(name="heading", title="Section", required=False),
            rg.TextField(name="source", title="Source document", use_markdown=True),
        ],
        questions=[rg.TextQuestion(name=QUESTION, title=QUESTION_TITLE, required=True)],
        metadata=[
            rg.TermsMetadataProperty(name="doc", title="Document"),
            rg.TermsMetadataProperty(name="split"),
            rg.TermsMetadataProperty(name="chunk_state", title="Chunk state"),
        ],
    )


def ensure_question_dataset(client: rg.Argilla, workspace: str, name: str) -> rg.Dataset:
    """The question dataset, created (with its workspace) on first use."""
    ws, dataset = workspace_and_dataset(client, workspace, name)
    if dataset is None:
        dataset = rg.Dataset(name=name, workspace=ws, settings=question_settings(), client=client)
        return dataset.create()
    if QUESTION not in {q.name for q in dataset.settings.questions}:
        raise ReviewDatasetError(
            f"Argilla dataset {workspace}/{name} exists without the question {QUESTION!r}: "
            "choose another argilla.question_dataset"
        )
    return dataset


def to_record(row: dict[str, Any]) -> rg.Record:
    return rg.Record(
        id=row["record_id"],
        fields={
            "passage": row["passage"],
            "heading": row["heading"] or None,
            "source": row["source"],
        },
        metadata={"doc": row["doc_id"], "split": row["split"], "chunk_state": row["chunk_state"]},
    )


def publish_questions(dataset: rg.Dataset, rows: pd.DataFrame, batch_size: int) -> int:
    """Create or update records in batches (an upsert by record id: responses survive)."""
    sent = 0
    with progress("publishing question records to Argilla", len(rows), "records") as tracker:
        for start in range(0, len(rows), batch_size):
            batch = rows.iloc[start : start + batch_size]
            records = [to_record(r) for r in batch.to_dict("records")]
            dataset.records.log(records, batch_size=batch_size)
            sent += len(records)
            tracker.update(len(records))
    return sent


def fetch_question_responses(client: rg.Argilla, dataset: rg.Dataset) -> pd.DataFrame:
    """Every submitted or discarded response, one row per (record, user) (RESPONSE_COLUMNS)."""
    return fetch_responses(
        client, dataset, ("submitted", "discarded"), row=_row, columns=RESPONSE_COLUMNS
    )


def _row(record: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    text = ((response.get("values") or {}).get(QUESTION) or {}).get("value")
    return {
        "response_id": response["id"],
        "record_id": record.get("external_id") or record["id"],
        "user_id": response["user_id"],
        "status": response["status"],
        "query": text.strip() if isinstance(text, str) and text.strip() else None,
        "updated_at": response["updated_at"],
    }
