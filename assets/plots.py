"""PNG plots for asset metadata, embedded as Markdown so the Dagster UI shows them inline."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import dagster as dg
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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def png_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    encoded = base64.b64encode(png).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def markdown_table(rows: Sequence[dict[str, object]]) -> str:
    if not rows:
        return "_none_"
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = (str(row[h]).replace("|", "\\|").replace("\n", " ") for h in headers)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
