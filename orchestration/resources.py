"""Dagster resources: one per external system, plus the project's settings file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster_duckdb import DuckDBResource

from orchestration.settings import Settings, config_path, load_settings

if TYPE_CHECKING:
    import argilla as rg

    from training.runner import EvaluationSummary, FinetuneSummary


class SettingsResource(dg.ConfigurableResource):
    """Points every asset at the same ``embedloop.yaml``."""

    config_file: str

    def load(self) -> Settings:
        return load_settings(self.config_file)


LLM_API_KEY_ENV = "EMBEDLOOP_LLM_API_KEY"


class LLMResource(dg.ConfigurableResource):
    """The LLM endpoint's secret; endpoint, model and generation settings live in the config
    file (``synthetic.llm``). Local servers (vLLM, Ollama, llama.cpp) need no key."""

    api_key: str | None = None

    def api_key_value(self) -> str | None:
        return self.api_key or None


class ZenMLResource(dg.ConfigurableResource):
    """Runs the ZenML training pipelines. By default against the local store under the data
    directory; with ``training.use_global_zenml`` (or ZENML_STORE_URL and
    ZENML_STORE_API_KEY set) against the ZenML server this user is connected to."""

    config_file: str

    def finetune(self, dagster_run_id: str | None = None) -> FinetuneSummary:
        from training.runner import run_finetune

        return run_finetune(self.config_file, dagster_run_id=dagster_run_id)

    def evaluate(self, model_version: int, dagster_run_id: str | None = None) -> EvaluationSummary:
        from training.runner import run_evaluation

        return run_evaluation(self.config_file, model_version, dagster_run_id=dagster_run_id)


ARGILLA_API_KEY_ENV = "ARGILLA_API_KEY"
# The key `make argilla-up` gives the local stack's owner when ARGILLA_API_KEY is unset.
LOCAL_ARGILLA_API_KEY = "embedloop.local.owner.key"


class ArgillaUnavailable(RuntimeError):
    """Argilla could not be reached or refused the credentials; the message says which."""


class ArgillaResource(dg.ConfigurableResource):
    """An Argilla server: the local stack (`make argilla-up`) or any Argilla 2.x deployment."""

    api_url: str
    api_key: str
    workspace: str
    timeout_s: float = 60

    def client(self) -> rg.Argilla:
        import argilla as rg
        import httpx
        from argilla._exceptions import ArgillaCredentialsError

        try:
            return rg.Argilla(api_url=self.api_url, api_key=self.api_key, timeout=self.timeout_s)
        except ArgillaCredentialsError:
            raise ArgillaUnavailable(
                f"Argilla at {self.api_url} rejected the API key: set {ARGILLA_API_KEY_ENV} to "
                f"the key of an owner or admin of workspace {self.workspace!r}"
            ) from None
        except httpx.HTTPError as err:
            raise ArgillaUnavailable(
                f"Argilla is not reachable at {self.api_url} ({err}); start the local stack "
                "with `make argilla-up` or set argilla.api_url in the config file"
            ) from None


def build_resources(config_file: Path | str | None = None) -> dict[str, object]:
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
