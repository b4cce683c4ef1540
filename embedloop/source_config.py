"""Where the documents come from: the ``sources`` entries of ``embedloop.yaml``.

Source names, git URLs and git refs end up as a cache directory name and as git arguments,
so they are checked as such here; ``embedloop.ingestion.sources`` repeats the checks for
configs built without validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DEFAULT_STDLIB_MODULES = (
    "argparse", "asyncio", "collections", "contextlib", "csv", "dataclasses", "datetime",
    "decimal", "enum", "functools", "glob", "hashlib", "heapq", "http.client", "itertools",
    "json", "logging", "os", "pathlib", "pickle", "random", "re", "shutil", "sqlite3",
    "statistics", "string", "subprocess", "tempfile", "textwrap", "threading", "typing",
    "unittest", "urllib.parse", "uuid", "zipfile",
)  # fmt: skip


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message names the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- names and git arguments: checks shared with the sources layer ---------------------------

_SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
# check-ref-format: no control chars, space, ~ ^ : ? * [ \ anywhere; no `..` or `@{`.
_BAD_REF = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{")
GIT_URL_SCHEMES = ("https", "http", "ssh", "git", "file")
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# `<transport>::<address>` runs the git-remote-<transport> helper; ext:: runs any command.
_REMOTE_HELPER = re.compile(r"[A-Za-z0-9+.-]*::")
_SCP_LIKE = re.compile(r"(?:[\w.~+-]+@)?(?:[\w.-]+|\[[0-9A-Fa-f:.]+\]):")


def check_source_name(name: str) -> str:
    """A name that is one safe path component: it names the source's cache directory."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"source name {name!r} must be a plain directory name: letters, digits, '_', '.' "
            "and '-', not starting with '.' or '-' ('.' and '..' would point at other data)"
        )
    return name


def check_git_ref(ref: str) -> str:
    """A branch, tag, ref path, commit SHA or HEAD, loosely by `git check-ref-format`."""
    if ref.startswith("-"):
        raise ValueError(f"git ref {ref!r} must not start with '-' (git would read an option)")
    parts = ref.split("/")
    if (
        not ref
        or _BAD_REF.search(ref)
        or any(c.isspace() for c in ref)
        or ref == "@"
        or ref.endswith(".")
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    ):
        raise ValueError(f"git ref {ref!r} is not a valid branch, tag, ref or commit SHA")
    return ref


def check_git_url(url: str) -> str:
    """An https, http, ssh, git or file URL, an scp-like `user@host:path`, or a local path."""
    if not url or any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise ValueError("git URL must be non-empty, without control characters")
    if _REMOTE_HELPER.match(url):
        raise ValueError(f"git URL {url!r}: remote-helper transports (ext::, fd::) are refused")
    if re.search(r"(?:^|\s)-", url):
        raise ValueError(f"git URL {url!r} must not start with '-' or hold options such as -u")
    scheme = _URL_SCHEME.match(url)
    if scheme:
        _check_scheme_url(url, scheme.group(1).lower())
    elif ":" in url.split("/", 1)[0]:  # git reads this as scp-like `[user@]host:path`
        scp = _SCP_LIKE.match(url)
        if not scp or url[scp.end() :].startswith("-"):
            raise ValueError(f"git URL {url!r} is neither a URL, user@host:path nor a local path")
    return url


def _check_scheme_url(url: str, scheme: str) -> None:
    if scheme not in GIT_URL_SCHEMES:
        raise ValueError(f"git URL scheme {scheme!r} is not one of {', '.join(GIT_URL_SCHEMES)}")
    if scheme == "file":  # git takes what follows file:// as a path, so it must be absolute
        if not url[len("file://") :].startswith("/"):
            raise ValueError(f"git URL {url!r} must be file:///absolute/path")
        return
    try:
        netloc = urlsplit(url).netloc
    except ValueError as err:  # e.g. an unclosed [IPv6] host
        raise ValueError(f"git URL {url!r} is malformed: {err}") from None
    host = netloc.rpartition("@")[2]
    # A user or host starting with '-' would reach ssh as an option (CVE-2017-1000117).
    if not host or netloc.startswith("-") or host.startswith("-") or re.search(r"\s", url):
        raise ValueError(f"git URL {url!r} needs a host not starting with '-', no whitespace")


def _git_ref(ref: str) -> str:
    # `ref: " main "` always worked (the scanner strips it); keep it working, stored stripped.
    return check_git_ref(ref.strip())


SourceName = Annotated[str, AfterValidator(check_source_name)]


class _SourceBase(Strict):
    name: SourceName = Field(
        description="Unique name of the source (letters, digits, '.', '_', '-'); documents "
        "and splits refer to it."
    )
    include: list[str] = Field(
        default=["**/*"],
        description="Glob patterns of the files to read, matched against the whole path "
        "relative to the source's root: * and ? within a folder, **/ across folders.",
    )
    exclude: list[str] = Field(
        default=[], description="Glob patterns of files to leave out, even when included."
    )


class LocalSource(_SourceBase):
    """A directory on this machine; relative paths resolve against the config file."""

    kind: Literal["local"]
    path: Path = Field(
        description="The directory of .md/.mdx/.rst/.html/.txt/.ipynb files; relative to the "
        "config file."
    )


class GitSource(_SourceBase):
    """A git repository, cloned once into the cache and fetched on later runs."""

    kind: Literal["git"]
    url: Annotated[str, AfterValidator(check_git_url)] = Field(
        description="Clone URL (https, ssh, git or file); cloned into <data_dir>/cache/git/<name>."
    )
    ref: Annotated[str, AfterValidator(_git_ref)] = Field(
        default="HEAD", description="Branch, tag or commit to read."
    )
    subpath: str = Field(
        default="", description="Folder of the repository that holds the docs ('' = all of it)."
    )


class PythonStdlibSource(Strict):
    """The offline sample: docstrings of the running Python's standard library."""

    kind: Literal["python_stdlib"]
    name: SourceName = Field(default="python-stdlib", description="Unique name of the source.")
    modules: list[str] = Field(
        default=list(DEFAULT_STDLIB_MODULES),
        description="Modules whose docstrings are read (default: about 35 common ones).",
    )


SourceConfig = Annotated[LocalSource | GitSource | PythonStdlibSource, Field(discriminator="kind")]
