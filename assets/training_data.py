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
from embedloop.embedding_cache import model_key
from embedloop.models import load_encoder, production_model_path
from embedloop.negatives import mine_pairs
from embedloop.pairs.generation import check_failure_ratio, generate_pairs
from embedloop.pairs.incremental import refresh_synthetic
from embedloop.pairs.llm_backends import LLMCredentials
from embedloop.reports import markdown_table
from embedloop.splits import SPLITS
from embedloop.training_set import merge_feedback
from embedloop.warehouse import (
    CANDIDATE_PAIRS,
    DOCUMENT_CHUNKS,
    EMBEDDING_CACHE,
    FEEDBACK_PAIRS,
    GENERATION_LOG,
    HARD_NEGATIVES,
    PAIR_RETRIEVAL,
    SOURCE_DOCUMENTS,
    SYNTHETIC_QUERIES,
    TRAINING_SPLITS,
    read_table,
    replace_tables,
)

GROUP = "training_data"


@dg.asset(
    deps=["document_chunks"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description="Synthetic (query, passage, negative) pairs from a distilabel pipeline: "
    "offline pseudo-queries by default, or an LLM behind any OpenAI-compatible endpoint.",
)
def synthetic_queries(
    settings: dg.ResourceParam[Settings],
    duckdb: DuckDBResource,
    llm: dg.ResourceParam[LLMCredentials],
) -> dg.MaterializeResult:
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        docs = read_table(conn, SOURCE_DOCUMENTS)
        refresh = refresh_synthetic(
            read_table(conn, DOCUMENT_CHUNKS),
            dict(zip(docs["doc_id"], docs["title"], strict=True)),
            read_table(conn, SYNTHETIC_QUERIES),
            read_table(conn, GENERATION_LOG),
            settings.synthetic,
            generate=lambda batch: generate_pairs(
                batch, settings.synthetic, settings.cache_dir, api_key=llm.api_key
            ),
            now=datetime.now(UTC),
        )
        if refresh.report is not None:
            # Too many failures: stop before writing, so the previous data stays intact.
            check_failure_ratio(refresh.report, settings.synthetic.max_failure_ratio)
        replace_tables(conn, {SYNTHETIC_QUERIES: refresh.queries, GENERATION_LOG: refresh.log})
    queries = refresh.queries
    counts = dict(refresh.report.counts) if refresh.report else {}
    per_generator = queries.groupby("model").size().sort_values(ascending=False)
    return dg.MaterializeResult(
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
            "samples": dg.MetadataValue.md(
                markdown_table(queries.head(8)[["query", "model"]].to_dict("records"))
            ),
            "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
            "dagster/row_count": dg.MetadataValue.int(len(queries)),
        }
    )


@dg.asset(
    deps=["synthetic_queries", "document_chunks"],
    group_name=GROUP,
    kinds={"python", "duckdb", "pytorch"},
    description="For each query, the chunks the production model ranks high but that are not "
    "its answer: excluding the positive, its own section and likely false negatives.",
)
def hard_negatives(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    started = time.perf_counter()
    model_path = production_model_path(settings)
    model = load_encoder(model_path)
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, DOCUMENT_CHUNKS)
        pairs = read_table(conn, SYNTHETIC_QUERIES)
        tables = mine_pairs(
            model,
            model_key(model_path),
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
        }
    )


@dg.asset(
    deps=["synthetic_queries", "hard_negatives", "document_chunks"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description="Every generated pair that passes the filters, with its train/validation/"
    "test split (assigned by document) and its best hard negative, before human review: "
    "what reviewers see in Argilla and what training_splits starts from.",
)
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
    return dg.MaterializeResult(metadata=_split_metadata(built))


@dg.asset(
    deps=["candidate_pairs", "human_feedback"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description="candidate_pairs with human review merged in: rejected pairs out, corrected "
    "queries in. The test split is reserved for final evaluation.",
)
def training_splits(duckdb: DuckDBResource) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        built = merge_feedback(
            read_table(conn, CANDIDATE_PAIRS),
            read_table(conn, FEEDBACK_PAIRS),
            read_table(conn, DOCUMENT_CHUNKS),
        )
        replace_tables(conn, {TRAINING_SPLITS: built.pairs})
    metadata = _split_metadata(built)
    metadata["human_pairs"] = dg.MetadataValue.int(built.human_pairs)
    return dg.MaterializeResult(metadata=metadata)


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
