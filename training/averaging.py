"""Weight averaging of the finetuned and the base model (WiSE-FT), so finetuning keeps what
the base model already knew.

LLM-free pairs teach the model a team's vocabulary, but they are noisy and narrower than the
billion question-answer pairs the base model learned from: on the Debian FAQ the finetuned
model lost up to 5.8% nDCG@10 on real questions while its synthetic split reported +12%.
Averaging the two models' weights parameter by parameter (Wortsman et al., "Robust
fine-tuning of zero-shot models", 2022) is a known cure for that drift: both models start
from the same weights, so the average stays in the same basin and usually ranks at least as
well as the better of the two, without a second training run or any extra serving cost.

``base_weight`` is the base model's share: 0 keeps the finetuned model as it is, 0.5 is the
midpoint. Only floating-point tensors are averaged; integer buffers (position ids) are the
same in both models and are left alone.

Which share is best depends on how far the training pairs are from what people ask, so it
is chosen on validation, but only on validation questions *people* wrote (``choose_base_weight``):
the generated validation queries are the same kind of text the model was trained on, and
they rate the finetuned model above every average (+12.8% on the Debian FAQ run where real
questions lost 1.1%), so choosing on them would always pick 0. Without enough written
validation questions the configured ``base_weight`` is served.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from sentence_transformers import SentenceTransformer

from embedloop.config import TrainingSettings
from embedloop.evaluation.bootstrap import paired_bootstrap
from embedloop.evaluation.scoring import score_sets
from embedloop.evaluation.sets import EvalSet
from embedloop.training_set import HUMAN_GENERATORS
from training.data import ir_inputs


def average_with_base(
    model: SentenceTransformer, base: SentenceTransformer, base_weight: float
) -> SentenceTransformer:
    """``model`` with every float weight set to ``(1 - w) * finetuned + w * base``, in place.

    Refuses two models of different shapes: an average of unrelated weights is no model.
    """
    if not 0 <= base_weight <= 1:
        raise ValueError(f"base_weight must be within [0, 1], got {base_weight}")
    if base_weight == 0:
        return model
    tuned_state = model.state_dict()
    base_state = base.state_dict()
    if tuned_state.keys() != base_state.keys():
        missing = sorted(tuned_state.keys() ^ base_state.keys())[:3]
        raise ValueError(f"cannot average models with different layers (e.g. {missing})")
    done: set[int] = set()  # tied weights share storage: average each storage once
    with torch.no_grad():
        for name, tensor in tuned_state.items():
            other = base_state[name]
            if tensor.shape != other.shape:
                raise ValueError(
                    f"cannot average {name}: shape {tuple(tensor.shape)} vs {tuple(other.shape)}"
                )
            if tensor.is_floating_point() and tensor.data_ptr() not in done:
                done.add(tensor.data_ptr())
                tensor.lerp_(other.to(tensor.device, tensor.dtype), base_weight)
    return model


@dataclass(frozen=True)
class WeightChoice:
    """The base share served, why, and each candidate's validation nDCG@10 (native dim)."""

    weight: float
    chosen_on: str
    validation_ndcg: dict[float, float] = field(default_factory=dict)

    def as_metadata(self) -> dict[str, object]:
        return {
            "base_weight_served": self.weight,
            "base_weight_chosen_on": self.chosen_on,
            "base_weight_validation_ndcg@10": {
                f"{w:g}": round(v, 4) for w, v in self.validation_ndcg.items()
            },
        }


def written_queries(validation: pd.DataFrame) -> pd.DataFrame:
    """The validation pairs whose query a person wrote."""
    if "generator" not in validation:
        return validation.head(0)
    return validation[validation["generator"].isin(HUMAN_GENERATORS)]


def choose_base_weight(
    model: SentenceTransformer,
    base: SentenceTransformer,
    validation: pd.DataFrame,
    corpus: pd.DataFrame,
    settings: TrainingSettings,
) -> WeightChoice:
    """The base share among ``settings.base_weight_choices`` (and ``base_weight``) whose
    average ranks the written validation questions best, by ``pick_share``.

    ``model`` is left as it came in. With fewer than ``min_real_queries`` written questions,
    or no choices, the answer is ``settings.base_weight``.
    """
    written = written_queries(validation)
    choices = sorted(set(settings.base_weight_choices))
    choices = sorted({*choices, settings.base_weight}) if choices else []
    inputs = ir_inputs(written, corpus) if len(written) else None
    n = len(inputs.queries) if inputs else 0
    if not choices or inputs is None or n < settings.min_real_queries:
        why = (
            "no base_weight_choices"
            if not choices
            else f"{n} written validation questions, fewer than min_real_queries "
            f"{settings.min_real_queries}"
        )
        return WeightChoice(settings.base_weight, f"training.base_weight ({why})")
    native = int(model.get_embedding_dimension() or 0)
    written_set = EvalSet("written_validation", inputs.queries, inputs.relevant_docs)
    tuned = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    per_query: dict[float, list[float]] = {}
    try:
        for weight in choices:
            average_with_base(model, base, weight)
            scored = score_sets(model, {"w": written_set}, inputs.corpus, [native])["w"]
            per_query[weight] = scored.ndcg[native]
            model.load_state_dict(tuned)
    finally:
        model.load_state_dict(tuned)
    scores = {w: sum(v) / len(v) if v else 0.0 for w, v in per_query.items()}
    gate = (settings.bootstrap_resamples, settings.confidence, settings.seed)
    best = pick_share(per_query, settings.base_weight, settings.promotion_margin, *gate)
    return WeightChoice(best, f"written validation questions (n={n})", scores)


def pick_share(
    per_query: Mapping[float, Sequence[float]],
    default: float,
    margin: float,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> float:
    """The share with the best mean nDCG@10, if the paired-bootstrap lower bound of its
    gain over ``default`` on the same questions reaches ``margin``; else ``default``. Ties
    go to the larger share, nearer the base model.

    A few dozen questions rank the shares noisily: on the in-corpus Debian FAQ, a share
    chosen by a point difference on half of the questions served +0.2% on the other half
    where the fixed 0.5 served +1.3% (gitfaq: +0.6% against +2.8%). So, as in the
    promotion gate, the configured share stays unless another one is surely better.
    """
    scores = {w: sum(v) / len(v) if len(v) else 0.0 for w, v in per_query.items()}
    best = max(scores, key=lambda w: (scores[w], w))
    if default not in scores or best == default:
        return best
    gain = paired_bootstrap(per_query[best], per_query[default], resamples, confidence, seed)
    return best if gain.low + 1e-9 >= margin else default
