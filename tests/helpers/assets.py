"""Materializing assets in tests: a small handbook config, and reading what a run wrote."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from embedloop.config import load_settings
from orchestration.definitions import ALL_ASSETS
from tests.helpers.config import write_config

# A training run of seconds on the CPU.
TINY_TRAINING = {
    "max_steps": 2,
    "batch_size": 8,
    "max_seq_length": 48,
    "matryoshka_dims": [384, 64],
}


PAGES = {
    f"topic{i}.md": f"""# Topic {i} handbook

## Configure topic {i}

Topic {i} is a component that stores configuration number {i} for the platform.
Configure topic {i} by editing the settings file and restarting the service afterwards.

```python
client.configure_topic_{i}(enabled=True)
```

## Troubleshoot topic {i}

Restart the topic {i} worker when it stops responding to health checks for a minute.
Logs for topic {i} are written to the directory named after the service and the topic.
"""
    for i in range(8)
}


def make_config(tmp_path: Path, **overrides: object) -> Path:
    docs = tmp_path / "pages"
    docs.mkdir(exist_ok=True)
    for name, text in PAGES.items():
        (docs / name).write_text(text)
    return write_config(
        tmp_path / "embedloop.yaml",
        docs,
        tmp_path / "data",
        splits={"seed": 5, "validation": 0.25, "test": 0.25},
        hard_negatives={"num_negatives": 2, "range_max": 20},
        **overrides,
    )


# Up to training_splits: the model training and Argilla assets have their own tests.
DATA_ASSETS = [
    a
    for a in ALL_ASSETS
    if not {k.path[-1] for k in a.keys}
    & {
        "finetuned_embedding_model",
        "embedding_evaluation",
        "argilla_review_dataset",
        "human_feedback",
        "argilla_question_dataset",
        "human_questions",
        "search_log",
        "argilla_search_dataset",
        "search_judgments",
    }
]


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict[str, object]:
    (event,) = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in event.metadata.items()}


def query(config_file: Path, sql: str) -> list[tuple]:
    path = load_settings(config_file).warehouse_path
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
