"""The closing summary of `embedloop run` says what judged the model (issue 20)."""

from __future__ import annotations

from orchestration.run_report import GENERATED_ONLY, summary_rows


def _evaluation(primary: str) -> dict[str, dict[str, object]]:
    return {
        "embedding_evaluation": {
            "ndcg@10_by_dim": {"384": {"base": 0.5, "finetuned": 0.6}},
            "promoted": True,
            "model_version": 2,
            "reason": "promoted: on ...",
            "primary_set": primary,
        }
    }


def test_a_verdict_on_generated_queries_says_so_and_how_to_add_real_ones() -> None:
    rows = dict(map(tuple, summary_rows(_evaluation("synthetic"))))
    assert rows["version 2"] == "promoted to production"
    assert rows["judged on"] == GENERATED_ONLY
    for hint in ("evaluation.question_files", "question task", "min_real_queries"):
        assert hint in GENERATED_ONLY
    real = dict(map(tuple, summary_rows(_evaluation("questions+human"))))
    assert "judged on" not in real and real["nDCG@10 @384: base → finetuned"].endswith("(+20.0%)")
