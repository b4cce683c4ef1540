"""The headless CLI on a small temp corpus: run, search, export, and its clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sentence_transformers import SentenceTransformer

from orchestration.cli import main
from tests.conftest import write_config
from tests.test_training_data_assets import make_config


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without DAGSTER_HOME the CLI runs on an ephemeral instance, never a developer's own.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


TINY_TRAINING = {
    "max_steps": 2,
    "batch_size": 8,
    "max_seq_length": 48,
    "matryoshka_dims": [384, 64],
}


@pytest.mark.slow
def test_run_then_search_and_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argilla_stack
) -> None:  # type: ignore[no-untyped-def]
    config = make_config(
        tmp_path, training=TINY_TRAINING, argilla={"api_url": argilla_stack.api_url}
    )
    assert main(["--config", str(config), "run"]) == 0
    out = capsys.readouterr().out
    assert "materialized argilla_review_dataset" in out
    assert "materialized human_feedback" in out
    assert "materialized training_splits" in out
    assert "check training_splits_valid: passed" in out
    assert "materialized embedding_evaluation" in out and "succeeded" in out

    assert main(["--config", str(config), "search", "restart the topic 3 worker", "--k", "3"]) == 0
    hits = capsys.readouterr().out
    assert hits.startswith("1. [") and "topic3.md" in hits.splitlines()[0]

    target = tmp_path / "exported"
    assert (
        main(["--config", str(config), "export-model", "--stage", "latest", "--to", str(target)])
        == 0
    )
    model = SentenceTransformer(str(target), device="cpu")
    assert model.encode(["hello"]).shape == (1, 384)


def test_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "missing.yaml"), "run"]) == 2
    assert "configuration file not found" in capsys.readouterr().err

    config = make_config(tmp_path)
    assert main(["--config", str(config), "search", "anything"]) == 2
    assert "run `embedloop run` first" in capsys.readouterr().err

    target = tmp_path / "out"
    assert main(["--config", str(config), "export-model", "--to", str(target)]) == 2
    assert "no production version" in capsys.readouterr().err
    assert not target.exists()


def test_empty_corpus_stops_at_the_quality_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = write_config(tmp_path / "embedloop.yaml", empty, tmp_path / "data")
    assert main(["--config", str(config), "run"]) == 1
    out = capsys.readouterr().out
    assert "check source_documents_valid: FAILED" in out and "FAILED" in out.splitlines()[-1]
    assert main(["--config", str(config), "search", "anything"]) == 2
    assert "the corpus is empty" in capsys.readouterr().err
