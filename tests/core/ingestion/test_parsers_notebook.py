"""Notebooks: cells become Markdown and fences; junk cells are skipped, not ingested."""

from __future__ import annotations

import json

import pytest

from embedloop.ingestion.parsers import (
    ParseError,
)
from tests.helpers.parsing import notebook, parse


def test_notebook_cells_become_markdown_and_fences() -> None:
    source = notebook(
        [
            {"cell_type": "markdown", "source": ["## Quickstart\n", "Run a *pipeline*."]},
            {"cell_type": "code", "source": "x = 1\nprint(x)", "outputs": [{"text": "OUT!"}]},
            {"cell_type": "raw", "source": "RAWCELL"},
            {"cell_type": "code", "source": ""},
        ],
        {"language_info": {"name": "Python"}},
    )
    doc = parse(source, "notebook")
    assert doc.title == "Quickstart"
    assert doc.text == "## Quickstart\n\nRun a *pipeline*.\n\n```python\nx = 1\nprint(x)\n```"


def test_notebook_language_from_kernelspec() -> None:
    source = notebook(
        [{"cell_type": "code", "source": "summary(x)"}], {"kernelspec": {"language": "R"}}
    )
    doc = parse(source, "notebook", "analysis")
    assert doc.title == "analysis"
    assert doc.text == "```r\nsummary(x)\n```"


@pytest.mark.parametrize(
    "source", ["{not json", "[1, 2]", '{"metadata": {}}', '{"cells": ["not a cell"]}']
)
def test_malformed_notebook_is_a_parse_error(source: str) -> None:
    with pytest.raises(ParseError, match=r"^malformed notebook"):
        parse(source, "notebook")


# --- notebooks with junk cells ----------------------------------------------------------------


def test_notebook_cells_with_non_text_sources_are_skipped() -> None:
    source = notebook(
        [
            {"cell_type": "markdown", "source": {"a": "DICTSOURCE"}},
            {"cell_type": "code", "source": None},
            {"cell_type": "code", "source": 12345},
            {"cell_type": "code", "source": ["ok = 1\n", 67890]},
            {"cell_type": "markdown", "source": ["# Real\n", "Text."]},
            {"cell_type": "code", "source": "x = 1"},
        ]
    )
    doc = parse(source, "notebook")
    assert doc.text == "# Real\n\nText.\n\n```python\nx = 1\n```"


@pytest.mark.parametrize("bad", [{"a": "b"}, None, 5, [1, 2], ["a", None]])
def test_notebook_without_a_usable_cell_is_a_parse_error(bad: object) -> None:
    source = notebook(
        [{"cell_type": "markdown", "source": bad}, {"cell_type": "code", "source": 1}]
    )
    with pytest.raises(ParseError, match=r"^malformed notebook: no cell has a text source"):
        parse(source, "notebook")


@pytest.mark.parametrize(
    "data",
    [
        {"worksheets": [{"cells": 5}]},
        {"worksheets": [{"cells": None}, 3, {"cells": {"a": 1}}]},
    ],
)
def test_notebook_v3_with_junk_worksheets_is_a_parse_error(data: dict) -> None:
    with pytest.raises(ParseError):
        parse(json.dumps(data), "notebook")


def test_notebook_with_an_overlong_integer_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match=r"^malformed notebook"):
        parse('{"cells": [], "n": ' + "1" * 5000 + "}", "notebook")


def test_notebook_language_cannot_break_the_fence() -> None:
    source = notebook(
        [{"cell_type": "code", "source": "x = 1"}],
        {"language_info": {"name": "py\n# Injected\n```"}, "kernelspec": {"language": "R"}},
    )
    assert parse(source, "notebook").text == "```r\nx = 1\n```"
