"""The catalog skips a file that fails to parse, whatever the failure, and goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from embedloop.config import LocalSource
from embedloop.ingestion import catalog
from embedloop.ingestion.catalog import RefreshResult, default_scanner, refresh_catalog
from embedloop.ingestion.parsers import (
    ParsedDocument,
    parse_document,
)
from embedloop.warehouse import SKIPPED_DOCUMENTS, SOURCE_DOCUMENTS, Table
from tests.helpers.parsing import yaml_bomb

# --- the catalog skips what fails, whatever the failure ---------------------------------------


def _empty(table: Table) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in table.columns})


def _refresh(root: Path, cache: Path) -> RefreshResult:
    return refresh_catalog(
        [LocalSource(kind="local", name="docs", path=root)],
        _empty(SOURCE_DOCUMENTS),
        _empty(SKIPPED_DOCUMENTS),
        scanner=default_scanner(cache, 1_000_000),
        now=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_refresh_skips_a_yaml_bomb_and_ingests_its_neighbour(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "bomb.md").write_text(yaml_bomb(depth=6))  # 9**6 strings: megabytes if expanded
    (root / "good.md").write_text("# Good\n\nFine.\n")
    result = _refresh(root, tmp_path / "cache")
    assert list(result.documents["doc_id"]) == ["docs:good.md"]
    assert result.skipped[["relpath", "reason"]].to_dict("records") == [
        {"relpath": "bomb.md", "reason": "front matter uses YAML aliases"}
    ]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MemoryError(), "parser ran out of memory"),
        (RecursionError("deep"), "document nested too deeply to parse"),
        (KeyError("bug"), "parser failed: KeyError: 'bug'"),
    ],
)
def test_refresh_turns_any_parser_failure_into_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "bad.md").write_text("# Bad\n")
    (root / "good.md").write_text("# Good\n")

    def flaky_parse(data: bytes, fmt: str, fallback_title: str) -> ParsedDocument:
        if fallback_title == "bad":
            raise error
        return parse_document(data, fmt, fallback_title)

    monkeypatch.setattr(catalog, "parse_document", flaky_parse)
    result = _refresh(root, tmp_path / "cache")
    assert list(result.documents["title"]) == ["Good"]
    assert result.skipped[["relpath", "reason"]].to_dict("records") == [
        {"relpath": "bad.md", "reason": reason}
    ]
