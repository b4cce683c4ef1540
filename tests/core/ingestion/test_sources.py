"""Sources: local directories, git repositories and the stdlib sample, built in tmp dirs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import git
import pytest

from embedloop.config import GitSource, LocalSource, PythonStdlibSource
from embedloop.ingestion import sources
from embedloop.ingestion.parsers import parse_document
from embedloop.ingestion.sources import RawFile, Skipped, SourceError, matches, scan_source

MAX = 10_000


def local(path: Path, **kwargs: Any) -> LocalSource:
    return LocalSource(kind="local", name="docs", path=path, **kwargs)


def scan(cfg: object, cache: Path, max_bytes: int = MAX) -> list[RawFile | Skipped]:
    return list(scan_source(cfg, cache, max_bytes))  # type: ignore[arg-type]


def files(items: list[RawFile | Skipped]) -> dict[str, RawFile]:
    return {i.relpath: i for i in items if isinstance(i, RawFile)}


def skipped(items: list[RawFile | Skipped]) -> dict[str, str]:
    return {i.relpath: i.reason for i in items if isinstance(i, Skipped)}


# --- glob matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "pattern", "expected"),
    [
        ("a.md", "**/*.md", True),
        ("x/y/a.md", "**/*.md", True),
        ("a.rst", "**/*.md", False),
        ("a.md", "*.md", True),
        ("x/a.md", "*.md", False),  # `*` stays inside one path segment
        ("docs/a.md", "docs/*.md", True),
        ("docs/x/a.md", "docs/**", True),
        ("a/node_modules/b/c.md", "**/node_modules/**", True),
        ("guide/v1.md", "guide/v[0-9].md", True),
        ("guide/va.md", "guide/v[!0-9].md", True),
        ("anything/at/all.txt", "**/*", True),
        ("x/docs/a.md", "docs/*.md", False),  # anchored at the source's root
        ("!a.md", "!a.md", True),  # a leading ! is literal: no negation
        ("guide/a.md", "guide", True),  # a folder takes the files inside (pathspec)
        ("guide/a.md", "guide/", True),
    ],
)
def test_matches(relpath: str, pattern: str, expected: bool) -> None:
    assert matches(relpath, [pattern]) is expected


# --- local sources ----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "guide" / "deep").mkdir(parents=True)
    (root / "guide" / "intro.md").write_text("# Intro\n")
    (root / "guide" / "deep" / "api.rst").write_text("API\n===\n")
    (root / "index.html").write_text("<h1>Home</h1>")
    (root / "logo.png").write_bytes(b"\x89PNG")  # not a document: passed over silently
    (root / ".git").mkdir()
    (root / ".git" / "notes.md").write_text("# hidden")
    (root / "drafts").mkdir()
    (root / "drafts" / "wip.md").write_text("# WIP")
    return root


def test_local_scan_is_sorted_with_formats_and_uris(tree: Path, tmp_path: Path) -> None:
    items = scan(local(tree), tmp_path / "cache")
    assert [i.relpath for i in items] == [
        "drafts/wip.md",
        "guide/deep/api.rst",
        "guide/intro.md",
        "index.html",
    ]
    intro = files(items)["guide/intro.md"]
    assert intro == RawFile(
        "docs", "guide/intro.md", (tree / "guide/intro.md").as_uri(), "markdown", b"# Intro\n"
    )
    assert intro.uri.startswith("file:///")
    assert files(items)["guide/deep/api.rst"].format == "rst"


def test_local_include_and_exclude(tree: Path, tmp_path: Path) -> None:
    cfg = local(tree, include=["**/*.md", "**/*.rst"], exclude=["drafts/**"])
    assert [i.relpath for i in scan(cfg, tmp_path)] == ["guide/deep/api.rst", "guide/intro.md"]


def test_file_over_size_limit_is_skipped(tree: Path, tmp_path: Path) -> None:
    (tree / "big.md").write_text("x" * 101)
    (tree / "small.md").write_text("x" * 100)
    items = scan(local(tree), tmp_path, max_bytes=100)
    assert skipped(items)["big.md"].startswith("larger than 100 bytes")
    assert "small.md" in files(items)


def test_symlinks(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret")
    (tree / "escape.md").symlink_to(outside / "secret.md")
    (tree / "escaped-dir").symlink_to(outside, target_is_directory=True)
    (tree / "broken.md").symlink_to(tree / "missing.md")
    (tree / "alias.md").symlink_to(tree / "guide" / "intro.md")
    (tree / "broken.png").symlink_to(tree / "missing.png")  # not a document either way

    items = scan(local(tree), tmp_path / "cache")
    assert skipped(items) == {
        "escape.md": "symlink escapes source root",
        "escaped-dir": "symlink escapes source root",
        "broken.md": "broken symlink",
    }
    assert files(items)["alias.md"].data == b"# Intro\n"  # links inside the root are followed
    assert not any(i.relpath.startswith("escaped-dir/") for i in items)
    assert all(b"Secret" not in f.data for f in files(items).values())


def test_unreadable_file_is_skipped_with_os_error(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = sources._read_limited

    def deny(path: Path, max_bytes: int) -> bytes:
        if path.name == "intro.md":
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path, max_bytes)

    monkeypatch.setattr(sources, "_read_limited", deny)
    items = scan(local(tree), tmp_path)
    assert skipped(items) == {"guide/intro.md": "unreadable: Permission denied"}
    assert "index.html" in files(items)


def test_non_utf8_file_name_is_skipped_with_a_storable_name(tree: Path, tmp_path: Path) -> None:
    # Linux file names are bytes: os.walk hands \xff back as the lone surrogate \udcff,
    # which no UTF-8 consumer (DuckDB) accepts.
    fd = os.open(bytes(tree) + b"/guide/\xff.md", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"# Bad name\n")
    os.close(fd)
    items = scan(local(tree), tmp_path)
    (bad,) = [i for i in items if isinstance(i, Skipped)]
    assert bad.relpath == "guide/\\xff.md"
    assert bad.reason == "file name is not valid UTF-8"
    for text in (bad.relpath, bad.uri):
        text.encode("utf-8")  # would raise on a surrogate
    assert "guide/intro.md" in files(items)


def test_fifo_is_not_read(tree: Path, tmp_path: Path) -> None:
    os.mkfifo(tree / "pipe.md")  # reading it would block forever
    assert skipped(scan(local(tree), tmp_path))["pipe.md"] == "not a regular file"


def test_missing_local_dir_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^source 'docs': .*does not exist"):
        scan(local(tmp_path / "nope"), tmp_path)


def test_local_path_that_is_a_file_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "file.md").write_text("# x")
    with pytest.raises(SourceError, match=r"^source 'docs': .*not a directory"):
        scan(local(tmp_path / "file.md"), tmp_path)


# --- git sources ------------------------------------------------------------------------------

ACTOR = git.Actor("Test", "test@example.com")


def commit(repo: git.Repo, files_: dict[str, str], message: str) -> str:
    root = Path(repo.working_tree_dir or ".")
    for rel, text in files_.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    repo.index.add(list(files_))
    return repo.index.commit(message, author=ACTOR, committer=ACTOR).hexsha


@pytest.fixture
def origin(tmp_path: Path) -> git.Repo:
    repo = git.Repo.init(tmp_path / "origin", initial_branch="main")
    commit(repo, {"README.md": "# Readme\n", "docs/guide.md": "# Guide v1\n"}, "first")
    repo.create_tag("v1.0")
    commit(repo, {"docs/guide.md": "# Guide v2\n", "docs/api/ref.rst": "Ref\n===\n"}, "second")
    repo.create_head("feature")
    repo.heads.feature.checkout()
    commit(repo, {"docs/feature.md": "# Feature\n"}, "feature work")
    repo.heads.main.checkout()
    return repo


def git_source(origin: git.Repo, **kwargs: Any) -> GitSource:
    url = Path(origin.working_tree_dir or ".").as_uri()
    return GitSource(kind="git", name="repo", url=url, **kwargs)


def test_git_source_branch_tag_and_subpath(origin: git.Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    head = scan(git_source(origin), cache)  # ref HEAD = the remote's default branch
    assert [i.relpath for i in head] == ["README.md", "docs/api/ref.rst", "docs/guide.md"]
    assert files(head)["docs/guide.md"].data == b"# Guide v2\n"
    assert (cache / "git" / "repo" / ".git").is_dir()

    feature = files(scan(git_source(origin, ref="feature"), cache))
    assert "docs/feature.md" in feature

    tagged = files(scan(git_source(origin, ref="v1.0"), cache))
    assert set(tagged) == {"README.md", "docs/guide.md"}  # nothing from later commits leaks in
    assert tagged["docs/guide.md"].data == b"# Guide v1\n"

    sub = scan(git_source(origin, ref="main", subpath="docs", include=["**/*.md"]), cache)
    sha = origin.heads.main.commit.hexsha
    assert [i.relpath for i in sub] == ["guide.md"]
    assert sub[0].uri == f"{git_source(origin).url}#{sha}:docs/guide.md"


def test_git_source_by_sha(origin: git.Repo, tmp_path: Path) -> None:
    first = origin.tags["v1.0"].commit.hexsha
    items = files(scan(git_source(origin, ref=first[:12]), tmp_path))
    assert items["docs/guide.md"].data == b"# Guide v1\n"


def test_git_source_fetches_new_commits(origin: git.Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cfg = git_source(origin, ref="main")
    assert "docs/new.md" not in files(scan(cfg, cache))
    marker = cache / "git" / "repo" / ".git" / "embedloop-test-marker"
    marker.write_text("the clone must be reused, not replaced")
    sha = commit(origin, {"docs/new.md": "# New page\n"}, "third")
    rescanned = files(scan(cfg, cache))  # the clone exists now: this goes through fetch
    assert rescanned["docs/new.md"].data == b"# New page\n"
    assert rescanned["docs/new.md"].uri.endswith(f"#{sha}:docs/new.md")
    assert marker.exists()


def test_unreachable_git_remote_is_a_source_error(tmp_path: Path) -> None:
    cfg = GitSource(kind="git", name="remote", url="file:///nonexistent/repo.git")
    with pytest.raises(SourceError, match=r"^source 'remote': .*file:///nonexistent/repo\.git"):
        scan(cfg, tmp_path)
    assert not (tmp_path / "git" / "remote").exists()  # no half-made clone left behind


def test_bad_ref_and_missing_subpath_are_source_errors(origin: git.Repo, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^source 'repo': ref 'no-such-branch' not found"):
        scan(git_source(origin, ref="no-such-branch"), tmp_path)
    with pytest.raises(SourceError, match=r"^source 'repo': subpath 'nope'"):
        scan(git_source(origin, subpath="nope"), tmp_path)


# --- git arguments from an untrusted config -----------------------------------------------


def unchecked_git_source(url: str, ref: str, name: str = "repo") -> GitSource:
    """A GitSource that skipped pydantic validation, as model_construct allows."""
    return GitSource.model_construct(kind="git", name=name, url=url, ref=ref)


@pytest.mark.parametrize("as_uri", [False, True], ids=["local-path", "file-url"])
def test_option_like_ref_is_refused_and_never_run(
    origin: git.Repo, tmp_path: Path, as_uri: bool
) -> None:
    """`git fetch origin <ref>` once took `--upload-pack=CMD` as an option and ran CMD."""
    repo_dir = Path(origin.working_tree_dir or ".")
    pwned = tmp_path / "PWNED"
    cfg = unchecked_git_source(
        repo_dir.as_uri() if as_uri else str(repo_dir), f"--upload-pack=touch {pwned};"
    )
    with pytest.raises(SourceError, match=r"^source 'repo': git ref '--upload-pack=.*'-'"):
        scan(cfg, tmp_path / "cache")
    assert not pwned.exists()


def test_git_commands_end_options_before_the_ref(origin: git.Repo, tmp_path: Path) -> None:
    """Below the checks: even an unchecked ref reaches git only as a ref, never an option."""
    pwned = tmp_path / "PWNED"
    cfg = unchecked_git_source(str(origin.working_tree_dir), f"--upload-pack=touch {pwned};")
    with pytest.raises(SourceError, match=r"ref '--upload-pack=.*' not found"):
        sources._checkout(cfg, tmp_path / "clone")
    assert not pwned.exists()


def test_ext_transport_is_refused_whatever_git_config_allows(
    origin: git.Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone whose origin became `ext::CMD` must not run CMD, even if the user's git config
    sets `protocol.allow=always` (simulated here through git's GIT_CONFIG_* variables)."""
    checkout = tmp_path / "clone"
    clone = git.Repo.clone_from(str(origin.working_tree_dir), checkout)  # an ordinary clone ...
    pwned = tmp_path / "PWNED"
    evil = f"ext::sh -c touch% {pwned}"
    clone.git.remote("set-url", "origin", evil)  # ... whose remote was then tampered with
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "protocol.allow")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "always")
    with pytest.raises(SourceError, match="transport 'ext' not allowed"):
        sources._sync(unchecked_git_source(evil, "HEAD"), checkout)
    assert not pwned.exists()


@pytest.mark.parametrize(
    ("url", "name", "reason"),
    [
        ("ext::sh -c touch% {pwned}", "repo", "remote-helper transports"),
        ("--upload-pack=touch {pwned}", "repo", "must not start with '-'"),
        ("file:///nonexistent/repo.git", "..", "must be a plain directory name"),
        ("file:///nonexistent/repo.git", ".", "must be a plain directory name"),
    ],
)
def test_unchecked_url_and_name_are_refused_before_git_runs(
    tmp_path: Path, url: str, name: str, reason: str
) -> None:
    cache, pwned = tmp_path / "cache", tmp_path / "PWNED"
    (cache / "git" / "other" / ".git").mkdir(parents=True)  # another source's clone
    cfg = unchecked_git_source(url.format(pwned=pwned), "HEAD", name=name)
    with pytest.raises(SourceError, match=reason):
        scan(cfg, cache)
    assert (cache / "git" / "other" / ".git").is_dir()  # `.` and `..` used to delete it
    assert not pwned.exists()


def test_forge_uris_point_at_the_blob() -> None:
    uri = sources._blob_uri("https://user:token@github.com/org/docs.git", "abc123")
    assert uri("docs/a.md") == "https://github.com/org/docs/blob/abc123/docs/a.md"
    other = sources._blob_uri("ssh://git@example.com/docs.git", "abc123")
    assert other("a.md") == "ssh://example.com/docs.git#abc123:a.md"


# --- python stdlib ----------------------------------------------------------------------------


def test_stdlib_renders_modules_as_markdown(tmp_path: Path) -> None:
    cfg = PythonStdlibSource(kind="python_stdlib", modules=["textwrap", "json"])
    items = scan(cfg, tmp_path)
    assert [i.relpath for i in items] == ["json.md", "textwrap.md"]
    json_doc = files(items)["json.md"]
    assert json_doc.format == "markdown"
    assert json_doc.uri == "https://docs.python.org/3/library/json.html#module-json"
    text = json_doc.data.decode("utf-8")
    assert text.startswith("# json\n\nJSON (JavaScript Object Notation)")
    assert "\n## dumps\n\n```python\ndumps(obj, *, skipkeys=False" in text
    assert "\n## class JSONDecoder\n\n```python\nclass JSONDecoder(*, object_hook=None" in text
    assert "\n### JSONDecoder.decode\n\n```python\ndecode(self, s" in text
    wrap = files(items)["textwrap.md"].data.decode("utf-8")
    assert "\n## dedent\n" in wrap and "\n## class TextWrapper\n" in wrap
    assert "\n### TextWrapper.wrap\n" in wrap
    assert "## _" not in wrap  # private names stay out

    parsed = parse_document(json_doc.data, json_doc.format, "json")
    assert parsed.title == "json"


def test_stdlib_output_is_deterministic(tmp_path: Path) -> None:
    cfg = PythonStdlibSource(kind="python_stdlib", modules=["dataclasses", "functools"])
    first, second = scan(cfg, tmp_path), scan(cfg, tmp_path)
    assert first == second
    assert all(b" at 0x" not in f.data for f in files(first).values())


def test_stdlib_unknown_module_is_skipped(tmp_path: Path) -> None:
    cfg = PythonStdlibSource(kind="python_stdlib", modules=["json", "no_such_module_xyz"])
    items = scan(cfg, tmp_path)
    assert skipped(items)["no_such_module_xyz.md"].startswith("cannot import")
    assert "json.md" in files(items)


def test_default_stdlib_sample_is_fast(tmp_path: Path) -> None:
    import time

    start = time.perf_counter()
    items = scan(PythonStdlibSource(kind="python_stdlib"), tmp_path)
    assert time.perf_counter() - start < 5
    assert len(files(items)) == 35
