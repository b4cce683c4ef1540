"""The warehouse tables of searches: the search log's copy, what reviewers were shown in
Argilla, and what they judged. Kept beside ``embedloop.warehouse`` (same ``Table`` type,
same atomic writes) so that module stays readable."""

from __future__ import annotations

from embedloop.warehouse import REVIEW_TARGET, Table

# The search log (embedloop.searches.log) copied in by the search_log asset: searches people
# ran through the API or the CLI, and their own feedback on the hits.
SEARCHES = Table(
    "searches",
    {
        "search_id": "VARCHAR",
        "searched_at": "TIMESTAMPTZ",
        "query": "VARCHAR",
        "k": "INTEGER",
        "dim": "INTEGER",
        "model_version": "VARCHAR",
        "index_generation": "VARCHAR",
        "chunk_ids": "VARCHAR[]",  # the returned chunks, in rank order
        "scores": "DOUBLE[]",
        "latency_ms": "DOUBLE",
        "user_hash": "VARCHAR",  # hashed: the caller's opaque `user`, '' if none
        "origin": "VARCHAR",  # api | cli
    },
)
SEARCH_FEEDBACK = Table(
    "search_feedback",
    {
        "search_id": "VARCHAR",
        "chunk_id": "VARCHAR",  # '' = none of the hits helped
        "user_hash": "VARCHAR",
        "helpful": "BOOLEAN",
        "rank": "INTEGER",  # the chunk's rank in the search (null for none_helpful)
        "created_at": "TIMESTAMPTZ",
    },
)
# How far search_log has read the log (one row): written with the rows it copied.
SEARCH_LOG_STATE = Table("search_log_state", {"cursor": "VARCHAR", "read_at": "TIMESTAMPTZ"})

# The searches published to the third Argilla dataset (argilla.search_dataset).
SEARCH_RECORDS = Table(
    "search_records",
    {
        "record_id": "VARCHAR",  # s-<search_id>
        "search_id": "VARCHAR",
        "role": "VARCHAR",  # train | evaluate: fixed at publication, never both
        "query": "VARCHAR",  # scrubbed: what annotators see
        "chunk_ids": "VARCHAR[]",  # the passages shown, in rank order
        "top_score": "DOUBLE",
        "searcher_verdict": "VARCHAR",  # unhelpful | helpful | none
        "suggestions": "VARCHAR",  # JSON {position: label} sent (train records only)
        "priority": "INTEGER",
        "searched_at": "TIMESTAMPTZ",
        "content_hash": "VARCHAR",
        "published_at": "TIMESTAMPTZ",
    },
)
SEARCH_TARGET = Table("search_target", REVIEW_TARGET.schema)

# Every search-dataset response version pulled from Argilla; append-only.
SEARCH_HISTORY = Table(
    "search_history",
    {
        "response_id": "VARCHAR",
        "record_id": "VARCHAR",
        "user_id": "VARCHAR",
        "status": "VARCHAR",
        "labels": "VARCHAR",  # JSON {position: answers | partly | does_not}
        "updated_at": "TIMESTAMPTZ",
        "pulled_at": "TIMESTAMPTZ",
    },
)
# One row per judged passage of a published search: the reviewers' verdict.
SEARCH_JUDGMENTS = Table(
    "search_judgments",
    {
        "record_id": "VARCHAR",
        "search_id": "VARCHAR",
        "role": "VARCHAR",  # train | evaluate
        "query": "VARCHAR",
        "chunk_id": "VARCHAR",
        "rank": "INTEGER",  # where the search returned it (position bias, for later work)
        "label": "VARCHAR",  # answers | partly | does_not
        "annotators": "INTEGER",
        "judged_at": "TIMESTAMPTZ",
    },
)
