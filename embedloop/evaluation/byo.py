"""Bring your own evaluation: any model on a team's own question file, from the CLI.

``embedloop evaluate --model DIR|production|base --questions FILE`` scores the model on the
file's questions against the current ``document_chunks`` (every chunk a candidate), at
every Matryoshka dim it serves. No ZenML: ``production`` is the exported production model
directory, ``base`` the configured base model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from embedloop.config import Settings
from embedloop.evaluation.build import EvalTables, doc_split_lookup
from embedloop.evaluation.faq import without_question_headings
from embedloop.evaluation.questions import load_question_file
from embedloop.evaluation.scoring import SetScores, score_sets
from embedloop.evaluation.sets import EvalSet
from embedloop.metrics import matryoshka_dims
from embedloop.models import hub_offline, load_encoder, production_dir, serving_backend

SHOWN = (("ndcg@10", "nDCG@10"), ("mrr@10", "MRR@10"), ("recall@10", "Recall@10"))


@dataclass(frozen=True)
class QuestionReport:
    model: str  # the reference given
    path: str  # where the model was loaded from
    questions: EvalSet
    scores: SetScores

    def render(self) -> str:
        n, dropped = len(self.scores.query_ids), self.scores.dropped
        lines = [
            f"model: {self.model} ({self.path})",
            f"questions: {n} scored" + (f", {dropped} without a current chunk" if dropped else ""),
            *[f"note: {note}" for note in self.questions.notes],
            "",
            f"{'dim':>5}  " + "  ".join(f"{label:>9}" for _, label in SHOWN),
        ]
        for dim, values in sorted(self.scores.metrics.items(), reverse=True):
            lines.append(f"{dim:>5}  " + "  ".join(f"{values[k]:>9.4f}" for k, _ in SHOWN))
        return "\n".join(lines)


def resolve_model(settings: Settings, ref: str) -> str:
    """``base``, ``production`` or a model directory, as a loadable path."""
    if ref == "base":
        return settings.model.resolved_base_model()
    path = production_dir(settings) if ref == "production" else Path(ref).expanduser()
    if not (path / "modules.json").is_file():
        if ref == "production":
            raise LookupError(f"no production model at {path} yet: run `embedloop run` first")
        raise LookupError(f"{path} is not a sentence-transformers model directory")
    return str(path.resolve())


def evaluate_questions(settings: Settings, model_ref: str, questions: Path) -> QuestionReport:
    """Score ``model_ref`` on the question file against the current chunks."""
    if not settings.warehouse_path.is_file():
        raise LookupError(f"no warehouse at {settings.warehouse_path}: run `embedloop run` first")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        tables = EvalTables.read(conn)
    if tables.chunks.empty:
        raise LookupError("the corpus is empty: no document_chunks yet, run `embedloop run`")
    questions_set = load_question_file(
        questions,
        tables.chunks,
        tables.documents,
        skip_unmatched=settings.evaluation.skip_unmatched,
        doc_split=doc_split_lookup(tables.pairs, settings),
    )
    path = resolve_model(settings, model_ref)
    model = load_encoder(path, serving_backend(settings), settings.cache_dir, hub_offline(settings))
    native = model.get_embedding_dimension() or max(settings.training.matryoshka_dims)
    dims = matryoshka_dims(settings.training.matryoshka_dims, native)
    chunks = without_question_headings(tables.chunks)  # as the gate scores them
    corpus = dict(zip(chunks["chunk_id"], chunks["text"], strict=True))
    scores = score_sets(model, {"questions": questions_set}, corpus, dims)["questions"]
    return QuestionReport(model_ref, path, questions_set, scores)
