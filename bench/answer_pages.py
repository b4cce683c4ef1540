"""Real-question scores split by whether each question's answer page trained.

In-corpus, the answer pages of the validation split never train (they pick the checkpoint),
so every in-corpus run also measures "documents never trained on", the protocol of earlier
runs, on the same model and corpus.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.real_questions import Bench
from embedloop.config import load_settings

if TYPE_CHECKING:
    from embedloop.evaluation.scoring import SetScores
    from embedloop.evaluation.sets import EvalSet


def _relative(new: float, old: float) -> float:
    return (new - old) / old if old else 0.0


def by_training(
    bench: Bench, questions: EvalSet, base: SetScores, scores: SetScores, label: str
) -> str:
    """nDCG@10 change over base, for questions whose answer page trained and for those
    whose page never did (validation documents, or every page out-of-corpus)."""
    from embedloop.evaluation.bootstrap import paired_bootstrap
    from embedloop.splits import split_of

    settings = load_settings(bench.train_config)
    trained_splits = bench.meta.get("finetuned_embedding_model", {}).get("training_pairs", {})
    trained = set(trained_splits.get("trained_splits", ["train"])) if bench.in_corpus else set()
    doc = dict(zip(questions.provenance["query_id"], questions.provenance["doc_id"], strict=True))
    groups: dict[bool, list[int]] = {True: [], False: []}
    for i, qid in enumerate(base.query_ids):
        groups[split_of(str(doc[qid]), settings.splits) in trained].append(i)
    parts = []
    for was_trained, rows in groups.items():
        if not rows:
            continue
        cells = []
        for dim in (max(base.metrics), 128):
            b = [base.ndcg[dim][i] for i in rows]
            t = [scores.ndcg[dim][i] for i in rows]
            mb, mt = sum(b) / len(b), sum(t) / len(t)
            ci = paired_bootstrap(t, b)
            cells.append(f"@{dim} {_relative(mt, mb):+.1%} [{ci.low:+.3f}, {ci.high:+.3f}]")
        what = "answer page trained" if was_trained else "answer page never trained"
        parts.append(f"{what} (n={len(rows)}): " + ", ".join(cells))
    return f"{label}: " + "; ".join(parts)
