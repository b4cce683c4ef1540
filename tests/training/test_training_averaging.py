"""Weight averaging with the base model (``training.base_weight``), on the real base model.

A "finetuned" model here is the base model with its weights moved by a known amount, so each
average has an exact expected value; a real finetune then shows the setting reaches the
model the pipeline exports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sentence_transformers import SentenceTransformer

from embedloop.config import Settings, parse_settings
from tests.helpers.training import TOPICS
from training.averaging import average_with_base, choose_base_weight, pick_share
from training.finetune import finetune


@pytest.fixture(scope="module")
def base() -> SentenceTransformer:
    return SentenceTransformer(parse_settings({}).model.resolved_base_model(), device="cpu")


def _moved(base: SentenceTransformer, by: float) -> SentenceTransformer:
    """A copy of ``base`` with every float weight shifted by ``by``."""
    model = SentenceTransformer(parse_settings({}).model.resolved_base_model(), device="cpu")
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(by)
    return model


def _first_weight(model: SentenceTransformer) -> torch.Tensor:
    return next(t for t in model.state_dict().values() if t.is_floating_point()).clone()


def test_the_average_is_the_weighted_midpoint_of_the_two_models(base) -> None:
    reference = _first_weight(base)
    for weight, expected_shift in ((0.0, 1.0), (0.25, 0.75), (0.5, 0.5), (1.0, 0.0)):
        averaged = average_with_base(_moved(base, 1.0), base, weight)
        assert torch.allclose(_first_weight(averaged), reference + expected_shift, atol=1e-5)
    assert torch.equal(_first_weight(base), reference)  # the base model is left as it was


def test_integer_buffers_are_kept_and_outputs_move_with_the_weights(base) -> None:
    averaged = average_with_base(_moved(base, 0.01), base, 0.5)
    for name, tensor in averaged.state_dict().items():
        if not tensor.is_floating_point():
            assert torch.equal(tensor, base.state_dict()[name]), name
    text = ["How do I upgrade a package?"]
    tuned_vec = _moved(base, 0.01).encode(text)[0]
    base_vec, mid_vec = base.encode(text)[0], averaged.encode(text)[0]
    assert mid_vec.tolist() != tuned_vec.tolist() and mid_vec.tolist() != base_vec.tolist()


def test_models_of_different_shapes_or_weights_out_of_range_are_refused(base) -> None:
    with pytest.raises(ValueError, match="within"):
        average_with_base(_moved(base, 0.1), base, 1.5)
    other = _moved(base, 0.1)
    other[0].auto_model.embeddings.word_embeddings = torch.nn.Embedding(10, 384)
    with pytest.raises(ValueError, match="shape"):
        average_with_base(other, base, 0.5)
    with pytest.raises(ValueError):
        Settings.model_validate({"training": {"base_weight": -0.1}})


def test_a_finetune_serves_the_configured_or_the_chosen_average(base) -> None:
    topics = [f"topic {i} explains the setting number {i} of the tool" for i in range(16)]
    chunks = pd.DataFrame({"chunk_id": [f"c{i}" for i in range(16)], "text": topics})
    pairs = pd.DataFrame(
        {"query": [f"what does setting {i} do" for i in range(16)], "positive": topics}
    ).assign(chunk_id=chunks["chunk_id"], negative=None, generator="offline:heading")
    written = pairs.head(6).assign(
        query=[f"how can I change setting {i}?" for i in range(6)], generator="human-question"
    )

    def trained(validation: pd.DataFrame, **training: object) -> tuple[torch.Tensor, dict]:
        fixed = {"max_steps": 4, "batch_size": 4, "max_minutes": None, "min_real_queries": 6}
        settings = Settings.model_validate({"training": {**fixed, **training}})
        result = finetune(settings, pairs, validation, chunks)
        weight = result.model[0].auto_model.encoder.layer[0].attention.self.query.weight
        return weight.detach(), result.hyperparameters

    start = base[0].auto_model.encoder.layer[0].attention.self.query.weight.detach()
    alone, hp = trained(pairs.head(0), base_weight=0.0)
    assert not torch.allclose(alone, start)  # training moved the weights
    assert hp["base_weight_served"] == 0.0
    assert hp["base_weight_chosen_on"] == (
        "training.base_weight (0 written validation questions, fewer than min_real_queries 6)"
    )
    # Same seed, same steps: the averaged model sits halfway between the two.
    halfway, hp = trained(pairs.head(0), base_weight=0.5)
    assert hp["base_weight"] == hp["base_weight_served"] == 0.5
    assert torch.allclose(halfway, (alone + start) / 2, atol=1e-6)

    # Six written validation questions: the share is chosen on them, not configured.
    validation = pd.concat([pairs.tail(4), written], ignore_index=True)
    unaveraged, _ = trained(validation, base_weight=0.0, base_weight_choices=[])
    chosen, hp = trained(validation, base_weight=0.5, base_weight_choices=[0.25, 0.75])
    assert hp["base_weight_chosen_on"] == "written validation questions (n=6)"
    scores = hp["base_weight_validation_ndcg@10"]
    served = hp["base_weight_served"]
    assert set(scores) == {"0.25", "0.5", "0.75"}  # the configured share is a candidate too
    assert served == 0.5 or scores[f"{served:g}"] >= scores["0.5"] + 0.005 - 1e-4
    expected = unaveraged + (start - unaveraged) * served
    assert torch.allclose(chosen, expected, atol=1e-6)


def _damaged(sigma: float) -> SentenceTransformer:
    """The base model with seeded Gaussian noise on every float weight: a finetune gone
    wrong, which an average with the base model repairs in proportion to the base share."""
    model = SentenceTransformer(parse_settings({}).model.resolved_base_model(), device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn(tensor.shape, generator=generator) * sigma)
    return model


def _validation(generator: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    corpus = pd.DataFrame(
        {
            "chunk_id": [f"c{i}" for i in range(len(TOPICS))],
            "text": [f"The {name} {what}." for name, what in TOPICS],
        }
    )
    validation = pd.DataFrame(
        {
            "query": [f"what is a {name} for" for name, _ in TOPICS],
            "chunk_id": corpus["chunk_id"],
            "positive": corpus["text"],
            "generator": generator,
        }
    )
    return validation, corpus


def test_the_base_share_is_chosen_on_questions_people_wrote(base) -> None:
    model = _damaged(0.05)
    before = _first_weight(model)
    validation, corpus = _validation("human-question")
    ts = parse_settings({"training": {"base_weight_choices": [0, 0.5, 0.75]}}).training
    choice = choose_base_weight(model, base, validation, corpus, ts)
    scores = choice.validation_ndcg
    assert set(scores) == {0, 0.5, 0.75}
    assert scores[0] < scores[choice.weight] - 0.1, scores  # the damage is real and repaired
    assert choice.weight == max(scores, key=lambda w: (scores[w], w))
    assert choice.chosen_on == f"written validation questions (n={len(TOPICS)})"
    assert torch.equal(_first_weight(model), before)  # the model is left as it came in


def test_generated_or_too_few_validation_questions_serve_the_configured_share(base) -> None:
    model = _damaged(0.02)
    generated, corpus = _validation("offline:heading")
    ts = parse_settings({"training": {"base_weight": 0.25}}).training
    choice = choose_base_weight(model, base, generated, corpus, ts)
    assert (choice.weight, choice.validation_ndcg) == (0.25, {})
    assert "0 written validation questions, fewer than min_real_queries 30" in choice.chosen_on
    written, _ = _validation("human")
    few = parse_settings({"training": {"base_weight": 0.25, "min_real_queries": 31}}).training
    choice = choose_base_weight(model, base, written, corpus, few)
    assert (choice.weight, choice.chosen_on.split(",")[0]) == (
        0.25,
        f"training.base_weight ({len(TOPICS)} written validation questions",
    )
    off = parse_settings({"training": {"base_weight_choices": []}}).training
    assert choose_base_weight(model, base, written, corpus, off).chosen_on.endswith(
        "(no base_weight_choices)"
    )


def test_a_share_must_surely_beat_the_configured_one_by_the_margin() -> None:
    """The choice is judged like the gate: on the interval of the paired gain, not the
    point difference (issue 20)."""
    rng = np.random.default_rng(0)
    default = rng.uniform(0.3, 0.9, 60)
    steady = {0.0: default - 0.05, 0.5: default, 0.75: default + 0.02}
    assert pick_share(steady, default=0.5, margin=0.005) == 0.75  # +0.02 on every question
    assert pick_share(steady, default=0.5, margin=0.03) == 0.5  # not by the margin
    assert pick_share(steady, default=0.0, margin=0.005) == 0.75
    assert pick_share(steady, default=0.9, margin=0.005) == 0.75  # not scored: the best
    # A larger mean gain that is a few lucky questions: the configured share stays.
    lucky = default.copy()
    lucky[:3] += 0.6
    lucky[3:] -= 0.02
    noisy = {0.5: default, 0.25: np.clip(lucky, 0, 1)}
    assert float(np.mean(noisy[0.25]) - np.mean(default)) > 0.005
    assert pick_share(noisy, default=0.5, margin=0.005) == 0.5
    tied = {0.25: [0.6, 0.6], 0.75: [0.6, 0.6]}
    assert pick_share(tied, default=0.9, margin=0.0) == 0.75  # ties: nearer the base
