"""In-process materialization of the ingestion assets with their GX checks."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from assets.ingestion import document_chunks, ingest_documents
from orchestration.resources import build_resources
from quality.checks import ALL_CHECKS
from tests.helpers.assets import check_results, query
from tests.helpers.config import write_config

INGESTION_ASSETS = [ingest_documents, document_chunks]
INGESTION_CHECKS = [
    c
    for c in ALL_CHECKS
    if {k.asset_key.to_user_string() for k in c.check_keys}
    <= {"source_documents", "document_chunks"}
]


def materialize(config_file: Path, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*INGESTION_ASSETS, *INGESTION_CHECKS],
        resources=build_resources(config_file),
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    events = result.asset_materializations_for_node(
        "ingest_documents" if asset != "document_chunks" else asset
    )
    (event,) = [e for e in events if e.asset_key.to_user_string() == asset]
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def test_first_run_ingests_chunks_and_passes_checks(config_file: Path) -> None:
    result = materialize(config_file)
    assert result.success
    docs = metadata(result, "source_documents")
    assert (docs["added"], docs["changed"], docs["deleted"], docs["skipped"]) == (6, 0, 0, 2)
    assert check_results(result) == {
        "source_documents_valid": True,
        "skipped_ratio_within_limit": True,
        "document_chunks_valid": True,
    }
    skipped = dict(query(config_file, "SELECT relpath, reason FROM skipped_documents"))
    assert set(skipped) == {"logo.md", "empty.md"}

    titles = dict(query(config_file, "SELECT doc_id, title FROM source_documents"))
    assert titles["docs:guide/stacks.md"] == "Stacks guide"
    assert titles["docs:deploy.html"] == "Deploying"

    heading_paths = {r[0] for r in query(config_file, "SELECT heading_path FROM document_chunks")}
    assert "Stacks > Artifact store" in heading_paths
    html_text = " ".join(
        r[0]
        for r in query(config_file, "SELECT text FROM document_chunks WHERE doc_id LIKE '%html'")
    )
    assert "helm install" in html_text and "Copyright footer" not in html_text
    (max_tokens,) = query(config_file, "SELECT max(n_tokens) FROM document_chunks")[0]
    assert max_tokens <= 64

    # The identical support section of two pages is one chunk that remembers both pages.
    (support,) = query(
        config_file, "SELECT doc_ids FROM document_chunks WHERE text LIKE '%community forum%'"
    )
    assert sorted(support[0]) == ["docs:guide/faq.md", "docs:guide/stacks.md"]
    chunk_meta = metadata(result, "document_chunks")
    assert chunk_meta["duplicates_collapsed"] == 1
    assert "data:image/png;base64" in str(chunk_meta["token_histogram"])


def test_rerun_reprocesses_only_changed_added_and_deleted(config_file: Path, corpus: Path) -> None:
    materialize(config_file)
    before = dict(query(config_file, "SELECT doc_id, updated_at FROM source_documents"))

    (corpus / "notes.txt").write_text("Release notes\n\nVersion 2.0 removes stacks.\n")
    (corpus / "api.rst").unlink()
    (corpus / "new.md").write_text("# New page\n\nA brand new page about secrets management.\n")
    result = materialize(config_file)

    docs = metadata(result, "source_documents")
    assert (docs["added"], docs["changed"], docs["unchanged"], docs["deleted"]) == (1, 1, 4, 1)
    chunks = metadata(result, "document_chunks")
    assert (chunks["documents_rechunked"], chunks["documents_removed"]) == (2, 1)
    assert chunks["documents_reused"] == 4

    after = dict(query(config_file, "SELECT doc_id, updated_at FROM source_documents"))
    assert after["docs:guide/stacks.md"] == before["docs:guide/stacks.md"]
    assert after["docs:notes.txt"] > before["docs:notes.txt"]
    assert query(
        config_file, "SELECT deleted FROM source_documents WHERE doc_id='docs:api.rst'"
    ) == [(True,)]
    assert query(
        config_file, "SELECT count(*) FROM document_chunks WHERE doc_id='docs:api.rst'"
    ) == [(0,)]
    texts = " ".join(r[0] for r in query(config_file, "SELECT text FROM document_chunks"))
    assert "Version 2.0" in texts and "Version 1.0" not in texts and "secrets management" in texts

    # Nothing changed: a third run parses and chunks nothing.
    result = materialize(config_file)
    assert metadata(result, "source_documents")["unchanged"] == 6
    assert metadata(result, "document_chunks")["documents_rechunked"] == 0


def test_failed_source_keeps_its_rows_and_other_sources_refresh(
    tmp_path: Path, corpus: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.md").write_text("# A\n\nFirst version of page a.\n")
    sources = [
        {"kind": "local", "name": "docs", "path": str(corpus)},
        {"kind": "local", "name": "other", "path": str(other)},
    ]
    config = write_config(tmp_path / "c.yaml", corpus, tmp_path / "data", sources=sources)
    materialize(config)

    (other / "b.md").write_text("# B\n\nA second page.\n")
    broken = corpus.rename(tmp_path / "moved")
    result = materialize(config, raise_on_error=False)

    assert not result.success
    failure = result.failure_data_for_node("ingest_documents")
    assert failure is not None and "source 'docs'" in str(failure.error)
    counts = dict(
        query(config, "SELECT source, count(*) FROM source_documents WHERE NOT deleted GROUP BY 1")
    )
    assert counts == {"docs": 6, "other": 2}
    assert broken.exists()


def test_file_name_that_is_not_utf8_is_skipped_not_fatal(tmp_path: Path) -> None:
    """One such name once reached DuckDB as a lone surrogate and aborted all ingestion."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA page with an ordinary file name.\n")
    fd = os.open(bytes(docs) + b"/\xff.md", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"# Bad name\n\nFine content under a file name that is not UTF-8.\n")
    os.close(fd)
    config = write_config(
        tmp_path / "c.yaml", docs, tmp_path / "data", ingestion={"max_skipped_ratio": 1.0}
    )
    result = materialize(config)
    assert result.success
    assert query(config, "SELECT doc_id FROM source_documents") == [("docs:good.md",)]
    assert query(config, "SELECT relpath, uri, reason FROM skipped_documents") == [
        ("\\xff.md", docs.as_uri() + "/%FF.md", "file name is not valid UTF-8")
    ]


def test_too_many_skipped_files_block_chunking(tmp_path: Path, corpus: Path) -> None:
    config = write_config(
        tmp_path / "c.yaml", corpus, tmp_path / "data", ingestion={"max_skipped_ratio": 0.1}
    )
    result = materialize(config, raise_on_error=False)
    assert check_results(result)["skipped_ratio_within_limit"] is False
    assert not result.success
    assert "document_chunks" not in {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key
    }


@pytest.mark.parametrize("module", ["orchestration.definitions"])
def test_definitions_load_and_validate(module: str) -> None:
    dg.Definitions.validate_loadable(__import__(module, fromlist=["defs"]).defs)
