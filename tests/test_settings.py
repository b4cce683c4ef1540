from pathlib import Path

import pytest

from embedloop.config import ConfigError, LocalSource, load_settings, parse_settings


def test_defaults_use_the_stdlib_sample_and_data_dir(tmp_path: Path) -> None:
    settings = parse_settings({}, base=tmp_path)
    assert [s.kind for s in settings.sources] == ["python_stdlib"]
    assert settings.warehouse_path == tmp_path / "data" / "warehouse.duckdb"


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    file = tmp_path / "conf" / "embedloop.yaml"
    file.parent.mkdir()
    file.write_text("data_dir: out\nsources:\n  - {kind: local, name: d, path: ../docs}\n")
    settings = load_settings(file)
    assert settings.data_dir == tmp_path / "conf" / "out"
    source = settings.sources[0]
    assert isinstance(source, LocalSource)
    assert source.path == tmp_path / "docs"


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"chunking": {"max_tokens": 4}}, "chunking.max_tokens", "greater than 16"),
        ({"sources": [{"kind": "git", "name": "g"}]}, "sources.0.git.url", "Field required"),
        ({"sources": [{"kind": "ftp", "name": "x"}]}, "sources.0", "tag 'ftp'"),
        ({"sources": []}, "sources", "at least 1 item"),
        ({"ingestion": {"max_skipped_ratio": 2}}, "ingestion.max_skipped_ratio", "less than"),
        ({"chunking": {"overlap": 3}}, "chunking.overlap", "Extra inputs"),
    ],
)
def test_invalid_config_names_the_key_and_reason(raw: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(raw)
    assert f"{key}:" in str(err.value)
    assert reason in str(err.value)


def test_duplicate_source_names_are_rejected() -> None:
    raw = {"sources": [{"kind": "local", "name": "a", "path": "x"}] * 2}
    with pytest.raises(ConfigError, match="repeated: a"):
        parse_settings(raw)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(bad)
