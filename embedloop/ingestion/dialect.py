"""The one Markdown dialect every parser emits, and the helpers that write and read it.

All parsers emit ATX headings, ``` fences, ``- `` list items, blank-line separated
paragraphs and no HTML, so the chunker only has to understand one thing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# A backtick fence's info string cannot contain backticks (CommonMark): "```a`b" is prose.
_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}(?=[^`]*$)|~{3,})(.*)$")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")


def fence(code: str, lang: str = "") -> str:
    """A fenced block long enough that backtick runs inside the code cannot close it."""
    code = code.strip("\n")
    longest = max((len(m) for m in re.findall(r"`{3,}", code)), default=2)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{code}\n{ticks}"


def escape_paragraph(text: str) -> str:
    """Keep prose such as "# of retries" or "```" from reading as a heading or a fence."""
    return "\\" + text if re.match(r"^(#{1,6}(\s|$)|```|~~~)", text) else text


def _line_kinds(text: str) -> Iterator[tuple[str, str]]:
    """Yield ``(line, kind)``, kind being "text", "open", "code" or "close"."""
    closing: str | None = None
    for line in text.split("\n"):
        stripped = line.strip()
        if closing is not None:
            if stripped.startswith(closing) and set(stripped) == {closing[0]}:
                closing = None
                yield line, "close"
            else:
                yield line, "code"
            continue
        opening = _FENCE_OPEN.match(line)
        if opening:
            closing = opening.group(1)
            yield line, "open"
            continue
        yield line, "text"


def iter_lines_outside_fences(text: str) -> Iterator[tuple[str, bool]]:
    """Yield ``(line, in_code)`` pairs; fence delimiter lines count as code."""
    for line, kind in _line_kinds(text):
        yield line, kind != "text"


def finalize(text: str) -> str:
    """Trim trailing spaces, collapse blank-line runs and set headings and fences apart.

    Code inside fences is left verbatim.
    """
    out: list[str] = []
    need_blank = False  # the previous line was a heading or a closing fence
    for line, kind in _line_kinds(text.replace("\r\n", "\n").replace("\r", "\n")):
        if kind == "text":
            line = line.rstrip()
            if not line:
                if out and out[-1]:
                    out.append("")
                need_blank = False
                continue
        if kind in ("code", "close"):
            out.append(line)
            need_blank = kind == "close"
            continue
        is_heading = ATX_HEADING.match(line) is not None
        if out and out[-1] and (need_blank or is_heading or kind == "open"):
            out.append("")
        out.append(line)
        need_blank = is_heading
    return "\n".join(out).strip("\n")


def first_heading(text: str, max_level: int = 1) -> str | None:
    """The first ATX heading at ``max_level`` or shallower, ignoring code blocks."""
    for line, in_code in iter_lines_outside_fences(text):
        match = None if in_code else ATX_HEADING.match(line)
        if match and len(match.group(1)) <= max_level and match.group(2):
            return match.group(2).strip()
    return None
