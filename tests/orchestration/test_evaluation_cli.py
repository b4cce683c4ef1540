"""`embedloop evaluate`: any model on a team's question file, from the command line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from embedloop.warehouse import DOCUMENT_CHUNKS, SOURCE_DOCUMENTS, replace_tables
from orchestration.cli import main
from tests.helpers.evaluation import chunks_frame, documents_frame


@pytest.fixture
def config(tmp_path: Path) -> Path:
    documents = documents_frame().assign(
        title="t", text="x", format="markdown", content_hash="h", bytes=1,
        ingested_at=None, updated_at=None,
    )  # fmt: skip
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as conn:
        replace_tables(conn, {DOCUMENT_CHUNKS: chunks_frame(), SOURCE_DOCUMENTS: documents})
    path = tmp_path / "embedloop.yaml"
    raw = {
        "data_dir": "data",
        "model": {"backend": "torch"},
        "training": {"matryoshka_dims": [384, 64]},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()


def questions(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "questions.csv"
    path.write_text("question,document,answer\n" + body)
    return path


def test_evaluate_prints_the_metrics_per_dim_for_the_base_model(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = questions(
        tmp_path,
        "where are artifacts kept?,guide/stacks.md#artifact-store,\n"
        "I forgot my password,,use the reset link\n"
        "how do I authenticate the client?,https://acme.example/api/client/,\n",
    )
    code = main(["--config", str(config), "evaluate", "--model", "base", "--questions", str(file)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "questions: 3 scored" in out
    lines = out.splitlines()
    header = next(line for line in lines if "nDCG@10" in line)
    assert header.split() == ["dim", "nDCG@10", "MRR@10", "Recall@10"]
    rows = {
        line.split()[0]: [float(v) for v in line.split()[1:]]
        for line in lines[lines.index(header) + 1 :]
    }
    assert set(rows) == {"384", "64"}
    assert all(0 < v <= 1 for values in rows.values() for v in values)


def test_evaluate_explains_a_missing_model_and_a_malformed_file(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = questions(tmp_path, "where are artifacts kept?,guide/stacks.md,\n")
    args = ["--config", str(config), "evaluate", "--questions", str(good), "--model"]
    assert main([*args, "production"]) == 2
    assert "no production model at" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "nothing")]) == 2
    assert "is not a sentence-transformers model directory" in capsys.readouterr().err
    bad = questions(tmp_path, "where are artifacts kept?,guide/nowhere.md,\n")
    args = ["--config", str(config), "evaluate", "--model", "base", "--questions", str(bad)]
    assert main(args) == 2
    assert f"{bad}:2: unknown document 'guide/nowhere.md'" in capsys.readouterr().err
