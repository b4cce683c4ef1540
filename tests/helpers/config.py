"""The one config writer of the tests: an ``embedloop.yaml`` from keyword sections."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_config(
    path: Path, corpus: Path | None = None, data_dir: Path | str = "data", **sections: object
) -> Path:
    """Write ``path``: ``data_dir``, then (given a ``corpus``) a local source of it with small
    chunks and a lenient skip threshold, then ``sections`` as top-level keys over them."""
    config: dict[str, object] = {"data_dir": str(data_dir)}
    if corpus is not None:
        config |= {
            "sources": [{"kind": "local", "name": "docs", "path": str(corpus)}],
            "chunking": {"max_tokens": 64, "overlap_tokens": 8},
            # Two of eight files are bad on purpose; the real threshold is tested separately.
            "ingestion": {"max_skipped_ratio": 0.5},
        }
    config.update(sections)
    path.write_text(yaml.safe_dump(config))
    return path
