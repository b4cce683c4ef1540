"""Assets that turn chunks into training data: synthetic_queries, hard_negatives,
training_splits."""

import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from assets.models import production_model_path
from assets.plots import markdown_table
from assets.synthetic.embeddings import encode_with_cache, model_key
from assets.synthetic.generation import check_failure_ratio, generate_pairs
from assets.synthetic.incremental import refresh_synthetic
from assets.synthetic.negatives import mine
from assets.synthetic.training_set import build_training_set
from assets.warehouse import (
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
from orchestration.resources import LLMResource, SettingsResource

GROUP = "training_data"


@dg.asset(
    deps=["document_chunks"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description="Synthetic (query, passage, negative) pairs from a distilabel pipeline: "
    "offline pseudo-queries by default, or an LLM behind any OpenAI-compatible endpoint.",
)
def synthetic_queries(
    settings: SettingsResource, duckdb: DuckDBResource, llm: LLMResource
) -> dg.MaterializeResult:
    cfg = settings.load()
    started = time.perf_counter()
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, "document_chunks", DOCUMENT_CHUNKS)
        docs = read_table(conn, "source_documents", SOURCE_DOCUMENTS)
        refresh = refresh_synthetic(
            chunks,
            dict(zip(docs["doc_id"], docs["title"], strict=True)),
            read_table(conn, "synthetic_queries", SYNTHETIC_QUERIES),
            read_table(conn, "synthetic_generation_log", GENERATION_LOG),
            cfg.synthetic,
            generate=lambda batch: generate_pairs(
                batch, cfg.synthetic, cfg.cache_dir, api_key=llm.api_key_value()
            ),
            now=datetime.now(UTC),
        )
        counts: dict[str, int] = dict(refresh.report.counts) if refresh.report else {}
        if refresh.report is not None:
            # Too many failures: stop before writing, so the previous data stays intact.
            check_failure_ratio(refresh.report, cfg.synthetic.max_failure_ratio)
        replace_tables(
            conn,
            {
                "synthetic_queries": (SYNTHETIC_QUERIES, refresh.queries),
                "synthetic_generation_log": (GENERATION_LOG, refresh.log),
            },
        )
    queries = refresh.queries
    per_generator = queries.groupby("model").size().sort_values(ascending=False)
    samples = queries.head(8)[["query", "model"]].to_dict("records")
    return dg.MaterializeResult(
        metadata={
            "generator": cfg.synthetic.generator,
            "chunks_generated": dg.MetadataValue.int(refresh.chunks_pending),
            "chunks_reused": dg.MetadataValue.int(refresh.chunks_reused),
            **{k: dg.MetadataValue.int(int(v)) for k, v in sorted(counts.items())},
            "failure_ratio": dg.MetadataValue.float(
                round(refresh.report.failure_ratio, 4) if refresh.report else 0.0
            ),
            "per_generator": dg.MetadataValue.md(
                markdown_table([{"model": k, "pairs": int(v)} for k, v in per_generator.items()])
            ),
            "samples": dg.MetadataValue.md(markdown_table(samples)),
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
def hard_negatives(settings: SettingsResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    from sentence_transformers import SentenceTransformer

    cfg = settings.load()
    started = time.perf_counter()
    model_path = production_model_path(cfg)
    model = SentenceTransformer(model_path, device="cpu" if not _cuda() else "cuda")
    mkey = model_key(model_path)
    with duckdb.get_connection() as conn:
        chunks = read_table(conn, "document_chunks", DOCUMENT_CHUNKS)
        pairs = read_table(conn, "synthetic_queries", SYNTHETIC_QUERIES)
        cache = read_table(conn, "embedding_cache", EMBEDDING_CACHE)
        batch = cfg.hard_negatives.batch_size
        chunk_enc = encode_with_cache(
            model, list(chunks["chunk_id"]), list(chunks["text"]), cache, mkey, batch
        )
        query_enc = encode_with_cache(
            model, list(pairs["pair_id"]), list(pairs["query"]), cache, mkey, batch
        )
        index = {cid: i for i, cid in enumerate(chunks["chunk_id"])}
        sections = (chunks["doc_id"] + "\x1f" + chunks["heading_path"]).tolist()
        mined = mine(
            query_enc.vectors,
            chunk_enc.vectors,
            [index[c] for c in pairs["chunk_id"]],
            sections,
            cfg.hard_negatives,
        )
        negatives = pd.DataFrame(
            [
                {
                    "pair_id": pairs["pair_id"].iat[n.query_index],
                    "negative_chunk_id": chunks["chunk_id"].iat[n.chunk_index],
                    "rank": n.rank,
                    "score": n.score,
                    "positive_score": float(mined.positive_score[n.query_index]),
                    "model_key": mkey,
                }
                for n in mined.negatives
            ],
            columns=list(HARD_NEGATIVES),
        )
        retrieval = pd.DataFrame(
            {
                "pair_id": pairs["pair_id"],
                "positive_rank": mined.positive_rank,
                "positive_score": mined.positive_score,
                "model_key": mkey,
            }
        )
        replace_tables(
            conn,
            {
                "hard_negatives": (HARD_NEGATIVES, negatives),
                "pair_retrieval": (PAIR_RETRIEVAL, retrieval),
                "embedding_cache": (
                    EMBEDDING_CACHE,
                    pd.concat([chunk_enc.cache, query_enc.cache], ignore_index=True),
                ),
            },
        )
    ranks = pd.Series(mined.positive_rank)
    return dg.MaterializeResult(
        metadata={
            "model": model_path,
            "negatives": dg.MetadataValue.int(len(negatives)),
            "queries": dg.MetadataValue.int(len(pairs)),
            "queries_without_negative": dg.MetadataValue.int(
                len(pairs) - negatives["pair_id"].nunique()
            ),
            "texts_encoded": dg.MetadataValue.int(chunk_enc.encoded + query_enc.encoded),
            "texts_from_cache": dg.MetadataValue.int(
                len(chunks) + len(pairs) - chunk_enc.encoded - query_enc.encoded
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
    deps=["synthetic_queries", "hard_negatives", "document_chunks", "human_feedback"],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    description="Filtered pairs with their hard negative and a train/validation/test split "
    "assigned by document, with human review merged in: rejected pairs out, corrected "
    "queries in. The test split is reserved for final evaluation.",
)
def training_splits(settings: SettingsResource, duckdb: DuckDBResource) -> dg.MaterializeResult:
    cfg = settings.load()
    with duckdb.get_connection() as conn:
        built = build_training_set(
            read_table(conn, "synthetic_queries", SYNTHETIC_QUERIES),
            read_table(conn, "hard_negatives", HARD_NEGATIVES),
            read_table(conn, "pair_retrieval", PAIR_RETRIEVAL),
            read_table(conn, "document_chunks", DOCUMENT_CHUNKS),
            cfg,
            feedback=read_table(conn, "feedback_pairs", FEEDBACK_PAIRS),
        )
        replace_tables(conn, {"training_splits": (TRAINING_SPLITS, built.pairs)})
    sizes = built.pairs.groupby("split").size()
    metadata: dict[str, Any] = {
        **{f"{s}_pairs": dg.MetadataValue.int(int(sizes.get(s, 0))) for s in built.split_names},
        **{f"dropped_{k}": dg.MetadataValue.int(v) for k, v in built.dropped.items()},
        "split_sizes": dg.MetadataValue.md(markdown_table(built.split_table())),
        "with_hard_negative": dg.MetadataValue.int(int(built.pairs["negative"].notna().sum())),
        "human_pairs": dg.MetadataValue.int(built.human_pairs),
        "dagster/row_count": dg.MetadataValue.int(len(built.pairs)),
    }
    return dg.MaterializeResult(metadata=metadata)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
