"""What `embedloop export-model` writes beside the model: the model card's content, from
metadata shaped as training/steps.py logs it, and the OpenVINO copy for serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embedloop.model_card import CardFacts, render_model_card

INTERVAL = {"n": 40, "difference": 0.031, "low": 0.012, "high": 0.05, "confidence": 0.95}
METADATA = {
    "data_snapshot": {
        "hash": "cb3d029a",
        "rows": {"train": 25, "validation": 10, "test": 16, "chunks": 30},
        "trained_splits": ["train"],
    },
    "dagster_run_id": "2f9c-run",
    "evaluation": {
        "native_dim": 384,
        "primary_set": "questions+human",
        "incumbent_source": "production version 3",
        "sets": {
            "questions": {
                "n": 40,
                "candidate": {"384": {"ndcg@10": 0.61}, "128": {"ndcg@10": 0.57}},
                "base": {"384": {"ndcg@10": 0.55}, "128": {"ndcg@10": 0.5}},
                "incumbent": {"384": {"ndcg@10": 0.58}, "128": {"ndcg@10": 0.55}},
                "interval": INTERVAL,
            },
            "synthetic": {
                "n": 120,
                "candidate": {"384": {"ndcg@10": 0.91}},
                "base": {"384": {"ndcg@10": 0.88}},
                "incumbent": {"384": {"ndcg@10": 0.9}},
                "interval": {**INTERVAL, "low": -0.004, "high": 0.02},
            },
        },
    },
    "promotion": {"reason": "promoted: on questions+human ...", "test_set_hash": "d2556"},
}


def test_card_names_base_data_scores_and_provenance() -> None:
    card = render_model_card(
        CardFacts(
            model_name="embedloop-embeddings",
            version=4,
            stage="production",
            base_model="intfloat/e5-small-v2",
            zenml_version="0.98.0",
            metadata=METADATA,
            extra_files=("openvino/openvino_model.xml",),
        )
    )
    assert card.startswith("---\nlibrary_name: sentence-transformers\n")
    assert "base_model: intfloat/e5-small-v2" in card
    assert "# embedloop-embeddings version 4" in card and "**production**" in card
    # nDCG@10 per set and dim; the gate's interval on the native dim's row.
    assert "| questions | 40 | 384 | 0.6100 | 0.5500 | 0.5800 | [0.0120, 0.0500] |" in card
    assert "| questions | 40 | 128 | 0.5700 | 0.5000 | 0.5500 |  |" in card
    assert "| synthetic | 120 | 384 | 0.9100 | 0.8800 | 0.9000 | [-0.0040, 0.0200] |" in card
    assert "`questions+human`; compared with production version 3" in card
    assert "| hash | cb3d029a |" in card and "| rows.train | 25 |" in card
    assert "| ZenML | 0.98.0 |" in card and "| Dagster run | 2f9c-run |" in card
    assert "| test set hash | d2556 |" in card
    assert "- `openvino/openvino_model.xml`" in card
    assert "encode_query" in card and "encode_document" in card


def test_card_without_evaluation_says_so() -> None:
    card = render_model_card(CardFacts("m", 1, "staging", "base", "0.98.0", {}))
    assert "Gate: not evaluated" in card and "| Dagster run | — |" in card


def test_openvino_copy_gives_the_torch_hidden_states(base_path: str, tmp_path: Path) -> None:
    import openvino as ov
    import torch
    from sentence_transformers import SentenceTransformer

    from training.registry import write_openvino_copy

    model = SentenceTransformer(base_path, device="cpu")
    relative = write_openvino_copy(model, tmp_path)
    assert relative == "openvino/openvino_model.xml"
    compiled = ov.Core().compile_model(str(tmp_path / relative), "CPU")
    features = model.tokenize(["How do I upgrade Debian?", "apt full-upgrade"])
    inputs = {
        i.get_any_name(): features[i.get_any_name()].numpy()
        for i in compiled.inputs
        if i.get_any_name() in features
    }
    if "token_type_ids" in [i.get_any_name() for i in compiled.inputs] and (
        "token_type_ids" not in inputs
    ):
        inputs["token_type_ids"] = np.zeros_like(inputs["input_ids"])
    hidden = np.asarray(compiled(inputs)[0])
    with torch.no_grad():
        expected = model[0].auto_model(**features).last_hidden_state.numpy()
    assert hidden.shape == expected.shape
    # The same float32 graph: every token's state points the same way (as the openvino
    # backend's vectors match torch's, tests/test_encoders.py).
    cosine = (hidden * expected).sum(-1) / (
        np.linalg.norm(hidden, axis=-1) * np.linalg.norm(expected, axis=-1)
    )
    assert cosine.min() > 0.999
