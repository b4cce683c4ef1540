"""Cheap fingerprints of the configured sources: has anything changed since last time?

Ingesting a source hashes every file (and clones or fetches a git remote); the source
sensor asks far more often, so it needs an answer that costs almost nothing:

- ``git``: the commit the configured ref points at on the remote (`git ls-remote`, no
  fetch); a ref that is a full commit SHA never moves.
- ``local``: path, size and mtime of every file the source would read (hidden files and
  excluded paths left out, as ingestion leaves them out), hashed; nothing is read.
- ``python_stdlib``: the interpreter version and the module list.

Each fingerprint also covers the source's own settings, so an edited include pattern or
ref counts as a change. A source that cannot be fingerprinted (remote down, directory
gone) gets an error string instead of a fingerprint: the caller decides what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

import git

from embedloop.config import GitSource, LocalSource, PythonStdlibSource, SourceConfig
from embedloop.ingestion.parsers import detect_format
from embedloop.ingestion.sources import _GIT_ENV, matches

_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
LS_REMOTE_TIMEOUT_S = 60


@dataclass(frozen=True)
class SourceFingerprint:
    name: str
    fingerprint: str | None  # None when the source could not be looked at
    detail: str  # what the fingerprint stands for, or why there is none

    @property
    def ok(self) -> bool:
        return self.fingerprint is not None


def fingerprint_sources(sources: list[SourceConfig]) -> dict[str, SourceFingerprint]:
    return {s.name: fingerprint_source(s) for s in sources}


def fingerprint_source(source: SourceConfig) -> SourceFingerprint:
    settings = source.model_dump_json()
    try:
        if isinstance(source, GitSource):
            state, detail = _git_state(source)
        elif isinstance(source, LocalSource):
            state, detail = _local_state(source)
        elif isinstance(source, PythonStdlibSource):
            state, detail = platform.python_version(), f"Python {platform.python_version()}"
        else:  # pragma: no cover - the config union has no other kind
            raise ValueError(f"unknown source kind {type(source).__name__}")
    except (OSError, ValueError, git.GitError) as err:
        return SourceFingerprint(source.name, None, f"cannot fingerprint: {_first_line(err)}")
    return SourceFingerprint(source.name, _sha(settings, state), detail)


def combined_version(fingerprints: dict[str, str]) -> str:
    """One version for every source together: changes when any of them changes."""
    return _sha(json.dumps(fingerprints, sort_keys=True))[:16]


def _git_state(source: GitSource) -> tuple[str, str]:
    ref = source.ref.strip()
    if _FULL_SHA.fullmatch(ref):
        return ref.lower(), f"pinned commit {ref[:12]}"
    # `--` ends the options: neither the URL nor the ref can be read as one.
    out = str(
        git.cmd.Git().ls_remote(
            "--", source.url, ref, env=_GIT_ENV, kill_after_timeout=LS_REMOTE_TIMEOUT_S
        )
    )
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name:
            refs[name] = sha
    for candidate in _ref_candidates(ref):
        if candidate in refs:
            sha = refs[candidate]
            return sha, f"{candidate} at {sha[:12]}"
    raise ValueError(f"ref {ref!r} not advertised by the remote")


def _ref_candidates(ref: str) -> list[str]:
    if ref == "HEAD" or ref.startswith("refs/"):
        return [ref, f"{ref}^{{}}"]
    # An annotated tag's commit is advertised as `<tag>^{}`; prefer it to the tag object.
    return [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]


def _local_state(source: LocalSource) -> tuple[str, str]:
    root = Path(source.path).absolute()
    if not root.is_dir():
        raise ValueError(f"local path {root} is not a directory")
    digest = hashlib.sha256()
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        for name in sorted(filenames):
            relpath = prefix + name
            if name.startswith(".") or not _read_by_ingestion(source, relpath):
                continue
            st = os.lstat(os.path.join(dirpath, name))
            digest.update(f"{relpath}\0{st.st_size}\0{st.st_mtime_ns}\n".encode(errors="replace"))
            count += 1
    return digest.hexdigest(), f"{count} files under {root}"


def _read_by_ingestion(source: LocalSource, relpath: str) -> bool:
    return (
        detect_format(relpath) is not None
        and matches(relpath, source.include)
        and not matches(relpath, source.exclude)
    )


def _sha(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "stderr", "") or err).strip()
    lines = [ln.strip().strip("'\"") for ln in text.splitlines() if ln.strip()]
    fatal = next((ln for ln in lines if "fatal:" in ln), None)
    return (fatal or (lines[-1] if lines else type(err).__name__))[:300]
