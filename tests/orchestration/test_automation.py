"""Automation: source fingerprints, what a changed document makes Dagster rebuild, the sensors.

What is requested is Dagster's own declarative automation (``orchestration.source_automation``),
evaluated with the public ``dg.evaluate_automation_conditions`` against a real instance after
real materializations of the ingestion assets, tick after tick as the sensor evaluates it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import dagster as dg
import git
import pytest

from assets.sources import SOURCES_KEY
from embedloop.config import ConfigError, GitSource, load_settings
from embedloop.ingestion.fingerprint import fingerprint_source
from orchestration.definitions import build_definitions
from orchestration.jobs import REFRESH_SCOPE
from orchestration.schedules import build_refresh_schedule
from orchestration.source_automation import TRIGGER_TAG, build_source_automation_sensor
from orchestration.source_sensor import build_source_sensor, observe_sources
from tests.helpers.config import write_config

INGESTION = ("source_documents", "skipped_documents", "document_chunks")


class Ticks:
    """The source automation sensor's evaluations, one call a tick, cursor carried over."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.cursor = None
        self()  # the first tick only records where things stand

    def __call__(self) -> set[str]:
        result = dg.evaluate_automation_conditions(
            self.defs, self.instance, asset_selection=REFRESH_SCOPE, cursor=self.cursor
        )
        self.cursor = result.cursor
        graph = self.defs.resolve_asset_graph()
        return {
            k.to_user_string() for k in REFRESH_SCOPE.resolve(graph) if result.get_num_requested(k)
        }


def _ingest(defs: dg.Definitions, instance: dg.DagsterInstance, *names: str) -> None:
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[dg.AssetKey(n) for n in names]
    )
    assert result.success


def _touch(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_a_changed_document_makes_exactly_the_right_assets_stale(
    tmp_path: Path, corpus: Path
) -> None:
    config = write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")
    settings = load_settings(config)
    defs = build_definitions(config)
    instance = dg.DagsterInstance.ephemeral()
    tick = Ticks(defs, instance)
    assert observe_sources(instance, settings)[1]  # first look: a change
    _ingest(defs, instance, *INGESTION)
    assert tick() == set()  # built, so fresh; what was never built waits for a person
    assert not observe_sources(instance, settings)[1]  # nothing moved
    assert tick() == set()

    # Touched, not edited: the sources look changed, so ingestion is requested (once, not
    # every tick); it writes the same documents, so nothing below them is requested after.
    _touch(corpus / "guide" / "faq.md")
    assert observe_sources(instance, settings)[1]
    requested = tick()
    assert {"source_documents", "skipped_documents"} <= requested
    assert "documentation_sources" not in requested
    assert tick() == set()
    _ingest(defs, instance, "source_documents", "skipped_documents")
    assert tick() == set()

    # Edited: after re-ingesting, the chunks are requested because their input's data
    # changed, with what they feed (never built, but below a change), nothing above them
    # and no training.
    (corpus / "guide" / "faq.md").write_text("# FAQ\n\nRotate the API key every month.\n")
    assert observe_sources(instance, settings)[1]
    assert "source_documents" in tick()
    assert tick() == set()
    _ingest(defs, instance, "source_documents", "skipped_documents")
    selected = tick()
    assert "document_chunks" in selected and "synthetic_queries" in selected
    assert not selected & {"source_documents", "skipped_documents", "finetuned_embedding_model"}
    assert selected <= {
        k.to_user_string() for k in REFRESH_SCOPE.resolve(defs.resolve_asset_graph())
    }
    assert tick() == set()  # requested once: a failed refresh is not retried every tick
    sensor = build_source_automation_sensor(settings)
    assert sensor.run_tags[TRIGGER_TAG] == "source_change"
    assert defs.resolve_sensor_def(sensor.name).asset_selection == REFRESH_SCOPE

    # Once the chunks are rebuilt, nothing changes and nothing is requested any more.
    _ingest(defs, instance, "document_chunks")
    assert tick() == set()
    again = build_source_sensor(settings)(
        dg.build_sensor_context(instance=instance, definitions=defs)
    )
    assert isinstance(again, dg.SensorResult) and not again.run_requests
    assert "no source changed" in str(again.skip_reason)


def test_a_code_version_change_requests_the_asset_and_what_it_feeds(
    tmp_path: Path, corpus: Path
) -> None:
    config = write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")
    defs = build_definitions(config)
    instance = dg.DagsterInstance.ephemeral()
    observe_sources(instance, load_settings(config))
    _ingest(defs, instance, *INGESTION)
    tick = Ticks(defs, instance)
    assert tick() == set()

    def bumped(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key != dg.AssetKey("document_chunks"):
            return spec
        return spec.replace_attributes(code_version=f"{spec.code_version}-changed")

    tick.defs = dg.Definitions.merge(
        dg.Definitions(assets=dg.map_asset_specs(bumped, list(defs.assets or []))),
        dg.Definitions(resources=defs.resources),
    )
    requested = tick()
    assert "document_chunks" in requested and "synthetic_queries" in requested
    assert "source_documents" not in requested


def test_the_sources_observation_carries_a_data_version(tmp_path: Path, corpus: Path) -> None:
    settings = load_settings(write_config(tmp_path / "c.yaml", corpus, tmp_path / "data"))
    instance = dg.DagsterInstance.ephemeral()
    state, changed = observe_sources(instance, settings)
    assert changed and not state.problems and set(state.fingerprints) == {"docs"}
    record = instance.get_latest_data_version_record(SOURCES_KEY, is_source=True)
    assert record is not None
    assert (record.event_log_entry.tags or {})["dagster/data_version"] == state.version


def _commit(repo: git.Repo, name: str, text: str) -> str:
    path = Path(repo.working_dir) / name
    path.write_text(text)
    repo.index.add([name])
    return repo.index.commit(f"edit {name}").hexsha


def test_a_moved_git_ref_changes_the_fingerprint_and_an_unreachable_one_is_reported(
    tmp_path: Path,
) -> None:
    repo = git.Repo.init(tmp_path / "remote", initial_branch="main")
    first = _commit(repo, "guide.md", "# Guide\n\nOne.\n")
    source = GitSource(kind="git", name="handbook", url=f"file://{repo.working_dir}", ref="main")
    before = fingerprint_source(source)
    assert before.ok and first[:12] in before.detail
    assert fingerprint_source(source).fingerprint == before.fingerprint
    second = _commit(repo, "guide.md", "# Guide\n\nTwo.\n")
    after = fingerprint_source(source)
    assert after.ok and after.fingerprint != before.fingerprint and second[:12] in after.detail

    pinned = fingerprint_source(source.model_copy(update={"ref": first}))
    assert pinned.ok and "pinned" in pinned.detail  # a commit SHA never moves: no ls-remote

    gone = fingerprint_source(source.model_copy(update={"url": f"file://{tmp_path}/nothing"}))
    assert not gone.ok and "cannot fingerprint" in gone.detail
    missing = fingerprint_source(source.model_copy(update={"ref": "no-such-branch"}))
    assert not missing.ok and "no-such-branch" in missing.detail


def test_a_source_that_cannot_be_looked_at_is_not_a_change(tmp_path: Path, corpus: Path) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, tmp_path / "data")
    settings = load_settings(config)
    instance = dg.DagsterInstance.ephemeral()
    before, _ = observe_sources(instance, settings)
    corpus.rename(tmp_path / "moved")
    after, changed = observe_sources(instance, settings)
    assert not changed and after.fingerprints == before.fingerprints
    assert len(after.problems) == 1 and "not a directory" in after.problems[0]


def test_the_schedule_runs_the_refresh_job_on_the_configured_cron(
    tmp_path: Path, corpus: Path
) -> None:
    default = build_refresh_schedule(
        load_settings(write_config(tmp_path / "a.yaml", corpus, tmp_path / "data"))
    )
    assert default.cron_schedule == "0 3 * * *" and default.job_name == "source_refresh_job"
    custom = load_settings(
        write_config(
            tmp_path / "b.yaml",
            corpus,
            tmp_path / "data",
            automation={"refresh_cron": "30 6 * * 1-5", "timezone": "Europe/Berlin"},
        )
    )
    schedule = build_refresh_schedule(custom)
    assert schedule.cron_schedule == "30 6 * * 1-5"
    assert schedule.execution_timezone == "Europe/Berlin"
    (request,) = schedule.evaluate_tick(dg.build_schedule_context()).run_requests or []
    assert request.tags["embedloop/trigger"] == "schedule"
    with pytest.raises(ConfigError, match=r"automation\.refresh_cron"):
        load_settings(
            write_config(
                tmp_path / "c.yaml", corpus, tmp_path / "d", automation={"refresh_cron": "daily"}
            )
        )
    defs = build_definitions(tmp_path / "b.yaml")
    assert defs.resolve_schedule_def("source_refresh_schedule").cron_schedule == "30 6 * * 1-5"


def test_every_asset_has_a_code_version_and_training_shares_one_pool(tmp_path: Path) -> None:
    graph = build_definitions().resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        assert graph.get(key).code_version, key
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.materializable_asset_keys}
    assert pools["finetuned_embedding_model"] == {"embedloop_training"}
    assert pools["embedding_evaluation"] == {"embedloop_training"}


ROOT = Path(__file__).resolve().parents[2]
INSTANCE_CONFIGS = [ROOT / "dagster.yaml", ROOT / "orchestration" / "dagster_local.yaml"]


@pytest.mark.parametrize("config", INSTANCE_CONFIGS, ids=lambda p: p.name)
def test_both_instance_configs_give_training_one_slot(config: Path, tmp_path: Path) -> None:
    """The config as Dagster reads it: concurrency pools limited to one, run-granular."""
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text(config.read_text())
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "x",
        "DAGSTER_PG_DB": "dagster",
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        processed, _ = dagster_instance_config(str(tmp_path))
    concurrency = processed["concurrency"]
    assert concurrency["pools"] == {"default_limit": 1, "granularity": "run"}
    assert concurrency["runs"]["max_concurrent_runs"] == 1
    assert processed["run_coordinator"]["class"] == "QueuedRunCoordinator"


def test_the_local_instance_enforces_the_pool(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIGS[1].read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        config = instance.get_concurrency_config()
        assert config.pool_config.default_pool_limit == 1
        assert config.pool_config.pool_granularity.value == "run"  # type: ignore[union-attr]
        assert config.run_queue_config is not None
        assert config.run_queue_config.max_concurrent_runs == 1


def _dg(args: list[str], home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    venv = ROOT / ".venv"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "EMBEDLOOP_CONFIG": str(config),
        "VIRTUAL_ENV": str(venv),
    }
    return subprocess.run(
        [str(venv / "bin" / "dg"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_dg_loads_the_code_location(tmp_path: Path, corpus: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIGS[1].read_text())
    config = write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")
    started = time.monotonic()
    check = _dg(["check", "defs"], home, config)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = _dg(["list", "defs", "--json"], home, config)
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"] for a in defs["assets"]}
    assert {"documentation_sources", "source_documents", "finetuned_embedding_model"} <= assets
    assert {s["name"] for s in defs["sensors"]} == {
        "argilla_feedback_sensor",
        "search_log_sensor",
        "source_change_sensor",
        "source_automation_sensor",
        "index_after_rollback_sensor",
    }
    assert [s["name"] for s in defs["schedules"]] == ["source_refresh_schedule"]
    assert {"rollback_job", "source_refresh_job", "retraining_job"} <= {
        j["name"] for j in defs["jobs"]
    }
    launched = _dg(["launch", "--assets", "documentation_sources"], home, config)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.SUCCESS
        record = instance.get_latest_data_version_record(SOURCES_KEY, is_source=True)
        assert record is not None and record.run_id == run.run_id
    assert time.monotonic() - started < 400
