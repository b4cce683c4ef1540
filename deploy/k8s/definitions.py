"""The embedloop code location for Kubernetes: the project's definitions, each step in a pod.

Locally, and in docker/, steps run one after the other in the run's own process
(``dg.in_process_executor`` in orchestration/definitions.py). On Kubernetes the Helm chart
(deploy/helm/dagster-values.yaml) starts this file instead: the same assets, checks, jobs,
sensors, schedules and resources, with dagster-k8s's ``k8s_job_executor`` configured by
executor.yaml beside it, so a step gets the pod size it needs (a GPU node for training)
while one step pod at a time keeps DuckDB to a single writer. Nothing else differs: no
distribution logic lives here.

Load it with ``dagster code-server start -f deploy/k8s/definitions.py -d /opt/embedloop``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from dagster_k8s import k8s_job_executor

from orchestration.definitions import build_definitions

EXECUTOR_CONFIG = Path(__file__).with_name("executor.yaml")


def executor_config(path: Path = EXECUTOR_CONFIG) -> dict[str, Any]:
    config = yaml.safe_load(path.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a mapping of k8s_job_executor settings")
    return config


def build_k8s_definitions(config_file: Path | str | None = None) -> dg.Definitions:
    base = build_definitions(config_file)
    return dg.Definitions(
        assets=base.assets,
        asset_checks=base.asset_checks,
        jobs=base.jobs,
        schedules=base.schedules,
        sensors=base.sensors,
        resources=base.resources,
        loggers=base.loggers,
        metadata=base.metadata,
        executor=k8s_job_executor.configured(executor_config(), name="k8s_job_executor"),
    )


defs = build_k8s_definitions()
