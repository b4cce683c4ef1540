"""The production instance config (root dagster.yaml) against the real PostgreSQL server."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from assets.ingestion import ingest_documents
from orchestration.resources import build_resources
from tests.helpers.services import PG

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_materialization_is_stored_in_postgres(
    tmp_path: Path, config_file: Path, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for key, value in {
        "DAGSTER_PG_HOST": PG["host"],
        "DAGSTER_PG_PORT": str(PG["port"]),
        "DAGSTER_PG_USERNAME": PG["user"],
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": fresh_database,
    }.items():
        monkeypatch.setenv(key, value)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # A run that never starts or never ends is failed by the daemon.
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_runtime_seconds > 0
        result = dg.materialize(
            [ingest_documents],
            resources=build_resources(config_file),
            instance=instance,
        )
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("source_documents"))
        assert event is not None and event.run_id == result.run_id
        materialization = event.asset_materialization
        assert materialization is not None
        assert materialization.metadata["added"].value == 6

    # Read back through a raw connection to prove the rows live in this very database.
    with psycopg2.connect(dbname=fresh_database, **PG) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
        assert cur.fetchone() == (1,)
