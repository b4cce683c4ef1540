"""The evaluation sets of group ``training``, and how ``embedding_evaluation`` shows them.

``evaluation_sets`` writes ``evaluation_queries``: the ``synthetic``, ``human`` and
``questions`` sets (``embedloop.evaluation.build``), one row per query with every relevant
chunk, its source, split and time. The ZenML evaluation step scores base, incumbent and
candidate on exactly these rows, so what the gate saw can always be looked up. It lives in
group ``training`` so that every training run rebuilds it right before evaluating.
"""

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings
from embedloop.evaluation.build import EvalTables, build_eval_sets
from embedloop.evaluation.sets import set_hashes, sets_to_table
from embedloop.memory import track_memory
from embedloop.metrics import PRIMARY
from embedloop.reports import markdown_table
from embedloop.warehouse import EVALUATION_QUERIES, replace_tables

# The group of assets/training.py, which imports this module (so the name lives here).
GROUP = "training"
# Bump when a change here changes what the asset writes (Dagster marks it stale).
CODE_VERSION = "2"
SHOWN_METRICS = (PRIMARY, "mrr@10", "recall@10")


@dg.asset(
    deps=[
        "document_chunks",
        "training_splits",
        "human_feedback",
        "human_questions",
        "search_judgments",
    ],
    group_name=GROUP,
    code_version=CODE_VERSION,
    kinds={"duckdb", "python"},
    description="Evaluation sets with provenance (table evaluation_queries): the synthetic "
    "test split, human questions from Argilla and the team's question files plus FAQ "
    "headings of test documents; every chunk of the answering section is relevant.",
)
@track_memory
def evaluation_sets(
    settings: dg.ResourceParam[Settings], duckdb: DuckDBResource
) -> dg.MaterializeResult:
    with duckdb.get_connection() as conn:
        tables = EvalTables.read(conn)
    try:
        sets = build_eval_sets(settings, tables)
    except ValueError as err:  # a malformed question file, an empty corpus
        raise dg.Failure(str(err)) from err
    frame = sets_to_table(sets, datetime.now(UTC))
    with duckdb.get_connection() as conn:
        replace_tables(conn, {EVALUATION_QUERIES: frame})
    sources = Counter(zip(frame["set_name"], frame["source"], strict=True))
    rows = [{"set": s, "source": src, "queries": n} for (s, src), n in sorted(sources.items())]
    relevant = frame["relevant_chunk_ids"].map(len)
    notes = [note for s in sets.values() for note in s.notes]
    return dg.MaterializeResult(
        metadata={
            **{f"{name}_queries": dg.MetadataValue.int(len(s)) for name, s in sets.items()},
            "by_source": dg.MetadataValue.md(markdown_table(rows)),
            "mean_relevant_chunks": dg.MetadataValue.float(
                round(float(relevant.mean()), 2) if len(relevant) else 0.0
            ),
            "test_set_hash": dg.MetadataValue.json(set_hashes(sets)),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "_none_"),
            "dagster/row_count": dg.MetadataValue.int(len(frame)),
        },
    )


def _set_markdown(name: str, entry: dict[str, Any], native: int) -> str:
    """One set: its size, the candidate - incumbent interval, a table per dim and metric."""
    interval = entry["interval"]
    head = (
        f"**{name}**: n = {entry['n']}; {PRIMARY} at {native}, finetuned - incumbent: "
        f"{interval['difference']:+.4f}, {interval['confidence']:.0%} CI "
        f"[{interval['low']:+.4f}, {interval['high']:+.4f}]"
    )
    rows = [
        {
            "dim": int(dim),
            "metric": metric,
            "base": round(entry["base"][dim][metric], 4),
            "incumbent": round(entry["incumbent"][dim][metric], 4),
            "finetuned": round(tuned[metric], 4),
            "delta vs incumbent": round(tuned[metric] - entry["incumbent"][dim][metric], 4),
        }
        for dim, tuned in sorted(entry["candidate"].items(), key=lambda kv: -int(kv[0]))
        for metric in SHOWN_METRICS
    ]
    return head + "\n\n" + markdown_table(rows)


def evaluation_set_metadata(
    sets: dict[str, Any], primary: str, hashes: dict[str, str], native: int
) -> dict[str, Any]:
    """``embedding_evaluation`` metadata: a Markdown table per set, n and the bootstrap
    interval, every set's nDCG@10 per dim as JSON, and the test-set hash."""
    metadata: dict[str, Any] = {
        "primary_set": primary,
        "test_set_hash": hashes.get("all", ""),
        f"{PRIMARY}_by_set": dg.MetadataValue.json(
            {
                name: {
                    "n": entry["n"],
                    "interval": entry["interval"],
                    "by_dim": {
                        str(dim): {
                            label: entry[label][dim][PRIMARY]
                            for label in ("base", "incumbent", "candidate")
                        }
                        for dim in entry["candidate"]
                    },
                }
                for name, entry in sets.items()
            }
        ),
    }
    for name, entry in sets.items():
        metadata[f"{name}_queries"] = dg.MetadataValue.int(int(entry["n"]))
        if entry["n"]:
            metadata[f"{name}_metrics"] = dg.MetadataValue.md(_set_markdown(name, entry, native))
    return metadata
