"""Settings: defaults, path anchoring, and the checks on every key, git arguments included."""

from pathlib import Path

import git
import pytest
import yaml

from embedloop.config import ConfigError, GitSource, LocalSource, load_settings, parse_settings


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


# --- git sources: url and ref become git arguments -------------------------------------------


def git_raw(**fields: str) -> dict:
    return {"sources": [{"kind": "git", "name": "g", "url": "https://example.com/r.git", **fields}]}


def test_option_like_git_ref_is_refused_when_loading(tmp_path: Path) -> None:
    """`ref: --upload-pack=CMD` once ran CMD on the first fetch; the loader now refuses it."""
    repo = git.Repo.init(tmp_path / "origin", initial_branch="main")
    (tmp_path / "origin" / "a.md").write_text("# A\n")
    repo.index.add(["a.md"])
    repo.index.commit("first")
    pwned = tmp_path / "PWNED"
    file = tmp_path / "embedloop.yaml"
    for url in (str(tmp_path / "origin"), (tmp_path / "origin").as_uri()):
        source = {"kind": "git", "name": "g", "url": url, "ref": f"--upload-pack=touch {pwned};"}
        file.write_text(yaml.safe_dump({"sources": [source]}))
        with pytest.raises(ConfigError) as err:
            load_settings(file)
        assert "sources.0.git.ref:" in str(err.value)
        assert "must not start with '-'" in str(err.value)
    assert not pwned.exists()


@pytest.mark.parametrize(
    "ref",
    ["-b", "--upload-pack=x", "a..b", "a b", "a\tb", "a~1", "a^", "a:b", "a?", "a*", "a[",
     "a\\b", "a@{1}", "@", "/a", "a/", "a//b", "a.", ".a", "a/.b", "a.lock", "a\x00b", ""],
)  # fmt: skip
def test_invalid_git_refs_are_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.0\.git\.ref: .*git ref"):
        parse_settings(git_raw(ref=ref))


@pytest.mark.parametrize(
    "ref",
    ["main", "HEAD", "v1.0", "feature/x-y_z", "refs/heads/main", "refs/pull/1/head", "a" * 40,
     "abc123", "  main  "],
)  # fmt: skip
def test_valid_git_refs_are_kept(ref: str) -> None:
    source = parse_settings(git_raw(ref=ref)).sources[0]
    assert isinstance(source, GitSource) and source.ref == ref.strip()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::sh -c touch% PWNED", "remote-helper transports"),
        ("fd::17", "remote-helper transports"),
        ("--upload-pack=touch PWNED", "must not start with '-'"),
        ("-u touch PWNED", "must not start with '-'"),
        ("/srv/repo --upload-pack=touch PWNED", "options such as -u"),
        ("ftp://example.com/r.git", "scheme 'ftp' is not one of"),
        ("ext://example.com/r", "scheme 'ext' is not one of"),
        ("ssh://-oProxyCommand=touch PWNED/r", "host not starting with '-'"),
        ("https:///r.git", "needs a host"),
        ("file://-x", "file:///absolute/path"),
        ("host:-r", "neither a URL"),
        ("", "non-empty"),
    ],
)
def test_unsafe_git_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.0\.git\.url: ") as err:
        parse_settings(git_raw(url=url))
    assert reason in str(err.value)


@pytest.mark.parametrize(
    "url",
    ["https://github.com/zenml-io/zenml.git", "http://git.internal/r", "ssh://git@host:22/r.git",
     "git://host/r.git", "file:///srv/docs.git", "git@github.com:org/r.git", "/srv/docs",
     "../docs", "docs", "/srv/My Docs/repo"],
)  # fmt: skip
def test_ordinary_git_urls_are_valid(url: str) -> None:
    source = parse_settings(git_raw(url=url)).sources[0]
    assert isinstance(source, GitSource) and source.url == url


# --- source names: each names a cache directory ----------------------------------------------

SOURCE_FIELDS = {
    "local": {"path": "docs"},
    "git": {"url": "https://example.com/r.git"},
    "python_stdlib": {},
}


@pytest.mark.parametrize("kind", list(SOURCE_FIELDS))
@pytest.mark.parametrize("name", [".", "..", "-x", ".hidden", "a/b", "../x", "a\\b", ""])
def test_source_names_must_be_plain_directory_names(kind: str, name: str) -> None:
    """`.` once deleted other sources' git clones and `..` the whole cache."""
    raw = {"sources": [{"kind": kind, "name": name, **SOURCE_FIELDS[kind]}]}
    with pytest.raises(ConfigError, match=rf"sources\.0\.{kind}\.name: .*plain directory name"):
        parse_settings(raw)


@pytest.mark.parametrize("kind", list(SOURCE_FIELDS))
@pytest.mark.parametrize("name", ["docs", "python-stdlib", "v1.2", "_x", "Zen_ML-docs.v2"])
def test_ordinary_source_names_are_valid(kind: str, name: str) -> None:
    raw = {"sources": [{"kind": kind, "name": name, **SOURCE_FIELDS[kind]}]}
    assert parse_settings(raw).sources[0].name == name
