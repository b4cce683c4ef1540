"""Markdown and MDX land in the one Markdown dialect; front matter is data, never a bomb;
raw HTML in Markdown is dropped."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from embedloop.ingestion.parsers import (
    MAX_FRONT_MATTER_CHARS,
    MAX_TITLE_CHARS,
    ParseError,
)
from tests.helpers.parsing import ROOT, parse, yaml_bomb

# --- markdown ---------------------------------------------------------------------------------


def test_markdown_front_matter_title_wins_and_is_stripped() -> None:
    doc = parse(
        "---\ntitle: From Front Matter\ntags: [a, b]\n---\n# Heading\n\nBody.\n", "markdown"
    )
    assert doc.title == "From Front Matter"
    assert "tags:" not in doc.text
    assert doc.text.startswith("# Heading\n\nBody.")


def test_markdown_title_from_first_h1_else_fallback() -> None:
    assert parse("Intro\n\n## Two\n\n# One\n", "markdown").title == "One"
    assert parse("## Only level two\n\ntext\n", "markdown", "my-page").title == "my-page"


def test_markdown_setext_headings_become_atx() -> None:
    doc = parse("Big Title\n=========\n\nText.\n\nSmaller\n-------\n\nMore.\n", "markdown")
    assert doc.title == "Big Title"
    assert doc.text == "# Big Title\n\nText.\n\n## Smaller\n\nMore."


def test_markdown_normalises_lists_code_and_blank_lines() -> None:
    source = (
        "# T\n\n* star\n+ plus\n1. one\n\n\n\n\nPara  \n\n~~~js\nlet a = 1;\n\n\n\nlet b;\n~~~\n\n"
        "    indented code\n"
    )
    doc = parse(source, "markdown")
    assert "- star\n- plus\n- one" in doc.text
    assert "\n\n\n" not in doc.text.replace("let a = 1;\n\n\n\nlet b;", "")
    assert "```js\nlet a = 1;\n\n\n\nlet b;\n```" in doc.text  # code kept verbatim
    assert "```\nindented code\n```" in doc.text
    assert "Para\n" in doc.text  # trailing spaces trimmed


def test_markdown_fence_stays_valid_when_code_contains_backticks() -> None:
    doc = parse("~~~md\n```py\nx = 1\n```\n~~~\n", "markdown")
    assert doc.text == "````md\n```py\nx = 1\n```\n````"


# --- block structure is CommonMark's (markdown-it-py); see bench/markdown_parity.py -----------


def test_markdown_a_whole_underlined_paragraph_is_the_heading() -> None:
    doc = parse("A title that\nwraps\n---\n\nText.\n", "markdown")
    assert doc.text == "## A title that wraps\n\nText."


def test_markdown_link_reference_definitions_are_not_prose() -> None:
    doc = parse("# T\n\nSee [the docs][docs].\n\n[docs]: https://example.org/docs\n", "markdown")
    assert doc.text == "# T\n\nSee [the docs][docs]."


def test_markdown_indented_lines_of_an_html_block_are_text_not_code() -> None:
    source = (
        '# T\n\n<a href="#model" class="box">\n    <div>Model</div>\n    Learn <b>it</b>.\n</a>\n'
    )
    assert parse(source, "markdown").text == "# T\n\nModel\nLearn it."


def test_markdown_code_in_a_list_item_loses_the_item_indentation() -> None:
    source = (
        "# T\n\n1. Install:\n\n   ```bash\n   pip install x\n   ```\n\n2. Run:\n\n       x --help\n"
    )
    text = parse(source, "markdown").text
    assert "```bash\npip install x\n```" in text
    assert "```\nx --help\n```" in text  # indented code inside an item, CommonMark's rule


def test_markdown_strips_html_but_keeps_text_and_code_spans() -> None:
    source = (
        '<div align="center">\n<img src="logo.png"\n  alt="Logo"/>\n</div>\n\n'
        "# Title\n\nUse <b>bold</b> and `Vec<String>` here.<!-- note -->\n"
    )
    doc = parse(source, "markdown")
    assert doc.text == "# Title\n\nUse bold and `Vec<String>` here."


def test_markdown_heading_anchor_and_closing_hashes_removed() -> None:
    doc = parse("## Install ##\n\n### Usage {#usage}\n", "markdown")
    assert doc.text == "## Install\n\n### Usage"


def test_mdx_drops_imports_exports_and_jsx_tag_lines() -> None:
    source = """import Tabs from '@theme/Tabs';
import {
  Alpha,
  Beta,
} from './components';
export const meta = {
  sidebar: true,
};

# MDX Page

<Tabs
  groupId="language">
<TabItem value="py" label="Python">

Inner text stays.

```python
print("inside a tab")
```

</TabItem>
</Tabs>

{/* an MDX comment */}
<Callout type="info" />
"""
    doc = parse(source, "markdown", "page.mdx")
    assert doc.title == "MDX Page"
    assert doc.text == ('# MDX Page\n\nInner text stays.\n\n```python\nprint("inside a tab")\n```')


def test_mdx_rules_apply_by_content_when_file_name_is_not_known() -> None:
    doc = parse("import X from './x';\n\n# Page\n\nHello <X prop={1}>world</X>.\n", "markdown")
    assert doc.text == "# Page\n\nHello world."


# --- front matter is data, never a resource bomb ----------------------------------------------


_BOMB_UNDER_MEMORY_LIMIT = """
import resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from embedloop.ingestion.parsers import ParseError, parse_document
data = sys.stdin.buffer.read()
start = time.perf_counter()
try:
    doc = parse_document(data, "markdown", "bomb")
    outcome = f"parsed: a title of {len(doc.title)} characters"
except ParseError as err:
    outcome = f"ParseError: {err}"
except BaseException as err:
    outcome = f"{type(err).__name__}: {err}"
print(f"{time.perf_counter() - start:.3f}")
print(outcome)
"""


def test_yaml_alias_bomb_is_refused_quickly_under_a_memory_limit() -> None:
    bomb = yaml_bomb(depth=9).encode()  # ~500 bytes; 9**9 strings once expanded
    assert len(bomb) < 600
    result = subprocess.run(
        [sys.executable, "-c", _BOMB_UNDER_MEMORY_LIMIT, str(400 * 2**20)],
        input=bomb,
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    seconds, outcome = result.stdout.decode().splitlines()
    assert outcome == "ParseError: front matter uses YAML aliases"
    assert float(seconds) < 5


def test_front_matter_anchors_and_aliases_are_refused() -> None:
    with pytest.raises(ParseError, match="aliases"):
        parse(yaml_bomb(depth=2), "markdown")
    with pytest.raises(ParseError, match="aliases"):
        parse("---\nbase: &b {x: 1}\ntitle: T\nmore:\n  <<: *b\n---\n# H\n", "markdown")


def test_front_matter_values_are_not_constructed() -> None:
    # Implicit YAML types used to be built: an impossible date or a 5000-digit int raised
    # ValueError, which no caller expected.
    doc = parse("---\ntitle: Dates\ndate: 2023-02-30\n---\n# H\n", "markdown")
    assert doc.title == "Dates"
    doc = parse("---\nn: " + "1" * 5000 + "\ntitle: 12\n---\n# H\n", "markdown")
    assert doc.title == "12"


def test_front_matter_with_control_characters_is_dropped() -> None:
    # Found by fuzzing: PyYAML's reader rejects them as soon as the loader is created.
    doc = parse("---\ntitle: T\n\x1f\n---\n# Heading\n", "markdown")
    assert doc.title == "Heading"
    assert doc.text == "# Heading"


@pytest.mark.parametrize(
    "front_matter",
    ["title: [a, b]", "title: {x: 1}", "title: null", "title:", "- a list\n- not a map", "42"],
)
def test_front_matter_without_a_scalar_title_falls_back_to_heading(front_matter: str) -> None:
    doc = parse(f"---\n{front_matter}\n---\n# Heading\n\nBody.\n", "markdown")
    assert doc.title == "Heading"
    assert doc.text == "# Heading\n\nBody."


def test_front_matter_title_is_collapsed_and_capped() -> None:
    doc = parse("---\ntitle: |\n  two\n  lines\n---\nBody.\n", "markdown")
    assert doc.title == "two lines"
    doc = parse(f"---\ntitle: {'t' * 5000}\n---\nBody.\n", "markdown")
    assert doc.title == "t" * MAX_TITLE_CHARS
    doc = parse(f'+++\ntitle = "{"t" * 5000}"\n+++\nBody.\n', "markdown")
    assert doc.title == "t" * MAX_TITLE_CHARS


def test_every_title_is_capped() -> None:
    assert len(parse(f"<h1>{'w ' * 2000}</h1><p>x</p>", "html").title) <= MAX_TITLE_CHARS
    assert len(parse(f"# {'w' * 5000}\n", "markdown").title) == MAX_TITLE_CHARS
    assert parse("<p>x</p>", "html", "f" * 5000).title == "f" * MAX_TITLE_CHARS


def test_oversize_and_deeply_nested_front_matter_is_refused() -> None:
    big = "---\n" + "key: value\n" * (MAX_FRONT_MATTER_CHARS // 10) + "---\n# H\n"
    with pytest.raises(ParseError, match="front matter longer than"):
        parse(big, "markdown")
    deep = "---\nx: " + "[" * 40 + "]" * 40 + "\n---\n# H\n"
    with pytest.raises(ParseError, match="front matter nested too deeply"):
        parse(deep, "markdown")


# --- raw HTML in Markdown ---------------------------------------------------------------------

RAW_HTML_MD = """# Page

<script type="module">
const SCRIPTTEXT = 1;

console.log(SCRIPTTEXT);
</script>

<style>
.x { color: red } /* STYLETEXT */
</style>

<svg width="10" viewBox="0 0 10 10">
  <text>SVGTEXT</text>
</svg>
<svg class="icon" aria-hidden="true"/>
<noscript>NOSCRIPTTEXT</noscript> Kept after noscript.

Inline <script>INLINESCRIPT()</script> text and <svg><text>SVGINLINE</text></svg>icons.

Before <!-- a multi-line
COMMENTTEXT
--> after the comment.

<!-- COMMENTTEXT --> Kept after a comment.

Use `<script>` and `<!--` in code spans.

End.
"""


def test_markdown_drops_script_style_svg_and_comment_content() -> None:
    doc = parse(RAW_HTML_MD, "markdown")
    for hidden in ("SCRIPT", "STYLE", "SVG", "COMMENT", "color: red", "<svg", "<text>"):
        assert hidden not in doc.text, doc.text
    assert doc.text == (
        "# Page\n\nKept after noscript.\n\nInline text and icons.\n\n"
        "Before after the comment.\n\nKept after a comment.\n\n"
        "Use `<script>` and `<!--` in code spans.\n\nEnd."
    )


def test_markdown_unclosed_raw_tag_hides_only_its_paragraph() -> None:
    doc = parse("# T\n\n<script>\nSCRIPTTEXT\n\nStill here.\n", "markdown")
    assert doc.text == "# T\n\nStill here."
    # An unclosed comment hides the rest, as a renderer would.
    assert parse("# T\n\n<!-- note\n\nHidden.\n", "markdown").text == "# T"
    # Text <!-- not closed before the paragraph ends stays prose.
    doc = parse("# T\n\nA <!-- b\nc\n\nd --> e\n", "markdown")
    assert doc.text == "# T\n\nA <!-- b\nc\n\nd --> e"
    # Stray tags without their other half lose the tag, not the text around it.
    doc = parse("# T\n\nx <svg> y <script> z </style>\n", "markdown")
    assert doc.text.split() == ["#", "T", "x", "y", "z"]


@pytest.mark.parametrize(
    "markup",
    [
        "<script x\n" * 20_000,  # unclosed block openers, one per line
        "a <!-- b\n" * 20_000,  # comments opened mid-line, never closed
        "x " + "<!-- " * 30_000,  # one line of comment openers: `<!--.*?-->` was quadratic
        "x " + "<script>" * 30_000,
        "x " + "<svg/>" * 30_000,
    ],
)
def test_many_unclosed_raw_openers_stay_fast(markup: str) -> None:
    start = time.perf_counter()
    doc = parse(f"# T\n\n{markup}\n\nTail.\n", "markdown")
    assert time.perf_counter() - start < 5
    assert doc.text.endswith("Tail.")
