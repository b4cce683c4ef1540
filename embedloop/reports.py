"""Markdown tables and PNG plots for run reports.

Plain matplotlib, no Dagster: the assets wrap these in metadata values, and Markdown with an
embedded PNG is what the Dagster UI shows inline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # headless: assets run in worker processes without a display
import matplotlib.pyplot as plt


def histogram_png(values: Sequence[float], title: str, xlabel: str, bins: int = 30) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(list(values), bins=bins, color="#4f46e5")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    fig.tight_layout()
    return _png(fig)


def png_markdown(png: bytes, alt: str) -> str:
    """A PNG as a Markdown image with a data URL."""
    encoded = base64.b64encode(png).decode()
    return f"![{alt}](data:image/png;base64,{encoded})"


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    if not rows:
        return "_none_"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = (str(row[h]).replace("|", "\\|").replace("\n", " ") for h in headers)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def line_png(points: Sequence[tuple[float, float]], title: str, xlabel: str, ylabel: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    if points:
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, color="#4f46e5", marker="." if len(points) < 50 else None)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.tight_layout()
    return _png(fig)


def grouped_bars_png(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], title: str, ylabel: str
) -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        xs = [c + i * width for c in range(len(categories))]
        ax.bar(xs, values, width=width, label=label)
    ax.set_xticks([c + width * (len(series) - 1) / 2 for c in range(len(categories))])
    ax.set_xticklabels(categories)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table for the terminal, columns padded to their widest cell."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
