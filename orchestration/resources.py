"""Dagster resources: one per external system, plus the project's settings file.

Each resource holds what Dagster configures (paths, URLs, secrets through ``dg.EnvVar``)
and, through ``create_resource``, hands the assets a plain object of a lower layer
(``Settings``, an ``ArgillaConnection``, ``ZenMLTraining``) that they declare as
``dg.ResourceParam[...]``: assets never import this module.
"""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings, config_path, load_settings
from embedloop.index.build import IndexTarget
from embedloop.pairs.credentials import LLMCredentials
from embedloop.review.argilla_io import (
    ARGILLA_API_KEY_ENV,
    ArgillaConnection,
    ArgillaUnavailable,
)
from embedloop.run_lock import run_lock
from embedloop.serving_config import INDEX_URL_ENV
from embedloop.warehouse import CONNECTION_CONFIG
from training.runner import ZenMLTraining


@contextmanager
def _run_locked(
    config_file: str, context: dg.InitResourceContext, wait: bool
) -> Iterator[Settings]:
    """The settings, while this run holds their data directory's lock (``run_lock``)."""
    settings = load_settings(config_file)
    owner = f"Dagster run {context.run_id} ({Path(sys.argv[0]).name})"
    with run_lock(settings.data_dir, owner=owner, wait=wait):
        yield settings


class SettingsResource(dg.ConfigurableResource):
    """Points every asset at the same ``embedloop.yaml``, read afresh for each run, and holds
    the data directory's run lock while the run works (``embedloop.run_lock``).

    A second run on the same data directory waits for the first (``wait_for_lock``, the
    default for runs Dagster launches) or fails at once naming it (`embedloop run` without
    ``--wait``)."""

    config_file: str
    wait_for_lock: bool = True

    def create_resource(self, context: dg.InitResourceContext) -> Settings:
        return load_settings(self.config_file)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[Settings]:
        with _run_locked(self.config_file, context, self.wait_for_lock) as settings:
            yield settings


LLM_API_KEY_ENV = "EMBEDLOOP_LLM_API_KEY"


class LLMResource(dg.ConfigurableResource):
    """The LLM endpoint's secret; everything else about the LLM is in the config file."""

    api_key: str | None = None

    def create_resource(self, context: dg.InitResourceContext) -> LLMCredentials:
        return LLMCredentials(self.api_key or None)


class ZenMLResource(dg.ConfigurableResource):
    """Runs the ZenML training pipelines. By default against the local store under the data
    directory; with ``training.use_global_zenml`` (or ZENML_STORE_URL and
    ZENML_STORE_API_KEY set) against the ZenML server this user is connected to.

    Holds the data directory's run lock too, so a run of the training assets alone is one
    run at a time like any other (within one run the lock is shared, not taken twice)."""

    config_file: str
    wait_for_lock: bool = True

    def create_resource(self, context: dg.InitResourceContext) -> ZenMLTraining:
        return ZenMLTraining(self.config_file)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[ZenMLTraining]:
        with _run_locked(self.config_file, context, self.wait_for_lock):
            yield ZenMLTraining(self.config_file)


class VectorIndexResource(dg.ConfigurableResource):
    """The production index's database: a PostgreSQL server with pgvector
    (``postgres_url``, from $EMBEDLOOP_INDEX_URL: it carries a password), or, without one,
    the embedded DuckDB file under the data directory."""

    postgres_url: str | None = None

    def create_resource(self, context: dg.InitResourceContext) -> IndexTarget:
        return IndexTarget(self.postgres_url or None)


# The local stack (`make argilla-up`, services/argilla) keeps its owner's credentials in this
# file of its data directory: $EMBEDLOOP_ARGILLA_DATA, else <data_dir>/argilla.
LOCAL_CREDENTIALS_FILE = "credentials.json"
LOCAL_DATA_ENV = "EMBEDLOOP_ARGILLA_DATA"


def is_loopback_url(url: str) -> bool:
    """Whether a URL points at this machine only (where the local stack listens).

    services/argilla/credentials.py asks the same of a bind address; it stays a copy
    because services/ imports nothing of the project and the project's image has no
    services/ in it."""
    host = (urlsplit(url).hostname or "").strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ArgillaResource(dg.ConfigurableResource):
    """An Argilla server: the local stack (`make argilla-up`) or any Argilla 2.x deployment.

    The key is ``api_key`` ($ARGILLA_API_KEY); without one, and only for a loopback
    ``api_url``, the local stack's owner key from ``local_credentials``. A remote server
    never gets the local key: without ARGILLA_API_KEY, using it fails and says so."""

    api_url: str
    api_key: str | None = None
    workspace: str
    timeout_s: float = 60
    local_credentials: str | None = None

    def create_resource(self, context: dg.InitResourceContext) -> ArgillaConnection:
        try:
            key = self.resolve_api_key()
        except ArgillaUnavailable as err:
            return ArgillaConnection(self.api_url, "", self.workspace, self.timeout_s, str(err))
        return ArgillaConnection(self.api_url, key, self.workspace, self.timeout_s)

    def resolve_api_key(self) -> str:
        if self.api_key:
            return self.api_key
        if not is_loopback_url(self.api_url):
            raise ArgillaUnavailable(
                f"no API key for Argilla at {self.api_url}: set {ARGILLA_API_KEY_ENV} to the "
                f"key of an owner or admin of workspace {self.workspace!r} (the local stack's "
                "key is only ever sent to a loopback address)"
            )
        file = Path(self.local_credentials) if self.local_credentials else None
        try:
            key = json.loads(file.read_text())["api_key"] if file else None
        except FileNotFoundError:
            key = None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ArgillaUnavailable(
                f"cannot read the local Argilla key in {file}: {err}"
            ) from None
        if not key:
            raise ArgillaUnavailable(
                f"no API key for Argilla at {self.api_url}: {ARGILLA_API_KEY_ENV} is unset and "
                f"the local stack has no credentials at {file}: start it with `make "
                f"argilla-up`, or set {ARGILLA_API_KEY_ENV}"
            )
        return str(key)


def local_argilla_credentials(settings: Settings) -> Path:
    """Where the local stack for these settings keeps its owner's credentials."""
    data = os.environ.get(LOCAL_DATA_ENV)
    return (
        Path(data) if data else settings.data_dir / "argilla"
    ).resolve() / LOCAL_CREDENTIALS_FILE


def build_resources(
    config_file: Path | str | None = None, wait_for_lock: bool = True
) -> dict[str, Any]:
    """Resources for a settings file; loading it first makes a bad config fail at load time."""
    file = Path(config_file).resolve() if config_file else config_path()
    settings = load_settings(file)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "settings": SettingsResource(config_file=str(file), wait_for_lock=wait_for_lock),
        "duckdb": DuckDBResource(
            database=str(settings.warehouse_path), connection_config=CONNECTION_CONFIG
        ),
        "zenml": ZenMLResource(config_file=str(file), wait_for_lock=wait_for_lock),
        # Resolved at run time from the environment, never stored in run config.
        "argilla": ArgillaResource(
            api_url=os.environ.get("ARGILLA_API_URL") or settings.argilla.api_url,
            api_key=dg.EnvVar(ARGILLA_API_KEY_ENV) if os.environ.get(ARGILLA_API_KEY_ENV) else None,
            workspace=settings.argilla.workspace,
            timeout_s=settings.argilla.timeout_s,
            local_credentials=str(local_argilla_credentials(settings)),
        ),
        "llm": LLMResource(
            api_key=dg.EnvVar(LLM_API_KEY_ENV) if os.environ.get(LLM_API_KEY_ENV) else None
        ),
        "vector_index": VectorIndexResource(
            postgres_url=dg.EnvVar(INDEX_URL_ENV) if os.environ.get(INDEX_URL_ENV) else None
        ),
    }
