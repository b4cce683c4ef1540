"""The screenshot script's core, on a minimal set: real `dagster dev`, real Argilla, real
chromium. Only a picture proves that a page rendered, so each PNG must exist and not be
blank (its pixels vary); a page that cannot render must fail with a message naming it.

Skipped, saying why, where Debian's chromium or Playwright is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from bench import ui_stack
from services.argilla.stack import StackConfig

pytestmark = [
    pytest.mark.ui,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
ui_pages = pytest.importorskip(
    "bench.ui_pages", reason="needs playwright (pip install -e '.[dev]')"
)


def _assert_rendered(png: Path, viewport: Mapping[str, int]) -> None:
    from PIL import Image

    assert png.is_file(), png
    with Image.open(png) as image:
        # At least the window it was taken in (the graph's may have grown to fit).
        assert image.width >= viewport["width"] and image.height >= viewport["height"]
        pixels = np.asarray(image.convert("L"), dtype=float)
    # A blank (one-colour) page has no variance; a rendered UI has text, lines, panels.
    assert pixels.var() > 100, f"{png} looks blank (pixel variance {pixels.var():.1f})"


def test_the_asset_graph_of_fresh_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = ui_stack.layout_for(tmp_path / "data", None)  # no run yet
    nobody = f"http://127.0.0.1:{ui_stack.free_port()}"  # the sensor skips; nothing to see
    with ui_stack.dagster_dev(layout, nobody, ui_stack.free_port()) as base:
        location = ui_stack.code_location(base)
        assert location
        with ui_pages.browser() as instance:
            graph = ui_pages.asset_graph(
                instance, base, tmp_path / "out" / "graph.png", "embedding_evaluation"
            )
            _assert_rendered(graph, ui_pages.GRAPH_VIEWPORT)
            # Never materialized: no chart to open, and the error says where it was missing.
            monkeypatch.setattr(ui_pages, "TIMEOUT_MS", 15_000)
            with pytest.raises(ui_pages.PageError, match="page of embedding_evaluation did not"):
                ui_pages.asset_markdown(
                    instance,
                    base,
                    tmp_path / "out" / "eval.png",
                    "embedding_evaluation",
                    "ndcg_chart",
                )
    assert not (tmp_path / "out" / "eval.png").exists()


def test_argilla_sign_in(tmp_path: Path, argilla_stack: StackConfig) -> None:
    owner = argilla_stack.stored_credentials()
    assert owner is not None
    png = tmp_path / "sign_in.png"
    with ui_pages.browser() as instance:
        page = ui_pages.argilla_sign_in(
            instance, argilla_stack.api_url, owner.username, owner.password, png
        )
        assert "/sign-in" not in page.url  # signed in: the form accepted the credentials
    _assert_rendered(png, ui_pages.PAGE_VIEWPORT)


def test_a_wrong_password_is_a_clear_error(
    argilla_stack: StackConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui_pages, "TIMEOUT_MS", 10_000)
    expected = "Argilla's sign-in page: could not sign in as 'argilla' \\(wrong password\\?\\)"
    with ui_pages.browser() as instance, pytest.raises(ui_pages.PageError, match=expected):
        ui_pages.argilla_sign_in(instance, argilla_stack.api_url, "argilla", "wrong-password")
