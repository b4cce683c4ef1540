"""Enumerate the raw files of each configured documentation source.

`scan_source` yields a `RawFile` for every document and a `Skipped` for every file that
looked like a document but could not be read; a source that fails as a whole (missing
directory, unreachable remote, bad ref) raises `SourceError` instead.

Git URLs and refs come from the config file, so they are handled as untrusted: they are
checked again here (a config built with ``model_construct`` skips pydantic), every git
command ends its options before them, and only plain transports are allowed (``ext::``
runs arbitrary commands). File names are untrusted too: one that is not UTF-8 is skipped,
not passed on, since the warehouse cannot store it.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import git
import pathspec

from embedloop.config import (
    GIT_URL_SCHEMES,
    GitSource,
    LocalSource,
    PythonStdlibSource,
    SourceConfig,
    check_git_ref,
    check_git_url,
    check_source_name,
)
from embedloop.ingestion.parsers import detect_format
from embedloop.ingestion.stdlib_docs import docs_url, render_module

# Git must fail rather than wait: no credential prompts, and stalled transfers abort.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GCM_INTERACTIVE": "never",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30",
    "GIT_HTTP_LOW_SPEED_LIMIT": "1000",  # bytes/s ...
    "GIT_HTTP_LOW_SPEED_TIME": "60",  # ... sustained this many seconds
    # Only these transports, whatever git config says: no ext:: (runs commands), no fd::.
    "GIT_ALLOW_PROTOCOL": ":".join(GIT_URL_SCHEMES),
}
_GIT_TIMEOUT_S = 900  # hard stop for one clone/fetch, however slowly it trickles
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FORGE = re.compile(r"^https://(?:www\.)?(?:github\.com|gitlab\.[\w.-]+)/", re.IGNORECASE)


@dataclass(frozen=True)
class RawFile:
    source: str
    relpath: str
    uri: str
    format: str
    data: bytes


@dataclass(frozen=True)
class Skipped:
    source: str
    relpath: str
    uri: str
    reason: str


class SourceError(RuntimeError):
    """A whole source is unusable; the message starts with ``source '<name>':``."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"source '{source}': {reason}")
        self.source = source


def scan_source(cfg: SourceConfig, cache_dir: Path, max_bytes: int) -> Iterator[RawFile | Skipped]:
    """Yield the documents of one source in sorted relpath order."""
    if isinstance(cfg, LocalSource):
        return _scan_local(cfg, max_bytes)
    if isinstance(cfg, GitSource):
        return _scan_git(cfg, cache_dir, max_bytes)
    if isinstance(cfg, PythonStdlibSource):
        return _scan_stdlib(cfg)
    raise TypeError(f"unknown source config {type(cfg).__name__}")


# --- glob matching --------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _spec(patterns: tuple[str, ...]) -> pathspec.GitIgnoreSpec:
    """pathspec's gitignore matcher, each pattern anchored at the source's root.

    Anchored ("/" + pattern), gitignore globs match the whole relative path as the hand-made
    translation this replaced did (``*`` and ``?`` inside one path segment, ``**/`` across
    segments, ``[!...]``): on 7,600 real paths and 25 patterns both chose the same files, at
    the same speed. Beyond it, a folder pattern (``guide`` or ``guide/``) takes the files
    inside. The anchor also keeps a leading ``!`` literal, as before: no negation.
    """
    return pathspec.GitIgnoreSpec.from_lines("/" + p.lstrip("/") for p in patterns)


def matches(relpath: str, patterns: Iterable[str]) -> bool:
    """Whether a POSIX relpath matches any of the glob patterns (whole-path match)."""
    return _spec(tuple(patterns)).match_file(relpath)


# --- local directories ----------------------------------------------------------------------


def _scan_local(cfg: LocalSource, max_bytes: int) -> Iterator[RawFile | Skipped]:
    root = Path(cfg.path).absolute()
    if not root.exists():
        raise SourceError(cfg.name, f"local path {root} does not exist")
    if not root.is_dir():
        raise SourceError(cfg.name, f"local path {root} is not a directory")
    return scan_tree(cfg.name, root, cfg.include, cfg.exclude, max_bytes, _file_uri(root))


def _file_uri(root: Path) -> Callable[[str], str]:
    return lambda relpath: (root / relpath).as_uri()


def _walk(root: Path) -> Iterator[tuple[str, bool]]:
    """Yield ``(relpath, is_dir_symlink)`` for files and directory symlinks, hidden ones pruned.

    Directory symlinks are yielded, not entered: following them risks loops and duplicates.
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, name)) and not name.startswith("."):
                yield prefix + name, True
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith("."):
                yield prefix + name, False


def scan_tree(
    source: str,
    root: Path,
    include: Iterable[str],
    exclude: Iterable[str],
    max_bytes: int,
    uri_for: Callable[[str], str],
) -> Iterator[RawFile | Skipped]:
    """Yield the documents under ``root``, sorted by relpath.

    Files of no known format are not documents: like excluded and hidden files they are
    passed over silently rather than reported as skipped.
    """
    include, exclude = list(include), list(exclude)
    real_root = root.resolve()
    for relpath, is_dir_link in sorted(_walk(root)):
        if is_dir_link:  # links within the root add nothing: their target is scanned anyway
            target = Path(os.path.realpath(root / relpath))
            if not target.is_relative_to(real_root) and not matches(relpath + "/", exclude):
                yield _skip(source, relpath, uri_for, "symlink escapes source root")
            continue
        fmt = detect_format(relpath)
        if fmt is None or not matches(relpath, include) or matches(relpath, exclude):
            continue
        if _printable(relpath) != relpath:  # bytes that are not UTF-8 (surrogate-escaped)
            yield _skip(source, relpath, uri_for, "file name is not valid UTF-8")
            continue
        yield _load(source, root, real_root, relpath, fmt, max_bytes, uri_for(relpath))


def _printable(name: str) -> str:
    r"""The name with undecodable bytes spelled out (``\xff``): always storable as UTF-8."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _skip(source: str, relpath: str, uri_for: Callable[[str], str], reason: str) -> Skipped:
    return Skipped(source, _printable(relpath), _printable(uri_for(relpath)), reason)


def _load(
    source: str, root: Path, real_root: Path, relpath: str, fmt: str, max_bytes: int, uri: str
) -> RawFile | Skipped:
    path = root / relpath
    reason = _unreadable_reason(path, real_root, max_bytes)
    if reason is None:
        try:
            data = _read_limited(path, max_bytes)
        except OSError as err:
            reason = f"unreadable: {err.strerror or err}"
        else:
            if len(data) > max_bytes:  # grew since stat()
                reason = f"larger than {max_bytes} bytes"
            else:
                return RawFile(source, relpath, uri, fmt, data)
    return Skipped(source, relpath, uri, reason)


def _unreadable_reason(path: Path, real_root: Path, max_bytes: int) -> str | None:
    if path.is_symlink():
        if not path.exists():
            return "broken symlink"
        if not Path(os.path.realpath(path)).is_relative_to(real_root):
            return "symlink escapes source root"
    try:
        info = path.stat()
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    if not stat.S_ISREG(info.st_mode):  # a FIFO named *.md would block the read forever
        return "not a regular file"
    if info.st_size > max_bytes:
        return f"larger than {max_bytes} bytes ({info.st_size} bytes)"
    return None


def _read_limited(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(max_bytes + 1)


# --- git repositories -----------------------------------------------------------------------


def _redact(url: str) -> str:
    """Drop credentials (`https://user:token@host/...`) before a URL is stored or shown."""
    return re.sub(r"^([a-z][\w+.-]*://)[^/@]+@", r"\1", url, flags=re.IGNORECASE)


def _git_failure(cfg: GitSource, action: str, err: Exception) -> SourceError:
    # GitPython wraps git's stderr in a quoted block; its first `fatal:` line says why.
    detail = str(getattr(err, "stderr", "") or err)
    lines = [ln.strip().strip("'\"").strip() for ln in detail.splitlines()]
    lines = [ln.removeprefix("stderr:").strip() for ln in lines if ln]
    reason = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))), None)
    reason = reason or (lines[-1] if lines else type(err).__name__)
    return SourceError(cfg.name, f"cannot {action} {_redact(cfg.url)}: {_redact(reason)}")


def _check_git_source(cfg: GitSource) -> None:
    """Repeat the config checks: the name becomes a directory, url and ref git arguments."""
    try:
        check_source_name(cfg.name)
        check_git_url(cfg.url)
        check_git_ref(cfg.ref.strip())
    except ValueError as err:
        raise SourceError(cfg.name, str(err)) from None


def _open_cached(cfg: GitSource, checkout: Path) -> git.Repo | None:
    """The cached clone if it is intact and points at the configured URL."""
    if not checkout.exists():
        return None
    try:
        repo = git.Repo(checkout)
        if repo.remotes.origin.url == cfg.url:
            repo.git.update_environment(**_GIT_ENV)  # for every later command on this repo
            return repo
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, AttributeError, ValueError):
        pass
    shutil.rmtree(checkout)  # half-finished clone or a changed URL: start over
    return None


def _sync(cfg: GitSource, checkout: Path) -> git.Repo:
    repo = _open_cached(cfg, checkout)
    try:
        if repo is None:
            checkout.parent.mkdir(parents=True, exist_ok=True)
            # clone_from passes `--` before the URL and keeps env for the repo's later commands.
            return git.Repo.clone_from(
                cfg.url,
                checkout,
                env=_GIT_ENV,
                no_checkout=True,
                allow_unsafe_protocols=False,
                allow_unsafe_options=False,
            )
        # `--` everywhere: nothing after it can be read as an option such as --upload-pack.
        repo.git.fetch(
            "--prune", "--tags", "--force", "--", "origin", kill_after_timeout=_GIT_TIMEOUT_S
        )
        # The remote's default branch may have changed; `HEAD` refs follow it.
        repo.git.remote("set-head", "--auto", "--", "origin", kill_after_timeout=_GIT_TIMEOUT_S)
        return repo
    except (git.GitError, OSError) as err:  # OSError: no git binary, unwritable cache
        if repo is None and checkout.exists():
            shutil.rmtree(checkout, ignore_errors=True)
        raise _git_failure(cfg, "clone" if repo is None else "fetch", err) from None


def _resolve(repo: git.Repo, cfg: GitSource) -> str:
    """SHA of ``cfg.ref``: a branch, tag, commit, or HEAD (the remote's default branch)."""
    ref = cfg.ref.strip()
    if ref == "HEAD":
        candidates = ["refs/remotes/origin/HEAD"]
    else:
        # Never plain local branches: the clone's own `main` is not moved by later fetches.
        name = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        candidates = [f"refs/remotes/origin/{name}", f"refs/tags/{name}"]
        if re.fullmatch(r"[0-9a-fA-F]{4,40}", ref):
            candidates.append(ref)
    for candidate in candidates:
        try:
            return _rev_parse(repo, f"{candidate}^{{commit}}")
        except git.GitCommandError:
            continue
    try:  # unadvertised commits or refs such as refs/pull/1/head need an explicit fetch
        repo.git.fetch("--", "origin", ref, kill_after_timeout=_GIT_TIMEOUT_S)
        return _rev_parse(repo, "FETCH_HEAD^{commit}")
    except git.GitCommandError:
        raise SourceError(cfg.name, f"ref '{ref}' not found in {_redact(cfg.url)}") from None


def _rev_parse(repo: git.Repo, rev: str) -> str:
    # rev-parse reads `--` as the start of paths; --end-of-options ends options instead.
    sha = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", rev)
    if not _SHA.fullmatch(sha):  # it goes on to `git checkout`, which has no such marker
        raise git.GitCommandError(["git", "rev-parse", rev], 1, f"not a commit id: {sha!r}")
    return sha


def _blob_uri(url: str, sha: str) -> Callable[[str], str]:
    url = _redact(url).rstrip("/")
    if _FORGE.match(url):
        base = url.removesuffix(".git")
        return lambda path: f"{base}/blob/{sha}/{path}"
    return lambda path: f"{url}#{sha}:{path}"


def _checkout(cfg: GitSource, checkout: Path) -> str:
    """Sync the cached clone and check out the configured ref; returns its SHA."""
    repo = _sync(cfg, checkout)
    try:
        sha = _resolve(repo, cfg)
        # A trailing `--` ends checkout's revision (no paths); sha is verified hex.
        repo.git.checkout("--force", "--detach", sha, "--")
        repo.git.clean("-ffdx", "--")  # stale untracked files from an earlier ref must not leak in
        return sha
    except git.GitCommandError as err:
        raise _git_failure(cfg, "check out", err) from None
    finally:
        repo.close()  # GitPython keeps `git cat-file` helpers alive until closed


def _scan_git(cfg: GitSource, cache_dir: Path, max_bytes: int) -> Iterator[RawFile | Skipped]:
    _check_git_source(cfg)  # before the name becomes a path that may be deleted
    checkout = Path(cache_dir) / "git" / cfg.name
    sha = _checkout(cfg, checkout)
    subpath = cfg.subpath.strip("/")
    root = (checkout / subpath).resolve()
    if not root.is_relative_to(checkout.resolve()) or not root.is_dir():
        raise SourceError(cfg.name, f"subpath '{subpath}' is not a directory at {cfg.ref}")
    prefix = f"{subpath}/" if subpath else ""
    blob_uri = _blob_uri(cfg.url, sha)
    return scan_tree(
        cfg.name, root, cfg.include, cfg.exclude, max_bytes, lambda rel: blob_uri(prefix + rel)
    )


# --- the Python standard library ------------------------------------------------------------


def _scan_stdlib(cfg: PythonStdlibSource) -> Iterator[RawFile | Skipped]:
    for name in sorted(set(cfg.modules)):
        relpath, uri = f"{name}.md", docs_url(name)
        try:
            module = importlib.import_module(name)
        except Exception as err:  # ImportError, or a module that fails while importing
            yield Skipped(cfg.name, relpath, uri, f"cannot import: {type(err).__name__}: {err}")
            continue
        yield RawFile(cfg.name, relpath, uri, "markdown", render_module(module).encode("utf-8"))
