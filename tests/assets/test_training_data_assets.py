"""Materialize the training-data assets after the ingestion assets, in process."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration.resources import build_resources
from quality.checks import ALL_CHECKS
from tests.helpers.assets import DATA_ASSETS, PAGES, check_results, make_config, meta, query


def run(config: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize([*DATA_ASSETS, *ALL_CHECKS], resources=build_resources(config))


def test_training_data_is_generated_mined_split_and_checked(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    result = run(config)
    assert result.success
    checks = check_results(result)
    assert checks["synthetic_queries_valid"] and checks["training_splits_valid"]
    assert checks["hard_negatives_valid"] and checks["candidate_pairs_valid"]

    generated = meta(result, "synthetic_queries")
    assert generated["chunks_generated"] == generated["chunks"] > 0
    # Fresh pairs are screened (copies, base-model round trip); the table holds what passed.
    assert generated["screened_kept"] == generated["dagster/row_count"] > 0
    assert "| strategy | generated | kept |" in str(generated["screening"])
    pairs = query(config, "SELECT count(*), count(DISTINCT chunk_id) FROM synthetic_queries")[0]
    assert pairs[0] >= 2 * pairs[1]

    negatives = query(
        config,
        "SELECT q.chunk_id, n.negative_chunk_id, c1.doc_id, c1.heading_path, "
        "c2.doc_id, c2.heading_path FROM hard_negatives n "
        "JOIN synthetic_queries q USING (pair_id) "
        "JOIN document_chunks c1 ON c1.chunk_id = q.chunk_id "
        "JOIN document_chunks c2 ON c2.chunk_id = n.negative_chunk_id",
    )
    assert negatives
    for positive, negative, doc1, section1, doc2, section2 in negatives:
        assert positive != negative and (doc1, section1) != (doc2, section2)

    splits = dict(query(config, "SELECT split, count(*) FROM training_splits GROUP BY 1"))
    assert set(splits) <= {"train", "validation", "test"} and splits.get("train", 0) > 0
    docs_in_two = query(
        config,
        "SELECT doc_id FROM training_splits GROUP BY doc_id HAVING count(DISTINCT split) > 1",
    )
    assert docs_in_two == []
    candidate_meta = meta(result, "candidate_pairs")
    assert {"dropped_length", "dropped_copies_passage", "dropped_duplicate_query"} <= set(
        candidate_meta
    )
    assert candidate_meta["with_hard_negative"] > 0
    # No review yet: the training table is the candidate table.
    assert query(config, "SELECT * FROM training_splits ORDER BY pair_id") == query(
        config, "SELECT * FROM candidate_pairs ORDER BY pair_id"
    )

    # Nothing new: no generation work and no re-encoding on the second run.
    again = run(config)
    assert meta(again, "synthetic_queries")["chunks_generated"] == 0
    assert meta(again, "hard_negatives")["texts_encoded"] == 0
    before = query(config, "SELECT pair_id, split FROM training_splits ORDER BY 1")

    # A new page: only its chunks are generated, existing split assignments do not move.
    pages = tmp_path / "pages"
    (pages / "extra.md").write_text(PAGES["topic0.md"].replace("opic 0", "hema X"))
    third = run(config)
    assert 0 < meta(third, "synthetic_queries")["chunks_generated"] <= 3
    after = dict(query(config, "SELECT pair_id, split FROM training_splits"))
    assert all(after[p] == s for p, s in before if p in after)
