"""Dagster resources: one per external system, plus the project's settings file.

Each resource holds what Dagster configures (paths, URLs, secrets through ``dg.EnvVar``)
and, through ``create_resource``, hands the assets a plain object of a lower layer
(``Settings``, an ``ArgillaConnection``, ``ZenMLTraining``) that they declare as
``dg.ResourceParam[...]``: assets never import this module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from embedloop.config import Settings, config_path, load_settings
from embedloop.pairs.llm_backends import LLMCredentials
from embedloop.review.argilla_io import ARGILLA_API_KEY_ENV, ArgillaConnection
from training.runner import ZenMLTraining


class SettingsResource(dg.ConfigurableResource):
    """Points every asset at the same ``embedloop.yaml``, read afresh for each run."""

    config_file: str

    def create_resource(self, context: dg.InitResourceContext) -> Settings:
        return load_settings(self.config_file)


LLM_API_KEY_ENV = "EMBEDLOOP_LLM_API_KEY"


class LLMResource(dg.ConfigurableResource):
    """The LLM endpoint's secret; everything else about the LLM is in the config file."""

    api_key: str | None = None

    def create_resource(self, context: dg.InitResourceContext) -> LLMCredentials:
        return LLMCredentials(self.api_key or None)


class ZenMLResource(dg.ConfigurableResource):
    """Runs the ZenML training pipelines. By default against the local store under the data
    directory; with ``training.use_global_zenml`` (or ZENML_STORE_URL and
    ZENML_STORE_API_KEY set) against the ZenML server this user is connected to."""

    config_file: str

    def create_resource(self, context: dg.InitResourceContext) -> ZenMLTraining:
        return ZenMLTraining(self.config_file)


# The key `make argilla-up` gives the local stack's owner when ARGILLA_API_KEY is unset.
LOCAL_ARGILLA_API_KEY = "embedloop.local.owner.key"


class ArgillaResource(dg.ConfigurableResource):
    """An Argilla server: the local stack (`make argilla-up`) or any Argilla 2.x deployment."""

    api_url: str
    api_key: str
    workspace: str
    timeout_s: float = 60

    def create_resource(self, context: dg.InitResourceContext) -> ArgillaConnection:
        return ArgillaConnection(self.api_url, self.api_key, self.workspace, self.timeout_s)


def build_resources(config_file: Path | str | None = None) -> dict[str, Any]:
    """Resources for a settings file; loading it first makes a bad config fail at load time."""
    file = Path(config_file).resolve() if config_file else config_path()
    settings = load_settings(file)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    return {
        "settings": SettingsResource(config_file=str(file)),
        "duckdb": DuckDBResource(database=str(settings.warehouse_path)),
        "zenml": ZenMLResource(config_file=str(file)),
        # Resolved at run time from the environment, never stored in run config.
        "argilla": ArgillaResource(
            api_url=os.environ.get("ARGILLA_API_URL") or settings.argilla.api_url,
            api_key=dg.EnvVar(ARGILLA_API_KEY_ENV)
            if os.environ.get(ARGILLA_API_KEY_ENV)
            else LOCAL_ARGILLA_API_KEY,
            workspace=settings.argilla.workspace,
            timeout_s=settings.argilla.timeout_s,
        ),
        "llm": LLMResource(
            api_key=dg.EnvVar(LLM_API_KEY_ENV) if os.environ.get(LLM_API_KEY_ENV) else None
        ),
    }
