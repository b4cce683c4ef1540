"""The ``production_index`` asset through Dagster: its metadata on DuckDB and pgvector, and
the automation that materializes it when chunks or the promotion decision change."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from assets.serving import production_index
from embedloop.config import load_settings
from orchestration.definitions import build_definitions
from orchestration.resources import VectorIndexResource, build_resources
from tests.helpers.training import tiny_tables, write_warehouse


def _project(tmp_path: Path) -> Path:
    config = tmp_path / "embedloop.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": "data",
                "model": {"backend": "torch"},
                "training": {"matryoshka_dims": [384, 128]},
            }
        )
    )
    chunks, pairs = tiny_tables()
    write_warehouse(load_settings(config).warehouse_path, chunks, pairs)
    return config


def _materialize(config: Path, url: str | None) -> dict:
    resources = build_resources(config)
    resources["vector_index"] = VectorIndexResource(postgres_url=url)
    result = dg.materialize([production_index], resources=resources)
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.mark.parametrize("backend", ["duckdb", "pgvector"])
def test_asset_builds_then_updates_incrementally(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if backend == "pgvector" else None
    config = _project(tmp_path)
    first = _materialize(config, url)
    assert (first["mode"], first["index_backend"], first["model_version"]) == (
        "created",
        backend,
        "base",
    )
    assert first["texts_encoded"] == 30 and first["dagster/row_count"] == 30
    assert first["dims"] == [384, 128]
    assert "| chunks in the index | 30 |" in first["counts"]
    again = _materialize(config, url)
    assert (again["mode"], again["texts_encoded"]) == ("unchanged", 0)


def test_new_chunks_or_a_promotion_request_it(tmp_path: Path) -> None:
    """The refresh scope's condition: an input's new data version requests the index."""
    defs = build_definitions(_project(tmp_path))
    key = dg.AssetKey("production_index")
    assert defs.resolve_assets_def(key).automation_conditions_by_key[key] is not None
    with dg.instance_for_test() as instance:
        for asset in ("document_chunks", "embedding_evaluation", "production_index"):
            _report(instance, asset, "v1")
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        assert key not in _requested(quiet)
        cursor = quiet.cursor
        for upstream, version in [
            ("document_chunks", "v2"),  # a source change re-chunked
            ("embedding_evaluation", "embedloop-embeddings:v2:production"),  # a promotion
        ]:
            _report(instance, upstream, version)
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
            assert key in _requested(result), upstream
            _report(instance, "production_index", f"after-{upstream}")
            cursor = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=result.cursor
            ).cursor


def _report(instance: dg.DagsterInstance, asset: str, version: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(asset, tags={"dagster/data_version": version})
    )


def _requested(result: dg.EvaluateAutomationConditionsResult) -> set[dg.AssetKey]:
    key = dg.AssetKey("production_index")
    return {key} if result.get_num_requested(key) else set()


def test_a_successful_rollback_requests_an_index_run(tmp_path: Path) -> None:
    defs = build_definitions(_project(tmp_path))
    sensor = defs.resolve_sensor_def("index_after_rollback_sensor")
    assert sensor.job_name == "production_index_job"
    job = defs.resolve_job_def("production_index_job")
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey("production_index")}


def test_the_run_summary_names_the_index() -> None:
    from orchestration.run_report import summary_rows

    metadata = {"production_index": {"dagster/row_count": 30, "model_version": "2"}}
    rows = dict(map(tuple, summary_rows(metadata)))
    assert rows == {"search index: chunks": "30", "search index: model version": "2"}
