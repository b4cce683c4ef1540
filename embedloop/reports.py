"""Markdown tables and PNG plots for run reports.

Plain matplotlib, no Dagster: the assets wrap these in metadata values, and Markdown with an
embedded PNG is what the Dagster UI shows inline.

The UI shows such an image at its pixel size in a 640 px wide dialog, so the plots are
600 px wide at 100 dpi, and readability comes from the type size, not the resolution:
12 pt (17 px) text, a light grid, and the numbers written on the bars (a promotion margin
of 0.005 is invisible in a bar's height). bench/ui_screenshots.py photographs them.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: assets run in worker processes without a display
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

FIGSIZE = (6, 3.6)  # inches at DPI: 600 x 360 px, the width of the UI's Markdown dialog
DPI = 100
STYLE: dict[RcKeyType, Any] = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
# base grey, the candidate in the accent colour, production teal: the same in every chart.
SERIES_COLORS = ["#9ca3af", "#4f46e5", "#0d9488", "#d97706"]


@contextmanager
def _figure() -> Iterator[tuple[Figure, Axes]]:
    """A figure of the house size, drawn in the house style (fonts apply while drawing)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        yield fig, ax


def histogram_png(values: Sequence[float], title: str, xlabel: str, bins: int = 30) -> bytes:
    with _figure() as (fig, ax):
        ax.hist(list(values), bins=bins, color="#4f46e5", zorder=2)
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
    with _figure() as (fig, ax):
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, color="#4f46e5", linewidth=2, marker="o" if len(xs) < 50 else None)
            last = f"{ys[-1]:.3g}"  # the value a reader looks for first
            ax.annotate(
                last, (xs[-1], ys[-1]), xytext=(0, 8), textcoords="offset points", ha="center"
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.tight_layout()
        return _png(fig)


def lines_png(
    series: Mapping[str, Sequence[tuple[float, float]]], title: str, xlabel: str, ylabel: str
) -> bytes:
    """One line per named series (a learning curve against its baselines)."""
    with _figure() as (fig, ax):
        for name, points in series.items():
            if points:
                xs, ys = zip(*points, strict=True)
                dashed = "--" if "base" in name or "only" in name else "-"
                ax.plot(xs, ys, dashed, linewidth=2, marker="o", label=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
        fig.tight_layout()
        return _png(fig)


def grouped_bars_png(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str,
    xlabel: str = "embedding dimension",
) -> bytes:
    with _figure() as (fig, ax):
        width = 0.8 / max(len(series), 1)
        for i, (label, values) in enumerate(series.items()):
            xs = [c + i * width for c in range(len(categories))]
            color = SERIES_COLORS[i % len(SERIES_COLORS)]
            bars = ax.bar(xs, values, width=width, label=label, color=color, zorder=2)
            ax.bar_label(bars, fmt="%.3f", fontsize=9 if len(series) < 3 else 8, padding=2)
        ax.set_xticks([c + width * (len(series) - 1) / 2 for c in range(len(categories))])
        ax.set_xticklabels(categories)
        top = max((v for values in series.values() for v in values), default=0.0)
        ax.set_ylim(0, top * 1.18 or 1.0)  # room for the numbers above the bars
        ax.grid(axis="x", visible=False)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if xlabel:
            ax.set_xlabel(xlabel)
        # Under the axes, never over a bar.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(series), frameon=False)
        fig.tight_layout()
        return _png(fig)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    return buffer.getvalue()


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table for the terminal, columns padded to their widest cell."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
