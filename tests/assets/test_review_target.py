"""The review mirror belongs to one Argilla dataset: another dataset gets every record."""

from __future__ import annotations

import uuid
from pathlib import Path

import argilla as rg
import dagster as dg
import pytest
import yaml

from orchestration.definitions import ALL_ASSETS
from orchestration.resources import build_resources
from services.argilla.stack import StackConfig
from tests.helpers.assets import DATA_ASSETS, make_config, meta

PUBLISH = [a for a in ALL_ASSETS if "argilla_review_dataset" in {k.path[-1] for k in a.keys}]


def _publish(config: Path) -> dict[str, object]:
    result = dg.materialize(PUBLISH, resources=build_resources(config))
    assert result.success
    return meta(result, "argilla_review_dataset")


def _rename_dataset(config: Path, name: str) -> None:
    data = yaml.safe_load(config.read_text())
    data["argilla"]["dataset"] = name
    config.write_text(yaml.safe_dump(data))


@pytest.mark.slow
def test_a_new_or_wiped_dataset_gets_every_record_again(
    tmp_path: Path, argilla_stack: StackConfig
) -> None:
    first = f"review-{uuid.uuid4().hex[:6]}"
    config = make_config(tmp_path, argilla={"api_url": argilla_stack.api_url, "dataset": first})
    assert dg.materialize(DATA_ASSETS, resources=build_resources(config)).success
    published = _publish(config)
    records = published["records"]
    assert published["sent"] == records > 0
    assert _publish(config)["sent"] == 0  # same dataset: nothing to send

    # The project's own error message suggests renaming the dataset: it must fill up.
    second = f"review-{uuid.uuid4().hex[:6]}"
    _rename_dataset(config, second)
    moved = _publish(config)
    assert moved["sent"] == records and moved["republished_to_new_dataset"] is True
    client = rg.Argilla(api_url=argilla_stack.api_url, api_key=argilla_stack.api_key)
    dataset = client.datasets(name=second, workspace="embedloop")
    assert len(list(dataset.records)) == records

    # A wiped server (the dataset deleted, then created again under the same name).
    dataset.delete()
    assert _publish(config)["sent"] == records
    again = client.datasets(name=second, workspace="embedloop")
    assert len(list(again.records)) == records
