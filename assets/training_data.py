"""Group ``training_data``: chunks become (query, passage, hard negative) pairs.

``synthetic_queries`` (``embedloop.pairs``) → ``hard_negatives`` (``embedloop.negatives``) →
``candidate_pairs`` (``embedloop.candidates``: filtered, split by document, one negative
each) → ``training_splits`` (``embedloop.training_set``: candidates with human review
merged in).
"""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from embedloop.candidates import PairSet, build_candidates
from embedloop.config import Settings
from embedloop.data_versions import frame_version
from embedloop.memory import track_memory
from embedloop.models import production_encoder
from embedloop.negatives import mine_pairs
from embedloop.pairs.credentials import LLMCredentials
from embedloop.pairs.generation import check_failure_ratio
from embedloop.pairs.synthetic import run_synthetic, screening_metadata
from embedloop.reports import markdown_table
from embedloop.searches.judgments import search_pairs
from embedloop.searches.tables import SEARCH_FEEDBACK, SEARCH_JUDGMENTS, SEARCHES
from embedloop.splits import SPLITS, split_of
from embedloop.training_set import merge_feedback
from embedloop.warehouse import (
    CANDIDATE_PAIRS,
    DOCUMENT_CHUNKS,
    EMBEDDING_CACHE,
    FEEDBACK_PAIRS,
    GENERATION_LOG,
    HARD_NEGATIVES,
    HUMAN_QUESTIONS,
    PAIR_RETRIEVAL,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    TRAINING_SPLITS,
    read_table,
    replace_tables,
)

GROUP = "training_data"
# Bump when a change to this module changes what the assets write (Dagster marks them stale).
CODE_VERSION = "1"
# created_at records when a pair was generated, not what it is.
_QUERY_COLUMNS = ["pair_id", "chunk_id", "doc_id", "query", "positive", "negative", "model"]


@dg.asset(
    deps=["document_chunks"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"python", "duckdb"},
    description="Synthetic (query, passage, negative) pairs from a distilabel pipeline: "
    "offline pseudo-queries by default, or an LLM behind any OpenAI-compatible endpoint.",
)
@track_memory
def synthetic_queries(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    llm: dg.ResourceParam[LLMCredentials],
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        docs = read_table(conn, SOURCE_DOCUMENTS)
        # New chunks only; fresh pairs are screened (length, copies, base-model round trip).
        step = run_synthetic(
            settings,
            read_table(conn, DOCUMENT_CHUNKS),
            dict(zip(docs["doc_id"], docs["title"], strict=True)),
            read_table(conn, SYNTHETIC_QUERIES),
            read_table(conn, GENERATION_LOG),
            read_table(conn, EMBEDDING_CACHE),
            now=datetime.now(UTC),
            api_key=llm.api_key,
        )
        refresh = step.refresh
        if refresh.report is not None:
            # Too many failures: stop before writing, so the previous data stays intact.
            check_failure_ratio(refresh.report, settings.synthetic.max_failure_ratio)
        tables = {SYNTHETIC_QUERIES: refresh.queries, GENERATION_LOG: refresh.log}
        if refresh.screened is not None and refresh.screened.encoded:
            tables[EMBEDDING_CACHE] = step.cache
        replace_tables(conn, tables)
    queries = refresh.queries
    screening, screened = screening_metadata(refresh.screened)
    counts = dict(refresh.report.counts) if refresh.report else {}
    per_generator = queries.groupby("model").size().sort_values(ascending=False)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(queries, _QUERY_COLUMNS)),
        metadata={
            "generator": settings.synthetic.generator,
            "chunks_generated": dg.MetadataValue.int(refresh.chunks_pending),
            "chunks_reused": dg.MetadataValue.int(refresh.chunks_reused),
            **{k: dg.MetadataValue.int(int(v)) for k, v in sorted(counts.items())},
            "failure_ratio": dg.MetadataValue.float(
                round(refresh.report.failure_ratio, 4) if refresh.report else 0.0
            ),
            "per_generator": dg.MetadataValue.md(
                markdown_table([{"model": k, "pairs": int(v)} for k, v in per_generator.items()])
            ),
            # Why lines of the LLM's answers were not kept as questions (llm generator).
            **{
                f"llm_lines_dropped_{k}": dg.MetadataValue.int(v)
                for k, v in sorted(refresh.report.line_drops.items() if refresh.report else [])
            },
            "samples": dg.MetadataValue.md(
                markdown_table(queries.head(8)[["query", "model"]].to_dict("records"))
            ),
            # This run's fresh pairs per strategy: generated, kept, dropped by reason, copies.
            "screening": dg.MetadataValue.md(markdown_table(screening)),
            **{f"screened_{k}": v for k, v in screened.items()},
            "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
            "dagster/row_count": dg.MetadataValue.int(len(queries)),
        },
    )


@dg.asset(
    deps=["synthetic_queries", "document_chunks"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"python", "duckdb", "pytorch"},
    description="For each query, the chunks the production model ranks high but that are not "
    "its answer: excluding the positive, its own section and likely false negatives.",
)
@track_memory
def hard_negatives(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    encoder = production_encoder(settings)  # the serving backend (model.backend)
    model_path = encoder.path
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        pairs = read_table(conn, SYNTHETIC_QUERIES)
        tables = mine_pairs(
            encoder.model,
            encoder.key,
            chunks,
            pairs,
            read_table(conn, EMBEDDING_CACHE),
            settings.hard_negatives,
        )
        replace_tables(
            conn,
            {
                HARD_NEGATIVES: tables.negatives,
                PAIR_RETRIEVAL: tables.retrieval,
                EMBEDDING_CACHE: tables.cache,
            },
        )
    negatives, mined = tables.negatives, tables.mining
    ranks = pd.Series(mined.positive_rank)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(negatives)),
        metadata={
            "model": model_path,
            "negatives": dg.MetadataValue.int(len(negatives)),
            "queries": dg.MetadataValue.int(len(pairs)),
            "queries_without_negative": dg.MetadataValue.int(
                len(pairs) - negatives["pair_id"].nunique()
            ),
            "texts_encoded": dg.MetadataValue.int(tables.texts_encoded),
            "texts_from_cache": dg.MetadataValue.int(
                len(chunks) + len(pairs) - tables.texts_encoded
            ),
            "excluded_false_negatives": dg.MetadataValue.int(mined.excluded_false_negatives),
            "excluded_same_section": dg.MetadataValue.int(mined.excluded_same_section),
            "positive_recall_at_10": dg.MetadataValue.float(
                round(float((ranks < 10).mean()), 4) if len(ranks) else 0.0
            ),
            "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
            "dagster/row_count": dg.MetadataValue.int(len(negatives)),
        },
    )


@dg.asset(
    deps=["synthetic_queries", "hard_negatives", "document_chunks"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"python", "duckdb"},
    description="Every generated pair that passes the filters, with its train/validation/"
    "test split (assigned by document) and its best hard negative, before human review: "
    "what reviewers see in Argilla and what training_splits starts from.",
)
@track_memory
def candidate_pairs(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        built = build_candidates(
            read_table(conn, SYNTHETIC_QUERIES),
            read_table(conn, HARD_NEGATIVES),
            read_table(conn, PAIR_RETRIEVAL),
            read_table(conn, DOCUMENT_CHUNKS),
            settings,
        )
        replace_tables(conn, {CANDIDATE_PAIRS: built.pairs})
    return dg.MaterializeResult(
        metadata=_split_metadata(built), data_version=dg.DataVersion(frame_version(built.pairs))
    )


@dg.asset(
    deps=["candidate_pairs", "human_feedback", "human_questions", "search_judgments", "search_log"],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"python", "duckdb"},
    description="candidate_pairs with human review merged in: rejected pairs out, corrected "
    "queries, people's questions on train/validation documents and judged searches (train "
    "role) in. The test split is reserved for final evaluation.",
)
@track_memory
def training_splits(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        judgments = read_table(conn, SEARCH_JUDGMENTS)
        searched = search_pairs(
            judgments,
            chunks,
            read_table(conn, SEARCHES),
            read_table(conn, SEARCH_FEEDBACK),
            settings.feedback.trust_searchers,
        )
        searched["split"] = [split_of(d, settings.splits) for d in searched["doc_id"]]
        built = merge_feedback(
            read_table(conn, CANDIDATE_PAIRS),
            read_table(conn, FEEDBACK_PAIRS),
            chunks,
            read_table(conn, HUMAN_QUESTIONS),
            searched,
        )
        replace_tables(conn, {TRAINING_SPLITS: built.pairs})
    metadata = _split_metadata(built)
    metadata["human_pairs"] = dg.MetadataValue.int(built.human_pairs)
    metadata["human_question_pairs"] = dg.MetadataValue.int(built.question_pairs)
    metadata["search_pairs"] = dg.MetadataValue.int(built.search_pairs)
    metadata["judged_searches"] = dg.MetadataValue.int(int(judgments["search_id"].nunique()))
    return dg.MaterializeResult(
        metadata=metadata, data_version=dg.DataVersion(frame_version(built.pairs))
    )


def _split_metadata(built: PairSet) -> dict[str, Any]:
    pairs = built.pairs
    sizes = pairs.groupby("split").size()
    return {
        **{f"{s}_pairs": dg.MetadataValue.int(int(sizes.get(s, 0))) for s in SPLITS},
        **{f"dropped_{k}": dg.MetadataValue.int(v) for k, v in built.dropped.items()},
        "split_sizes": dg.MetadataValue.md(markdown_table(built.split_table())),
        "with_hard_negative": dg.MetadataValue.int(int(pairs["negative"].notna().sum())),
        "dagster/row_count": dg.MetadataValue.int(len(pairs)),
    }
