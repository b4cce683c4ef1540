"""The headless CLI on a small temp corpus: run, search, export, and its clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from sentence_transformers import SentenceTransformer

from orchestration.cli import main
from tests.helpers.assets import TINY_TRAINING, make_config
from tests.helpers.config import write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_dagster_home(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without DAGSTER_HOME the CLI runs on an ephemeral instance, never a developer's own.
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


@pytest.mark.slow
def test_run_then_search_and_export(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argilla_stack,  # type: ignore[no-untyped-def]
) -> None:
    config = make_config(
        tmp_path, training=TINY_TRAINING, argilla={"api_url": argilla_stack.api_url}
    )
    # Recorded in an instance configured like `make demo`'s.
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "orchestration" / "dagster_local.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["--config", str(config), "run"]) == 0
    out = capsys.readouterr().out
    lines = _step_lines(out)
    for step in ("argilla_review_dataset", "human_feedback", "candidate_pairs", "training_splits"):
        assert lines[step].startswith("done"), lines[step]
    assert lines["check hard_negatives_valid"].endswith("hard_negatives passed")
    assert lines["check training_splits_valid"].endswith("training_splits passed")
    assert lines["embedding_evaluation"].startswith("done")
    # The closing summary, then the verdict.
    assert "model version" in out and "nDCG@10 @384: base → finetuned" in out
    assert "promoted" in out and out.strip().endswith("succeeded")
    assert "generated queries only: no real questions yet" in out  # none in this corpus
    # The long steps' progress is in the run's log, where the Dagster UI shows it.
    run_id = out.strip().split()[-2]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        messages = [entry.user_message for entry in instance.all_logs(run_id)]
        assert instance.run_monitoring_enabled  # the daemon fails runs that never end
    # The round-trip filter encodes the chunks first; mining then finds them cached.
    assert any(m.startswith("encoding chunks (round trip): ") for m in messages)
    assert any(m.startswith("training: ") for m in messages)

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
    card = (target / "README.md").read_text()  # the model card (tests/serving for content)
    assert "## Evaluation (nDCG@10)" in card and "| synthetic |" in card


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

    # An empty directory the user made stays; a file is refused, not overwritten.
    target.mkdir()
    assert main(["--config", str(config), "export-model", "--to", str(target)]) == 2
    assert "no production version" in capsys.readouterr().err
    assert target.is_dir()
    file = tmp_path / "model.bin"
    file.write_text("keep me")
    assert main(["--config", str(config), "export-model", "--to", str(file)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert file.read_text() == "keep me"


def test_empty_corpus_stops_at_the_quality_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    config = write_config(tmp_path / "embedloop.yaml", empty, tmp_path / "data")
    assert main(["--config", str(config), "run"]) == 1
    captured = capsys.readouterr()
    failed = _step_lines(captured.out)["check source_documents_valid"]
    assert failed.startswith("FAILED") and "expect_table_row_count_to_be_between" in failed
    assert "FAILED at check source_documents_valid: source_documents:" in captured.err
    assert main(["--config", str(config), "search", "anything"]) == 2
    assert "no production index yet" in capsys.readouterr().err


def test_a_failed_step_prints_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "embedloop.yaml", tmp_path / "nowhere", tmp_path / "data")
    assert main(["--config", str(config), "run"]) == 1
    captured = capsys.readouterr()
    line = _step_lines(captured.out)["ingest_documents"]
    assert line.startswith("FAILED") and "does not exist" in line
    assert "FAILED at ingest_documents: sources failed" in captured.err
    assert 'File "' not in captured.out + captured.err  # no traceback by default

    assert main(["--config", str(config), "run", "--verbose"]) == 1
    assert 'assets/ingestion.py", line' in capsys.readouterr().out


def _step_lines(out: str) -> dict[str, str]:
    """Step label -> the rest of its line ("done 1.2 s ..."), from `embedloop run` output."""
    lines = {}
    for line in out.splitlines():
        if line.startswith("  ") and ("  done " in line or "  FAILED " in line):
            label, _, rest = line.strip().partition("  ")
            lines[label.strip()] = rest.strip()
    return lines
