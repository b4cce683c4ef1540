"""The production deployment (docker/): compose requires every secret, PostgreSQL gives
Dagster and Argilla a role and a database each, ZenML gets MySQL, and the user code is a
gRPC code location of its own.

`docker-compose config` resolves the file as `up` would, without Docker: it needs the
docker-compose binary (Debian's package) and skips without it. The init script runs against
the PostgreSQL server the other database tests use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
GPU_OVERRIDE = ROOT / "docker" / "docker-compose.gpu.yml"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"
INIT_SCRIPT = ROOT / "docker" / "postgres-init" / "10-roles.sh"
COMPOSE = shutil.which("docker-compose")


def example_variables() -> list[str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def compose_config(
    tmp_path: Path, values: dict[str, str], *overrides: Path
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly these variables: none from the caller's
    environment, and none from a docker/.env a developer may have."""
    env_file = tmp_path / f"{uuid.uuid4().hex}.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    env = {k: v for k, v in os.environ.items() if k not in example_variables()}
    files = [arg for f in (COMPOSE_FILE, *overrides) for arg in ("-f", str(f))]
    return subprocess.run(
        [str(COMPOSE), "--env-file", str(env_file), *files, "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


needs_compose = pytest.mark.skipif(
    COMPOSE is None, reason="no docker-compose binary (Debian: apt-get install docker-compose)"
)


def test_the_example_lists_every_variable_with_no_value() -> None:
    names = example_variables()
    used = {
        word.split(":", 1)[0].split("}", 1)[0] for word in COMPOSE_FILE.read_text().split("${")[1:]
    }
    assert sorted(names) == sorted(used)
    assert all(line.endswith("=") for line in ENV_EXAMPLE.read_text().splitlines() if "=" in line)


@needs_compose
def test_compose_refuses_to_run_without_each_secret(tmp_path: Path) -> None:
    names = example_variables()
    as_shipped = compose_config(tmp_path, dict.fromkeys(names, ""))  # the example, unfilled
    assert as_shipped.returncode != 0
    for missing in names:
        values = {name: f"test-{name.lower()}" for name in names if name != missing}
        result = compose_config(tmp_path, values)
        assert result.returncode != 0, f"compose ran without {missing}"
        assert f"set {missing}" in result.stderr


@needs_compose
def test_compose_with_every_secret_gives_argilla_its_own_role(tmp_path: Path) -> None:
    values = {name: f"test-{name.lower().replace('_', '-')}" for name in example_variables()}
    result = compose_config(tmp_path, values)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    argilla = services["argilla"]["environment"]
    pg = values["ARGILLA_PG_PASSWORD"]
    assert (
        argilla["ARGILLA_DATABASE_URL"]
        == f"postgresql+asyncpg://argilla:{pg}@postgres:5432/argilla"
    )
    assert services["argilla-worker"]["environment"]["ARGILLA_DATABASE_URL"].startswith(
        "postgresql+asyncpg://argilla:"
    )
    assert argilla["PASSWORD"] == values["ARGILLA_PASSWORD"]
    assert argilla["API_KEY"] == services["user-code"]["environment"]["ARGILLA_API_KEY"]
    dagster = services["webserver"]["environment"]
    assert (dagster["DAGSTER_PG_USERNAME"], dagster["DAGSTER_PG_PASSWORD"]) == (
        "dagster",
        values["DAGSTER_PG_PASSWORD"],
    )
    postgres = services["postgres"]["environment"]
    assert postgres.get("POSTGRES_USER", "postgres") == "postgres"  # no app is the superuser
    assert postgres["POSTGRES_PASSWORD"] == values["POSTGRES_PASSWORD"]
    assert "change-me" not in result.stdout and ":dagster@" not in result.stdout


def _resolved(tmp_path: Path, *overrides: Path) -> dict[str, Any]:
    values = {name: f"test-{name.lower().replace('_', '-')}" for name in example_variables()}
    result = compose_config(tmp_path, values, *overrides)
    assert result.returncode == 0, result.stderr
    return dict(yaml.safe_load(result.stdout)["services"])


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host source, for the bind mounts (what `config` prints as strings)."""
    pairs = (v.split(":")[:2] for v in service.get("volumes", []) if isinstance(v, str))
    return {target: source for source, target in pairs}


@needs_compose
def test_every_dagster_container_mounts_the_root_instance_config(tmp_path: Path) -> None:
    services = _resolved(tmp_path)
    root_instance = str(ROOT / "dagster.yaml")
    for name in ("webserver", "daemon", "user-code"):
        assert _mounts(services[name])["/opt/dagster/home/dagster.yaml"] == root_instance, name
        env = services[name]["environment"]
        assert env["DAGSTER_PG_USERNAME"] == "dagster" and env["DAGSTER_PG_HOST"] == "postgres"
    # The webserver and daemon load the code location from workspace.yaml, over gRPC.
    workspace_file = ROOT / "docker" / "workspace.yaml"
    for name in ("webserver", "daemon"):
        assert _mounts(services[name])["/opt/dagster/workspace.yaml"] == str(workspace_file)
        assert "-w /opt/dagster/workspace.yaml" in services[name]["command"]
    (server,) = yaml.safe_load(workspace_file.read_text())["load_from"]
    assert server["grpc_server"]["host"] == "user-code"
    assert f"-p {server['grpc_server']['port']}" in " ".join(
        services["user-code"]["healthcheck"]["test"]
    )


@needs_compose
def test_user_code_and_dagster_are_separate_images(tmp_path: Path) -> None:
    services = _resolved(tmp_path)
    user_code = services["user-code"]["build"]["dockerfile"]
    assert services["webserver"]["build"]["dockerfile"] == "docker/dagster.Dockerfile"
    assert services["daemon"]["build"] == services["webserver"]["build"]
    assert user_code == "docker/user-code.Dockerfile" and user_code != "docker/dagster.Dockerfile"
    # Dagster's image holds no project code; the code location serves it over gRPC.
    dagster_image = (ROOT / "docker" / "dagster.Dockerfile").read_text()
    assert "COPY embedloop" not in dagster_image and "-e ." not in dagster_image
    user_image = (ROOT / "docker" / "user-code.Dockerfile").read_text()
    assert '"code-server", "start"' in user_image and "orchestration.definitions" in user_image
    # Only the user-code container runs project code, so only it holds the warehouse volume.
    holders = [n for n, s in services.items() if "/opt/embedloop/data" in _mounts(s)]
    assert sorted(holders) == ["search-api", "user-code"]  # the API loads promoted models
    # Runs execute in user-code; their compute logs must reach the webserver's UI.
    logs = {
        _mounts(services[n]).get("/opt/dagster/home/storage") for n in ("user-code", "webserver")
    }
    assert len(logs) == 1 and None not in logs
    # Every long-running service says when it is healthy.
    unchecked = {n for n, s in services.items() if "healthcheck" not in s}
    assert unchecked == {"argilla-worker"}


@needs_compose
def test_zenml_server_runs_on_mysql_with_its_own_user(tmp_path: Path) -> None:
    services = _resolved(tmp_path)
    zenml, db = services["zenml"]["environment"], services["zenml-db"]["environment"]
    # ZenML's SQL store supports MySQL and SQLite only: no PostgreSQL here.
    password = db["MYSQL_PASSWORD"]
    assert zenml["ZENML_STORE_URL"] == f"mysql://zenml:{password}@zenml-db:3306/zenml"
    assert db["MYSQL_USER"] == "zenml" and db["MYSQL_DATABASE"] == "zenml"
    assert db["MYSQL_ROOT_PASSWORD"] != password
    assert services["zenml"]["depends_on"]["zenml-db"]["condition"] == "service_healthy"
    client = services["user-code"]["environment"]
    assert client["ZENML_STORE_URL"] == "http://zenml:8080"
    assert client["ZENML_STORE_USERNAME"] == zenml["ZENML_DEFAULT_USER_NAME"]
    assert client["ZENML_STORE_PASSWORD"] == zenml["ZENML_DEFAULT_USER_PASSWORD"]


@needs_compose
def test_gpu_override_gives_user_code_cuda_and_a_gpu(tmp_path: Path) -> None:
    plain, gpu = _resolved(tmp_path), _resolved(tmp_path, GPU_OVERRIDE)
    (device,) = gpu["user-code"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "/cu" in gpu["user-code"]["build"]["args"]["TORCH_INDEX_URL"]
    assert "deploy" not in plain["user-code"]

    # Nothing but the user-code service changes (compose may list volumes in any order).
    def others(services: dict[str, Any]) -> dict[str, Any]:
        return {
            n: {**s, "volumes": sorted(map(str, s.get("volumes", [])))}
            for n, s in services.items()
            if n != "user-code"
        }

    assert others(gpu) == others(plain)


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's SCRAM-SHA-256 verifier (pg_authid.rolpassword) is for this
    password (RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key")))."""
    method, rest = verifier.split("$", 1)
    params, keys = rest.split("$")
    iterations, salt = params.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return method == "SCRAM-SHA-256" and hmac.compare_digest(expected, stored_key)


@pytest.mark.postgres
def test_the_init_script_makes_a_role_and_a_database_per_application() -> None:
    import psycopg2

    from tests.helpers.services import PG, admin

    tag = uuid.uuid4().hex[:8]
    names = {
        "DAGSTER_PG_ROLE": f"dagster_{tag}",
        "DAGSTER_PG_DB": f"dagster_db_{tag}",
        "ARGILLA_PG_ROLE": f"argilla_{tag}",
        "ARGILLA_PG_DB": f"argilla_db_{tag}",
        "INDEX_PG_ROLE": f"index_{tag}",
        "INDEX_PG_DB": f"index_db_{tag}",
    }
    passwords = {  # quotes and a semicolon: psql must quote them, not the shell
        "DAGSTER_PG_PASSWORD": "d'a\"g; DROP ROLE postgres; --",
        "ARGILLA_PG_PASSWORD": "a$rg`illa' x",
        "INDEX_PG_PASSWORD": "i\\nd'ex",
    }
    env = {
        **os.environ,
        **names,
        **passwords,
        "PGHOST": str(PG["host"]),
        "PGPORT": str(PG["port"]),
        "POSTGRES_USER": str(PG["user"]),
        "POSTGRES_DB": "postgres",
    }
    try:
        done = subprocess.run(
            ["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        conn = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
        with conn, conn.cursor() as cur:
            for app in ("DAGSTER", "ARGILLA", "INDEX"):
                role, db = names[f"{app}_PG_ROLE"], names[f"{app}_PG_DB"]
                other = names[f"{'ARGILLA' if app == 'DAGSTER' else 'DAGSTER'}_PG_DB"]
                cur.execute(
                    "SELECT r.rolsuper, r.rolcanlogin, r.rolpassword, pg_get_userbyid(d.datdba),"
                    " has_database_privilege(r.rolname, d.datname, 'CONNECT'),"
                    " has_database_privilege(r.rolname, %s, 'CONNECT')"
                    " FROM pg_authid r, pg_database d WHERE r.rolname = %s AND d.datname = %s",
                    (other, role, db),
                )
                superuser, login, verifier, owner, own_db, others_db = cur.fetchone()
                assert (superuser, login, owner, own_db, others_db) == (
                    False,
                    True,
                    role,
                    True,
                    False,
                )
                assert _scram_matches(verifier, passwords[f"{app}_PG_PASSWORD"])
        conn.close()
    finally:
        for key in ("DAGSTER_PG_DB", "ARGILLA_PG_DB", "INDEX_PG_DB"):
            admin(f'DROP DATABASE IF EXISTS "{names[key]}" WITH (FORCE)')
        for key in ("DAGSTER_PG_ROLE", "ARGILLA_PG_ROLE", "INDEX_PG_ROLE"):
            admin(f'DROP ROLE IF EXISTS "{names[key]}"')


@needs_compose
def test_the_search_api_serves_the_index_the_assets_write_with_its_key(tmp_path: Path) -> None:
    services = _resolved(tmp_path)
    api, user_code = services["search-api"], services["user-code"]
    assert api["image"] == user_code["image"]  # the same code and config as the assets
    url = user_code["environment"]["EMBEDLOOP_INDEX_URL"]
    assert api["environment"]["EMBEDLOOP_INDEX_URL"] == url
    assert url.startswith("postgresql://embedloop_index:") and url.endswith(
        "@postgres:5432/embedloop_index"
    )
    assert api["environment"]["EMBEDLOOP_API_KEY"]
    assert api["command"][:2] == ["embedloop", "serve"] and "0.0.0.0" in api["command"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
