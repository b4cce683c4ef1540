"""The pages bench/ui_screenshots.py photographs, driven as a person would in Chromium.

Debian's own chromium (``/usr/bin/chromium``) runs headless through Playwright's
``executable_path``: no browser download. Every step waits for what the page must show
(a selector) rather than for a fixed time, and a page that does not render raises
``PageError`` naming the page and what was missing. The Dagster community dialog is
dismissed whenever it appears, as a first-time user would.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Locator, Page, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = Path("/usr/bin/chromium")
# A wide screen: zoomed out to fit it, the expanded asset graph must still draw full nodes
# (names, status, checks, kinds), which Dagster replaces by truncated names when zoomed out
# far. asset_graph() widens the window by a quarter at a time (GRAPH_GROW_STEPS) if not.
GRAPH_VIEWPORT: ViewportSize = {"width": 2600, "height": 1100}
GRAPH_GROW_STEPS = 4
PAGE_VIEWPORT: ViewportSize = {"width": 1600, "height": 1100}
TIMEOUT_MS = 90_000  # two shared CPU cores: the first GraphQL answers can take a while


# What a tick's status tag reads: "0 runs requested", "1 run requested", "Skipped", "Failure".
TICK_STATUS = re.compile(r"requested|skipped|failure|success|started", re.IGNORECASE)


class PageError(RuntimeError):
    """A page did not render what it should; the message says which and what."""


@contextmanager
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        raise PageError(f"{CHROMIUM} not found: apt-get install chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield instance
        finally:
            instance.close()


def new_page(instance: Browser, viewport: ViewportSize = PAGE_VIEWPORT) -> Page:
    context = instance.new_context(viewport=viewport, locale="en-US", color_scheme="light")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    # Dagster's first-run "Join the Dagster community" dialog: skip it whenever it shows.
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    return page


def wait_for(locator: Locator, page_name: str, what: str) -> Locator:
    try:
        locator.first.wait_for(state="visible")
    except PlaywrightError as err:
        raise PageError(
            f"{page_name} did not render {what} within {TIMEOUT_MS // 1000} s "
            f"({locator.page.url}): {str(err).splitlines()[0]}"
        ) from None
    return locator.first


def wait_until(page: Page, script: str, page_name: str, what: str) -> None:
    """Wait until a JavaScript predicate holds on the page."""
    try:
        page.wait_for_function(script)
    except PlaywrightError as err:
        raise PageError(
            f"{page_name}: {what} within {TIMEOUT_MS // 1000} s ({page.url}): "
            f"{str(err).splitlines()[0]}"
        ) from None


def act(step: Callable[[], Any], page_name: str, what: str) -> None:
    try:
        step()
    except PlaywrightError as err:
        raise PageError(f"{page_name}: could not {what}: {str(err).splitlines()[0]}") from None


def save(page: Page, path: Path) -> Path:
    """Screenshot the page once no first-run dialog covers it."""
    nux = page.get_by_text("Join the Dagster community")
    if nux.count():
        page.get_by_role("button", name="Skip").click()
        nux.wait_for(state="hidden")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), animations="disabled")  # dialogs fade in
    return path


# --- Dagster ----------------------------------------------------------------------------


def _graph_panels_hidden(page: Page, name: str) -> None:
    """The graph alone: no navigation, no asset sidebar."""
    wait_for(page.locator("button:has([aria-label=zoom_in])"), name, "its zoom controls")
    hide_nav = page.get_by_role("button", name="Hide navigation")
    if hide_nav.is_visible():
        act(hide_nav.click, name, "hide the navigation")
    sidebar = page.locator("button:has([aria-label=panel_show_right])").last
    act(sidebar.click, name, "hide the asset sidebar")


def _full_nodes(page: Page, asset: str) -> bool:
    """Whether the graph draws full nodes: the minimal ones (zoomed out) truncate names."""
    node = page.locator("svg").get_by_text(asset, exact=True).first
    try:
        node.wait_for(state="visible", timeout=10_000)
    except PlaywrightError:
        return False
    return True


# The graph's pan-and-zoom layer; its transform changes whenever the graph is fitted again.
VIEWPORT_LAYER = "[style*='transform-origin: left top']"


def _toggle_all_groups(page: Page, name: str) -> None:
    """Alt+E (the graph's own shortcut): expand every group, or collapse them if all are
    expanded; either way the graph is laid out and fitted to the window again."""
    size = page.viewport_size or GRAPH_VIEWPORT
    page.mouse.move(size["width"] // 2, size["height"] // 2)
    layer = page.locator(VIEWPORT_LAYER).first
    wait_for(layer, name, "the graph")
    before = layer.evaluate("e => getComputedStyle(e).transform")
    page.keyboard.press("Alt+e")
    refitted = f"""() => {{
        const e = document.querySelector("{VIEWPORT_LAYER}");
        return e && getComputedStyle(e).transform !== {json.dumps(before)};
    }}"""
    wait_until(page, refitted, name, "Alt+E did not expand or collapse the groups")


def asset_graph(instance: Browser, base: str, path: Path, asset: str) -> Path:
    """The global asset lineage, every group expanded, on a screen wide enough for the
    fitted graph to draw full nodes (name, status, checks, kinds): the window widens a
    quarter at a time until ``asset``'s name shows whole."""
    page = new_page(instance, GRAPH_VIEWPORT)
    name = "the Dagster asset graph"
    page.goto(f"{base}/asset-groups")
    _graph_panels_hidden(page, name)
    _toggle_all_groups(page, name)  # expanded
    for _ in range(GRAPH_GROW_STEPS):
        if _full_nodes(page, asset):
            break
        size = page.viewport_size or GRAPH_VIEWPORT
        grown: ViewportSize = {
            "width": int(size["width"] * 1.25),
            "height": int(size["height"] * 1.25),
        }
        page.set_viewport_size(grown)
        _toggle_all_groups(page, name)  # collapsed
        _toggle_all_groups(page, name)  # expanded again, fitted to the wider window
    wait_for(page.locator("svg").get_by_text(asset, exact=True), name, f"the node {asset}")
    # Each node says "Loading..." until its status (materialized, checks) has arrived.
    loaded = "() => !document.body.innerText.includes('Loading...')"
    wait_until(page, loaded, name, "the nodes' status did not load")
    return save(page, path)


def asset_markdown(instance: Browser, base: str, path: Path, asset: str, entry: str) -> Path:
    """An asset's page with one Markdown metadata entry (a chart) opened."""
    page = new_page(instance)
    name = f"the page of {asset}"
    page.goto(f"{base}/assets/{asset}")
    wait_for(page.get_by_text(entry, exact=True), name, f"the metadata entry {entry!r}")
    row = page.locator("tr", has=page.get_by_text(entry, exact=True))
    act(row.get_by_text("Show Markdown").first.click, name, f"open {entry}")
    wait_for(page.locator("[role=dialog] img"), name, f"the image of {entry}")
    decoded = (
        "() => [...document.querySelectorAll('[role=dialog] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    wait_until(page, decoded, name, f"the image of {entry} did not decode")
    return save(page, path)


def sensor_ticks(instance: Browser, base: str, path: Path, location: str, sensor: str) -> Path:
    """A sensor's page: its settings and tick history, the newest tick's reason showing."""
    page = new_page(instance)
    name = f"the page of {sensor}"
    page.goto(f"{base}/locations/__repository__@{location}/sensors/{sensor}")
    wait_for(page.get_by_text("Latest tick", exact=True), name, "its latest tick")
    logs = page.get_by_role("button", name="View logs")
    wait_for(logs, name, "a tick in its history")
    newest = page.locator("tr", has=logs).first
    # The status tag's tooltip is the tick's skip reason (or its requested runs).
    act(newest.get_by_text(TICK_STATUS).first.hover, name, "point at the newest tick")
    # A tick without a reason has no tooltip: the table still says what happened.
    with contextlib.suppress(PlaywrightError):
        page.locator("[role=tooltip]").first.wait_for(state="visible", timeout=5_000)
    return save(page, path)


# --- Argilla ----------------------------------------------------------------------------


def argilla_sign_in(
    instance: Browser, url: str, username: str, password: str, path: Path | None = None
) -> Page:
    """Sign in through the form; with ``path``, photograph the filled-in form first."""
    page = new_page(instance)
    name = "Argilla's sign-in page"
    page.goto(f"{url}/sign-in")
    wait_for(page.get_by_label("Username"), name, "its form")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    if path is not None:
        save(page, path)
    act(page.get_by_role("button", name="Sign in").click, name, "submit the form")
    signed_in = lambda: page.wait_for_url(lambda u: "/sign-in" not in u)  # noqa: E731
    act(signed_in, name, f"sign in as {username!r} (wrong password?)")
    return page


def argilla_annotation(page: Page, url: str, dataset_id: str, path: Path) -> Path:
    """The annotation view of a dataset, its first pending record showing."""
    name = "Argilla's annotation view"
    page.goto(f"{url}/dataset/{dataset_id}/annotation-mode")
    wait_for(page.get_by_text(re.compile(r"^of \d+$")), name, "its record counter")
    wait_for(page.get_by_text("Submit", exact=True), name, "the Submit button of a record")
    # The toolbar's sort menu arrives with the dataset's metadata; a person waits for it.
    with contextlib.suppress(PlaywrightError):
        page.get_by_text("Sort", exact=True).first.wait_for(state="visible", timeout=10_000)
    return save(page, path)
