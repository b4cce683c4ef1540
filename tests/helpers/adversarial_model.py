"""A candidate model built to be better on the synthetic test queries and worse on real ones.

The base model plus one linear layer, trained here (Adam on fixed base embeddings, seeded)
to send the synthetic queries to their passages and the real questions to a wrong passage.
Deterministic and fast; the evaluation pipeline then sees an ordinary sentence-transformers
model that improves the proxy while hurting the people who ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

STEPS = 300


def _embed(model, texts: Sequence[str]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.tensor(model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False))


def _loss(weight: torch.Tensor, queries: torch.Tensor, corpus: torch.Tensor, targets: torch.Tensor):
    q = torch.nn.functional.normalize(queries @ weight.T, dim=-1)
    c = torch.nn.functional.normalize(corpus @ weight.T, dim=-1)
    return torch.nn.functional.cross_entropy(20 * q @ c.T, targets)


def build_adversarial_model(
    base_path: str,
    corpus: Sequence[str],
    synthetic: Sequence[tuple[str, int]],
    real: Sequence[tuple[str, int]],
    target: Path,
) -> Path:
    """Save base + Dense(W) to ``target``: synthetic (query, corpus index) pairs pulled
    together, each real question pulled towards the passage after its answer."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Dense

    torch.manual_seed(0)
    base = SentenceTransformer(base_path, device="cpu")
    chunks = _embed(base, corpus)
    syn_q, syn_t = _embed(base, [q for q, _ in synthetic]), torch.tensor([t for _, t in synthetic])
    real_q = _embed(base, [q for q, _ in real])
    wrong = torch.tensor([(t + 1) % len(corpus) for _, t in real])
    dim = chunks.shape[1]
    weight = torch.eye(dim).requires_grad_(True)
    optimizer = torch.optim.Adam([weight], lr=1e-2)
    for _ in range(STEPS):
        optimizer.zero_grad()
        loss = _loss(weight, syn_q, chunks, syn_t) + _loss(weight, real_q, chunks, wrong)
        loss.backward()
        optimizer.step()
    dense = Dense(dim, dim, bias=False, activation_function=torch.nn.Identity(),
                  init_weight=weight.detach().clone())  # fmt: skip
    SentenceTransformer(modules=[*base, dense], device="cpu").save(str(target))
    return target
