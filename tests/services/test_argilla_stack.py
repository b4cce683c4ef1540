"""The local Argilla stack: start, status and stop, on SQLite and PostgreSQL, its credentials
and the processes it trusts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import argilla as rg
import dagster as dg
import httpx
import pytest

from embedloop.review.argilla_io import ArgillaUnavailable
from services.argilla.credentials import refuse_public_bind
from services.argilla.stack import (
    PROCESSES,
    StackConfig,
    StackError,
    api_answers,
    config_from_env,
    start,
    status,
    stop,
)
from tests.helpers.config import write_config
from tests.helpers.services import ARGILLA_ENV, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_stack_status_reports_every_process(argilla_stack: StackConfig) -> None:
    info = status(argilla_stack)
    assert info["api_answers"] is True
    assert all(isinstance(info[p], int) for p in ("redis", "server", "worker"))
    server_info = httpx.get(
        f"{argilla_stack.api_url}/api/v1/status",
        headers={"X-Argilla-Api-Key": argilla_stack.api_key},
    ).json()
    assert server_info["search_engine"]["distribution"] == "embedloop-sql"
    ui = httpx.get(f"{argilla_stack.api_url}/", follow_redirects=True)  # the bundled web UI
    assert ui.status_code == 200 and "<html" in ui.text.lower()


def test_start_refuses_a_port_in_use(argilla_stack: StackConfig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.argilla.stack import StackError, start

    clash = StackConfig(
        data_dir=tmp_path / "clash",
        port=argilla_stack.port,  # taken by the session's server
        redis_port=argilla_stack.redis_port + 1000,
        start_timeout_s=60,
    )
    with pytest.raises(StackError, match=rf"port {argilla_stack.port} \(server\) is in use"):
        start(clash)
    assert api_answers(argilla_stack)  # the running stack is untouched


@pytest.mark.postgres
def test_the_stack_runs_on_postgresql(tmp_path, fresh_database: str) -> None:  # type: ignore[no-untyped-def]
    from services.argilla.stack import config_from_env, start, stop

    cfg = config_from_env(
        tmp_path / "pg-argilla",
        port=free_port(),
        redis_port=free_port(),
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{fresh_database}",
    )
    start(cfg)
    try:
        client = rg.Argilla(api_url=cfg.api_url, api_key=cfg.api_key)
        settings = rg.Settings(
            fields=[rg.TextField(name="text")],
            questions=[rg.LabelQuestion(name="ok", labels=["yes", "no"])],
            metadata=[rg.IntegerMetadataProperty(name="n")],
        )
        ds = rg.Dataset(name="pg", workspace="argilla", settings=settings, client=client).create()
        ds.records.log(
            [rg.Record(id=f"r{i}", fields={"text": f"t{i}"}, metadata={"n": i}) for i in range(4)]
        )
        hits = ds.records(query=rg.Query(filter=rg.Filter(("metadata.n", ">=", 2))))
        assert sorted(r.id for r in hits) == ["r2", "r3"]
        assert not (tmp_path / "pg-argilla" / "argilla.db").exists()  # nothing went to SQLite
    finally:
        stop(cfg)


def test_start_fails_with_the_log_tail_when_the_database_is_unreachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from services.argilla.stack import StackError, config_from_env, start, status

    cfg = config_from_env(
        tmp_path / "broken",
        port=free_port(),
        redis_port=free_port(),
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
    )
    with pytest.raises(StackError, match="database migration failed") as err:
        start(cfg)
    assert "Connection refused" in str(err.value) or "connect" in str(err.value)
    after = status(cfg)
    assert (after["redis"], after["server"], after["worker"]) == (None, None, None)  # cleaned up


# --- credentials and processes ------------------------------------------------------------


def _recording_venv(tmp_path: Path, real: Path) -> tuple[Path, Path]:
    """A virtualenv whose python and redis-server write their command line to a log, then
    run the real ones: it sees even the short-lived setup commands."""
    venv, log = tmp_path / "venv", tmp_path / "argv.log"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "redis-server"):
        shim = venv / "bin" / name
        shim.write_text(f'#!/bin/sh\necho "$0 $*" >> "{log}"\nexec "{real / "bin" / name}" "$@"\n')
        shim.chmod(0o755)
    return venv, log


def _sessions(*leaders: object) -> list[int]:
    """Every live process in the sessions these processes lead (the worker pool's too)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            text = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if text and int(text[text.rindex(")") + 2 :].split()[3]) in leaders:
            found.append(int(entry.name))
    return found


def test_first_start_makes_private_credentials_kept_off_every_command_line(
    tmp_path: Path,
) -> None:
    data, port, redis_port = tmp_path / "stack", free_port(), free_port()
    venv, argv_log = _recording_venv(tmp_path, config_from_env(data).venv)
    env = {k: v for k, v in os.environ.items() if k not in ARGILLA_ENV}
    env |= {"EMBEDLOOP_ARGILLA_VENV": str(venv), "ARGILLA_PASSWORD": "a-chosen-ui-password"}
    cli = [sys.executable, "-m", "services.argilla", "--data-dir", str(data)]
    cli += ["--port", str(port), "--redis-port", str(redis_port), "start"]
    cfg = config_from_env(data, port=port, redis_port=redis_port, venv=venv)
    try:
        first = subprocess.run(cli, env=env, cwd=ROOT, capture_output=True, text=True)
        assert first.returncode == 0, first.stdout + first.stderr
        stored = cfg.stored_credentials()
        assert stored is not None and stored.generated and len(stored.api_key) >= 32
        assert stored.password == "a-chosen-ui-password"
        assert stat.S_IMODE(cfg.credentials_file.stat().st_mode) == 0o600
        assert stored.api_key in first.stdout  # shown on the start that made it
        assert api_answers(cfg)
        well_known = {"X-Argilla-Api-Key": "embedloop.local.owner.key"}
        assert httpx.get(f"{cfg.api_url}/api/v1/me", headers=well_known).status_code == 401

        secrets = (stored.api_key, stored.password)
        info = status(cfg)
        children = _sessions(*(info[p] for p in PROCESSES))
        assert len(children) >= 3
        for pid in children:
            for part in ("cmdline", "environ"):
                seen = Path(f"/proc/{pid}/{part}").read_bytes().decode(errors="replace")
                assert not any(secret in seen for secret in secrets), (pid, part)
        assert "sqlsearch.owner" in argv_log.read_text()  # the setup commands ran...
        assert not any(secret in argv_log.read_text() for secret in secrets)  # ...clean

        again = subprocess.run(cli, env=env, cwd=ROOT, capture_output=True, text=True)
        assert again.returncode == 0, again.stdout + again.stderr
        assert not any(secret in again.stdout + again.stderr for secret in secrets)
        assert cfg.stored_credentials() == stored  # reused, not made anew
    finally:
        stop(cfg)


@pytest.mark.parametrize("key", [None, "embedloop.local.owner.key"])
def test_a_public_address_needs_a_strong_key_of_ones_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    for name in ARGILLA_ENV:
        monkeypatch.delenv(name, raising=False)
    if key:
        monkeypatch.setenv("ARGILLA_API_KEY", key)
    cfg = config_from_env(
        tmp_path / "public", host="0.0.0.0", port=free_port(), redis_port=free_port()
    )
    try:
        with pytest.raises(
            StackError, match=r"refusing to listen on '0\.0\.0\.0'.*ARGILLA_API_KEY"
        ):
            start(cfg)
        assert not cfg.credentials_file.exists()
        assert [status(cfg)[p] for p in PROCESSES] == [None, None, None]
    finally:
        stop(cfg)
    refuse_public_bind("0.0.0.0", "k" * 40)  # a key of one's own is enough
    refuse_public_bind("localhost", None)  # and loopback needs none


@pytest.mark.parametrize(
    "pid_file",
    ["{pid}\n", '{{"pid": {pid}, "started": "some-other-boot:1234"}}\n'],
    ids=["pid-only", "other-start-time"],
)
def test_a_stale_pid_file_never_signals_an_unrelated_process(tmp_path: Path, pid_file: str) -> None:
    cfg = StackConfig(data_dir=tmp_path / "stale", port=free_port(), redis_port=free_port())
    unrelated = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        for process in PROCESSES:
            cfg.pid_file(process).parent.mkdir(parents=True, exist_ok=True)
            cfg.pid_file(process).write_text(pid_file.format(pid=unrelated.pid))
        assert stop(cfg, timeout=2) == []
        assert unrelated.poll() is None  # still alive: nothing was signalled
        assert not any(cfg.pid_file(p).exists() for p in PROCESSES)  # stale files gone
        for process in PROCESSES:
            cfg.pid_file(process).write_text(pid_file.format(pid=unrelated.pid))
        info = status(cfg)
        assert [info[p] for p in PROCESSES] == [None, None, None]
        assert info["api_answers"] is False and unrelated.poll() is None
    finally:
        unrelated.kill()
        unrelated.wait()


def test_resources_send_the_local_key_to_a_loopback_url_only(
    argilla_stack: StackConfig, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.resources import build_resources

    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    monkeypatch.setenv("EMBEDLOOP_ARGILLA_DATA", str(argilla_stack.data_dir))

    def argilla(name: str, api_url: str) -> dg.ConfigurableResource:
        config = write_config(
            tmp_path / name, corpus, tmp_path / "data", argilla={"api_url": api_url}
        )
        return build_resources(config)["argilla"]  # builds whatever the URL

    with dg.build_resources({"argilla": argilla("local.yaml", argilla_stack.api_url)}) as built:
        assert built.argilla.api_key == argilla_stack.api_key
        assert built.argilla.client().me.username == "argilla"

    # Without a key the resource still builds (a sensor tick must skip, not crash); its first
    # use fails with the reason, and the local key was never handed to the remote URL.
    remote = argilla("remote.yaml", "https://argilla.example.com")
    with dg.build_resources({"argilla": remote}) as built:
        assert built.argilla.api_key == ""
        with pytest.raises(ArgillaUnavailable) as failed:
            built.argilla.client()
    message = str(failed.value)
    assert "no API key for Argilla at https://argilla.example.com: set ARGILLA_API_KEY" in message


def test_a_sensor_tick_without_any_argilla_key_skips_with_the_reason(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ARGILLA_API_KEY and no local stack yet: the tick says so, it does not error."""
    from embedloop.config import load_settings
    from orchestration.resources import build_resources
    from orchestration.sensors import build_feedback_sensor

    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    monkeypatch.setenv("EMBEDLOOP_ARGILLA_DATA", str(tmp_path / "no-stack"))
    config = write_config(tmp_path / "embedloop.yaml", corpus, tmp_path / "data")
    sensor = build_feedback_sensor(load_settings(config))
    resources = {
        k: v for k, v in build_resources(config).items() if k in ("argilla", "vector_index")
    }
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources=resources
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SkipReason)
    assert "no API key for Argilla" in (result.skip_message or "")
    assert "make argilla-up" in (result.skip_message or "")
