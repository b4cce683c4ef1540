"""Point ZenML at the project's own config and SQLite store before anything uses it.

ZenML keeps its global configuration (active stack, store URL) in a process-wide singleton
that is created from ``$ZENML_CONFIG_PATH`` on first use. Unless the project opts into the
user's global ZenML (``training.use_global_zenml``) or a server is named through
``$ZENML_STORE_URL``, every ZenML object of this project lives under ``<data_dir>/zenml``:
a fresh checkout works offline and never writes into ``~/.config/zenml``.

Call :func:`configure_zenml` before importing :mod:`training.pipelines` or
:mod:`training.steps` (both import zenml at module level); :mod:`training.runner` does it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from embedloop.config import Settings
from embedloop.run_lock import holder

CONFIG_PATH_ENV = "ZENML_CONFIG_PATH"
STORE_URL_ENV = "ZENML_STORE_URL"

# setdefault, not assignment: an operator who exports these explicitly wins.
_DEFAULT_ENV = {
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_LOGGING_VERBOSITY": "WARN",
    # The project runs without `zenml init`: the source root falls back to the working dir.
    "ZENML_ENABLE_REPO_INIT_WARNINGS": "false",
    # ZenML's rich excepthook renders an uncaught exception frame by frame; under a Dagster
    # run's DEBUG logging it renders every local too (a failed 12k-chunk run spent 25 min
    # and 13.7 GB on that, never exiting). Python's own traceback is enough.
    "ZENML_ENABLE_RICH_TRACEBACK": "false",
}


def zenml_config_dir(settings: Settings) -> Path | None:
    """Where this project's ZenML config lives, or None when the user's own ZenML is used."""
    if settings.training.use_global_zenml or os.environ.get(STORE_URL_ENV):
        return None
    return (settings.data_dir / "zenml").resolve()


def configure_zenml(settings: Settings) -> Path | None:
    """Set ZenML's environment for ``settings`` and make sure a usable stack is active.

    Returns the project-local config directory, or None when the global ZenML is used.
    Safe to call repeatedly; switching to another data_dir inside one process (tests do)
    drops ZenML's cached singletons so the next client opens the new store.
    """
    for key, value in _DEFAULT_ENV.items():
        os.environ.setdefault(key, value)

    target = zenml_config_dir(settings)
    if target is not None:
        previous = os.environ.get(CONFIG_PATH_ENV)
        target.mkdir(parents=True, exist_ok=True)
        os.environ[CONFIG_PATH_ENV] = str(target)
        if "zenml" in sys.modules and previous != str(target):
            _reset_zenml_singletons()

    _ensure_stack()
    return target


def _reset_zenml_singletons() -> None:
    # The global config caches its store (and the SQLAlchemy engine behind it); without a
    # reset a process that already used another config dir would keep writing there.
    from zenml.client import Client
    from zenml.config.global_config import GlobalConfiguration

    GlobalConfiguration._reset_instance()
    Client._reset_instance()


def _ensure_stack() -> None:
    """Create the store and the default stack (local orchestrator + local artifact store).

    A fresh config dir gets ZenML's ``default`` stack on first client access; a stack the
    user registered and activated in that dir is left alone.
    """
    from zenml.client import Client

    stack = Client().active_stack_model
    if not stack.components:
        raise RuntimeError(f"ZenML stack {stack.name!r} has no components")


def fail_abandoned_runs(settings: Settings) -> list[str]:
    """Mark failed the runs a killed process left ``running`` in the project's own store.

    Only while this process holds the data directory's run lock (``embedloop.run_lock``):
    then no other embedloop run can be alive, so any unfinished run is abandoned. Never
    for a shared ZenML server, where other people's runs may really be running.
    """
    if zenml_config_dir(settings) is None or not holds_run_lock(settings):
        return []
    from zenml.client import Client
    from zenml.enums import ExecutionStatus
    from zenml.models import PipelineRunUpdate, StepRunUpdate

    client = Client()
    reason = "abandoned: its process ended before the run did"
    abandoned = []
    for status in (s.value for s in ExecutionStatus if not s.is_finished):
        for run in client.list_pipeline_runs(status=status, size=100).items:
            for step in run.steps.values():
                if not step.status.is_finished:
                    client.zen_store.update_run_step(
                        step.id, StepRunUpdate(status=ExecutionStatus.FAILED)
                    )
            client.zen_store.update_run(
                run.id, PipelineRunUpdate(status=ExecutionStatus.FAILED, status_reason=reason)
            )
            abandoned.append(run.name)
    return abandoned


def holds_run_lock(settings: Settings) -> bool:
    """Whether this process holds the data directory's run lock (``embedloop.run_lock``)."""
    info = holder(settings.data_dir)
    return info is not None and info.get("pid") == os.getpid()
