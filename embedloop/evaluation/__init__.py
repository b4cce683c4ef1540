"""Evaluation sets with provenance, per-query scoring and the promotion gate.

Plain Python (no Dagster, no ZenML): the ``evaluation_sets`` asset writes the sets to the
warehouse, the ZenML evaluation step scores models on them and gates, and ``embedloop
evaluate`` scores any model on a team's own question file.
"""

from embedloop.evaluation.bootstrap import Interval, paired_bootstrap
from embedloop.evaluation.questions import QuestionFileError, load_question_file
from embedloop.evaluation.sets import SET_NAMES, ChunkIndex, EvalSet, expand_relevance

__all__ = [
    "SET_NAMES",
    "ChunkIndex",
    "EvalSet",
    "Interval",
    "QuestionFileError",
    "expand_relevance",
    "load_question_file",
    "paired_bootstrap",
]
