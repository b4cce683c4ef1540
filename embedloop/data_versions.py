"""Content versions of warehouse tables, for Dagster's data versions.

Every asset rewrites its tables on each run, but an incremental run often writes the same
rows again. A version computed from the rows (not from the run) lets Dagster tell the two
apart: a downstream asset is stale only when the content it was built from changed. Columns
that record *when* a row was written (``ingested_at``, ``created_at``) are left out by the
callers, or every run would look like a change.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd


def frame_version(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A short hash of ``frame``'s ``columns`` (all by default), in row order.

    Equal content gives an equal version in any process; a missing column is an error,
    so a renamed column cannot silently freeze the version.
    """
    cols = list(columns) if columns is not None else [str(c) for c in frame.columns]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} not in the table (has {list(frame.columns)})")
    digest = hashlib.sha256(json.dumps([cols, len(frame)]).encode())
    if len(frame):
        part = frame[cols].copy()
        for col in cols:
            if part[col].dtype == object:
                part[col] = part[col].map(_stable_text)
        digest.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _stable_text(value: Any) -> str:
    """Lists, arrays and None hash by their content (pandas cannot hash a list)."""
    if value is None or (isinstance(value, float) and value != value):
        return "\0null"
    if isinstance(value, str):
        return value
    if hasattr(value, "tolist"):
        value = value.tolist()
    return json.dumps(value, sort_keys=True, default=str)
