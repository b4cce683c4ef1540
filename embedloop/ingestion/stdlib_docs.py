"""The offline sample source: the running Python's stdlib docstrings, rendered as Markdown.

Output follows the parsers' text contract (ATX headings, ``` fences) so it can go through
the Markdown parser like any other document.
"""

from __future__ import annotations

import inspect
import re
import types
from typing import Any

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # `<object object at 0x7f...>` differs per run
_ROLE = re.compile(r":(?:[\w-]+:)*[\w-]+:`~?([^`]*)`")  # Sphinx roles in docstrings: :mod:`json`


def docs_url(module: str) -> str:
    # docs.python.org gives dotted modules their own page (http.client.html, os.path.html).
    return f"https://docs.python.org/3/library/{module}.html#module-{module}"


def _doc(obj: object) -> str:
    if inspect.isclass(obj):  # getdoc would inherit "Common base class for all exceptions."
        own = vars(obj).get("__doc__")
        doc = inspect.cleandoc(own) if isinstance(own, str) else ""
    else:
        doc = inspect.getdoc(obj) or ""
    doc = _ROLE.sub(r"`\1`", doc)
    doc = re.sub(r"(\w)::$", r"\1:", doc, flags=re.M)  # reST literal-block marker
    # A docstring line starting with '#' would read as a heading in Markdown.
    return re.sub(r"^(#+)", r"\\\1", doc, flags=re.M).strip()


def _signature(obj: Any, name: str) -> str | None:
    try:
        signature = str(inspect.signature(obj))
    except (ValueError, TypeError):  # many C functions carry no signature metadata
        return None
    return f"{name}{_ADDRESS.sub('', signature)}"


def _code(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}python\n{text}\n{fence}"


def _section(heading: str, signature: str | None, doc: str) -> list[str]:
    parts = [heading]
    if signature:
        parts.append(_code(signature))
    if doc:
        parts.append(doc)
    return parts


def _public_names(module: types.ModuleType) -> list[str]:
    exported = getattr(module, "__all__", None)
    if isinstance(exported, list | tuple):
        # `__all__` is the module's own word, even for names implemented in a C helper.
        return sorted({n for n in exported if isinstance(n, str) and hasattr(module, n)})
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
    )


def _class_members(cls: type) -> list[str]:
    parts: list[str] = []
    for name in sorted(vars(cls)):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, property):
            doc = _doc(raw)
            parts += _section(f"### {cls.__name__}.{name}", None, doc) if doc else []
            continue
        func = raw.__func__ if isinstance(raw, classmethod | staticmethod) else raw
        if inspect.isroutine(func):
            parts += _section(f"### {cls.__name__}.{name}", _signature(func, name), _doc(func))
    return parts


def render_module(module: types.ModuleType) -> str:
    """`# module`, its docstring, then `## class X` / `### X.method` / `## function`."""
    parts = [f"# {module.__name__}"]
    if doc := _doc(module):
        parts.append(doc)
    names = _public_names(module)
    for name in names:
        value = getattr(module, name)
        if getattr(value, "__name__", name) != name and value.__name__ in names:
            continue  # an alias (zipfile.BadZipfile): documented under its own name
        if inspect.isclass(value):
            sig = _signature(value, f"class {name}") or f"class {name}"
            parts += _section(f"## class {name}", sig, _doc(value))
            parts += _class_members(value)
        elif inspect.isroutine(value):
            parts += _section(f"## {name}", _signature(value, name), _doc(value))
    return "\n\n".join(parts) + "\n"
