"""The scale-out configs in deploy/, loaded and validated by the engines' own schemas.

Dagster's Helm chart publishes its values schema only in its repository (no package has it),
so the run launcher section is rendered the way the chart's template renders it and then
validated against dagster-k8s's K8sRunLauncher config schema, the one the instance checks at
start-up; Kubernetes objects inside go through the kubernetes client's models, as dagster-k8s
does when it launches a Job. The executor config is validated against k8s_job_executor's own
schema, and the code location file is loaded. The ZenML stack goes through `zenml stack
import` into a scratch store and through ZenML's own flavor config classes.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from dagster._config import process_config
from dagster._config.field_utils import convert_potential_field
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.job import UserDefinedDagsterK8sConfig
from dagster_k8s.models import k8s_model_from_dict, k8s_snake_case_dict

ROOT = Path(__file__).resolve().parents[2]
HELM_VALUES = ROOT / "deploy" / "helm" / "dagster-values.yaml"
EXECUTOR = ROOT / "deploy" / "k8s" / "executor.yaml"
K8S_DEFS = ROOT / "deploy" / "k8s" / "definitions.py"
STACK = ROOT / "deploy" / "zenml" / "k8s-stack.yaml"
RUN_CONFIG = ROOT / "deploy" / "zenml" / "gpu-run.yaml"

# Helm value -> K8sRunLauncher field, as the chart's instance template renders them.
_LAUNCHER_FIELDS = {
    "loadInclusterConfig": "load_incluster_config",
    "kubeconfigFile": "kubeconfig_file",
    "jobNamespace": "job_namespace",
    "imagePullPolicy": "image_pull_policy",
    "envVars": "env_vars",
    "volumeMounts": "volume_mounts",
    "volumes": "volumes",
    "labels": "labels",
    "resources": "resources",
    "failPodOnRunFailure": "fail_pod_on_run_failure",
    "schedulerName": "scheduler_name",
    "securityContext": "security_context",
}
_NAME_LISTS = {"envConfigMaps": "env_config_maps", "envSecrets": "env_secrets"}
_RUN_K8S_CONFIG = {
    "containerConfig": "container_config",
    "podSpecConfig": "pod_spec_config",
    "podTemplateSpecMetadata": "pod_template_spec_metadata",
    "jobSpecConfig": "job_spec_config",
    "jobMetadata": "job_metadata",
}


def helm_values() -> dict[str, Any]:
    return dict(yaml.safe_load(HELM_VALUES.read_text()))


def render_run_launcher(values: dict[str, Any], release: str = "embedloop") -> dict[str, Any]:
    """The K8sRunLauncher config the chart writes into the instance's dagster.yaml."""
    section = values["runLauncher"]["config"]["k8sRunLauncher"]
    config: dict[str, Any] = {
        "dagster_home": values["global"]["dagsterHome"],
        "instance_config_map": f"{release}-dagster-instance",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "service_account_name": f"{release}-dagster",
        "job_namespace": release,
    }
    for key, value in section.items():
        if key in _LAUNCHER_FIELDS:
            config[_LAUNCHER_FIELDS[key]] = value
        elif key in _NAME_LISTS:
            if value:
                config[_NAME_LISTS[key]] = [entry["name"] for entry in value]
        elif key == "runK8sConfig":
            config["run_k8s_config"] = {_RUN_K8S_CONFIG[k]: v for k, v in value.items()}
        else:
            raise KeyError(f"runLauncher.config.k8sRunLauncher.{key} is not a chart value")
    return config


def launcher_errors(config: dict[str, Any]) -> list[str]:
    field = convert_potential_field(K8sRunLauncher.config_type())
    result = process_config(field.config_type, config)
    return [e.message for e in result.errors or []]


def check_k8s_objects(volumes: list[Any], mounts: list[Any]) -> None:
    """Through the kubernetes client's models, as dagster-k8s builds the Job."""
    for model, items in (
        (kubernetes.client.V1Volume, volumes),
        (kubernetes.client.V1VolumeMount, mounts),
    ):
        for item in items:
            k8s_model_from_dict(model, k8s_snake_case_dict(model, item))


def test_helm_run_launcher_is_a_valid_k8s_run_launcher_config() -> None:
    values = helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    config = render_run_launcher(values)
    assert launcher_errors(config) == []
    check_k8s_objects(config["volumes"], config["volume_mounts"])
    run_k8s = UserDefinedDagsterK8sConfig.from_dict(config["run_k8s_config"])
    assert run_k8s.container_config["resources"]["requests"]["memory"]
    # Runs see the warehouse volume where the user-code image keeps data_dir.
    (mount,) = config["volume_mounts"]
    assert mount["mountPath"] == "/opt/embedloop/data"
    assert {v["name"] for v in config["volumes"]} == {mount["name"]}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"loadInclusterConfig": "yes"}, "load_incluster_config"),
        ({"envVars": "ARGILLA_API_URL=x"}, "env_vars"),
        ({"jobNamespce": "x"}, "not a chart value"),
    ],
)
def test_a_broken_run_launcher_value_is_caught(change: dict[str, Any], expected: str) -> None:
    values = helm_values()
    values["runLauncher"]["config"]["k8sRunLauncher"].update(change)
    try:
        errors = launcher_errors(render_run_launcher(values))
    except KeyError as err:
        errors = [str(err)]
    assert any(expected in e for e in errors), errors


def test_a_broken_volume_is_caught() -> None:
    with pytest.raises(Exception, match="Unexpected keys"):
        check_k8s_objects([{"name": "data", "persistentVolumeClam": {"claimName": "x"}}], [])


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.capitalize() for w in rest)


def _as_helm(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _as_helm(v) for k, v in value.items()}
    return value


def test_helm_instance_settings_mirror_the_root_dagster_yaml() -> None:
    values, instance = helm_values(), yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == instance["run_coordinator"]["class"]
    helm_concurrency = {k: v for k, v in values["concurrency"].items() if k != "enabled"}
    assert values["concurrency"]["enabled"] is True
    assert helm_concurrency == _as_helm(instance["concurrency"])
    assert values["dagsterDaemon"]["runMonitoring"] == _as_helm(instance["run_monitoring"])
    logs = instance["python_logs"]
    assert values["pythonLogs"]["managedPythonLoggers"] == logs["managed_python_loggers"]
    assert values["telemetry"]["enabled"] is instance["telemetry"]["enabled"] is False
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlUsername"] == "dagster"  # not the superuser


def test_helm_code_location_serves_the_k8s_definitions() -> None:
    (deployment,) = helm_values()["dagster-user-deployments"]["deployments"]
    args = deployment["codeServerArgs"]
    image_root = Path(args[args.index("-d") + 1])
    served = Path(args[args.index("-f") + 1])
    assert ROOT / served.relative_to(image_root) == K8S_DEFS
    user_image = (ROOT / "docker" / "user-code.Dockerfile").read_text()
    assert f"WORKDIR {image_root}" in user_image and "COPY deploy deploy" in user_image
    check_k8s_objects(deployment["volumes"], deployment["volumeMounts"])
    assert isinstance(deployment["port"], int)


def executor_errors(config: dict[str, Any]) -> list[str]:
    schema = k8s_job_executor.config_schema.as_field().config_type
    return [e.message for e in process_config(schema, config).errors or []]


def test_executor_config_is_valid_for_k8s_job_executor() -> None:
    config = yaml.safe_load(EXECUTOR.read_text())
    assert executor_errors(config) == []
    assert config["max_concurrent"] == 1  # DuckDB: one writing step at a time
    check_k8s_objects(config["volumes"], config["volume_mounts"])
    for step in [config["step_k8s_config"], *config["per_step_k8s_config"].values()]:
        UserDefinedDagsterK8sConfig.from_dict(step)
    assert executor_errors({**config, "max_concurrnt": 1}) != []


@pytest.mark.slow
def test_k8s_code_location_loads_with_the_k8s_executor() -> None:
    from orchestration.definitions import defs as local_defs

    defs = runpy.run_path(str(K8S_DEFS))["defs"]
    repo, local = defs.get_repository_def(), local_defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} == {j.name for j in local.get_all_jobs()}
    assert {s.name for s in repo.sensor_defs} == {s.name for s in local.sensor_defs}
    assert {s.name for s in repo.schedule_defs} == {s.name for s in local.schedule_defs}
    assert {j.executor_def.name for j in repo.get_all_jobs()} == {"k8s_job_executor"}
    # Per-step settings name real steps: in an asset job a step key is the asset's name.
    asset_names = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    per_step = yaml.safe_load(EXECUTOR.read_text())["per_step_k8s_config"]
    assert set(per_step) <= asset_names


def _pod_settings_fields() -> set[str]:
    from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings

    return set(KubernetesPodSettings.model_fields)


def test_zenml_stack_components_use_only_their_flavors_settings() -> None:
    from zenml.integrations.kubernetes.flavors import (
        KubernetesOrchestratorFlavor,
        KubernetesStepOperatorFlavor,
    )
    from zenml.integrations.s3.flavors import S3ArtifactStoreFlavor

    stack = yaml.safe_load(STACK.read_text())
    flavors = {
        ("orchestrator", "kubernetes"): KubernetesOrchestratorFlavor(),
        ("step_operator", "kubernetes"): KubernetesStepOperatorFlavor(),
        ("artifact_store", "s3"): S3ArtifactStoreFlavor(),
    }
    for kind, components in stack["components"].items():
        for component in components:
            config = component["configuration"]
            flavor = flavors.get((kind, component["flavor"]))
            if flavor is None:
                continue
            assert set(config) <= set(flavor.config_class.model_fields), component["name"]
            flavor.config_class(**config)  # validates types
            assert set(config.get("pod_settings", {})) <= _pod_settings_fields()


_DESCRIBE = """
import json
from zenml.client import Client
from zenml.integrations.kubernetes.manifest_utils import build_pod_manifest
from zenml.integrations.kubernetes.pod_settings import KubernetesPodSettings
stack = Client().get_stack("embedloop-k8s")
out = {t.value: [c.name for c in cs] for t, cs in stack.components.items()}
(operator,) = [c for t, cs in stack.components.items() if t.value == "step_operator" for c in cs]
pod = build_pod_manifest(None, "img", ["python"], [], False,
                         KubernetesPodSettings(**operator.configuration["pod_settings"]))
from kubernetes.client import ApiClient
spec = ApiClient().sanitize_for_serialization(pod)["spec"]
out["gpu_pod"] = spec["containers"][0]["resources"]
out["tolerations"] = spec.get("tolerations", [])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_zenml_stack_imports_and_its_step_operator_pods_request_a_gpu(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ZENML_CONFIG_PATH": str(tmp_path / "zenml"),
        "ZENML_ANALYTICS_OPT_IN": "false",
    }
    env.pop("ZENML_STORE_URL", None)
    zenml = Path(sys.executable).with_name("zenml")
    done = subprocess.run(
        [str(zenml), "stack", "import", str(STACK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    described = subprocess.run(
        [sys.executable, "-c", _DESCRIBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout.strip().splitlines()[-1])
    assert info["orchestrator"] == ["embedloop-k8s"] and info["step_operator"] == ["k8s-gpu"]
    assert info["gpu_pod"]["limits"]["nvidia.com/gpu"] == "1"
    assert info["gpu_pod"]["requests"]["nvidia.com/gpu"] == "1"
    assert {t["key"] for t in info["tolerations"]} == {"nvidia.com/gpu"}


def test_gpu_run_config_sends_training_to_the_stacks_gpu_operator() -> None:
    from zenml.config import DockerSettings
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    raw = yaml.safe_load(RUN_CONFIG.read_text())
    run = PipelineRunConfiguration.model_validate(raw)
    docker = raw["settings"]["docker"]
    assert set(docker) <= set(DockerSettings.model_fields)
    assert DockerSettings(**docker).skip_build and run.steps
    stack = yaml.safe_load(STACK.read_text())
    (operator,) = stack["components"]["step_operator"]
    assert run.steps["train_model"].step_operator == operator["name"]
    assert "def train_model(" in (ROOT / "training" / "steps.py").read_text()


def test_the_gpu_run_config_is_read_through_zenmls_own_model(monkeypatch, tmp_path):
    """$EMBEDLOOP_ZENML_RUN_CONFIG hands ZenML a run config that its model accepts."""
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration

    from training.runner import RUN_CONFIG_ENV, run_config_path

    monkeypatch.delenv(RUN_CONFIG_ENV, raising=False)
    assert run_config_path() is None
    monkeypatch.setenv(RUN_CONFIG_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        run_config_path()

    gpu_run = Path(__file__).parents[2] / "deploy" / "zenml" / "gpu-run.yaml"
    monkeypatch.setenv(RUN_CONFIG_ENV, str(gpu_run))
    config = PipelineRunConfiguration.model_validate(
        yaml.safe_load(Path(run_config_path()).read_text())
    )
    assert config.steps["train_model"].step_operator == "k8s-gpu"


def test_the_search_api_manifest_is_valid_and_probes_health_without_a_key() -> None:
    import yaml

    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "search-api.yaml").read_text()))
    api = kubernetes.client.ApiClient()
    kinds = {d["kind"]: d for d in docs}
    deployment = api._ApiClient__deserialize(kinds["Deployment"], "V1Deployment")  # type: ignore[attr-defined]
    service = api._ApiClient__deserialize(kinds["Service"], "V1Service")  # type: ignore[attr-defined]
    (container,) = deployment.spec.template.spec.containers
    assert container.command[:2] == ["embedloop", "serve"] and "0.0.0.0" in container.command
    assert container.readiness_probe.http_get.path == "/health"
    # The index URL and the API key come from a secret, never the manifest.
    assert [e.secret_ref.name for e in container.env_from] == ["embedloop-search-api"]
    assert not container.env
    labels = deployment.spec.template.metadata.labels
    assert service.spec.selector.items() <= labels.items()
    assert service.spec.ports[0].target_port == container.ports[0].name
