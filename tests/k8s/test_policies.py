"""Policy checks over the rendered objects of both overlays (kube-linter and
kube-score are not served by the registries here; these are the checks of
theirs that matter for this mesh, plus our own rules).

Every pod locked down, sized and probed; every selector matching its pods;
every Service backed by a workload and every port it targets declared; every
ConfigMap and Secret a pod names rendered (or, in production, made by an
ExternalSecret); every autoscaler and disruption budget aimed at a real,
replicated workload; and the monitoring objects the generator's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from devtools.k8s import monitoring
from tests.k8s.test_manifests import OVERLAY, PRODUCTION, _kustomize_build

Manifest = dict[str, Any]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
NAME = "app.kubernetes.io/name"


@pytest.fixture(scope="module", params=[OVERLAY, PRODUCTION], ids=["kind", "production"])
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return _kustomize_build(request.param)


def _of(manifests: list[Manifest], *kinds: str) -> Iterator[Manifest]:
    return (m for m in manifests if m["kind"] in kinds)


def _named(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _where(manifest: Manifest) -> str:
    return f"{manifest['kind']} {manifest['metadata']['name']}"


def _pod(workload: Manifest) -> Manifest:
    pod: Manifest = workload["spec"]["template"]
    return pod


def _containers(workload: Manifest) -> list[Manifest]:
    spec = _pod(workload)["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- pods


def test_every_pod_is_locked_down_and_sized(rendered: list[Manifest]) -> None:
    for workload in _of(rendered, *WORKLOAD_KINDS):
        spec = _pod(workload)["spec"]
        where = _where(workload)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert isinstance(context["runAsUser"], int), where
        assert context["runAsUser"] > 0, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert "hostNetwork" not in spec, where
        assert "hostPID" not in spec, where
        for container in _containers(workload):
            at = f"{where}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, at
            assert security["capabilities"] == {"drop": ["ALL"]}, at
            assert "privileged" not in security, at
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), at
            # A pinned image: the same pod on every node and every restart.
            assert ":latest" not in container["image"], at


def test_every_long_running_pod_drains_within_its_grace(rendered: list[Manifest]) -> None:
    """A grace period is set (not the 30 s default by accident) and outlasts a preStop pause."""
    for workload in _of(rendered, "Deployment", "StatefulSet"):
        spec = _pod(workload)["spec"]
        grace = spec["terminationGracePeriodSeconds"]
        for container in spec["containers"]:
            sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep")
            if sleep:
                assert grace > sleep["seconds"], _where(workload)


# ---------------------------------------------------------------- selectors and references


def test_every_workload_selects_its_own_pods(rendered: list[Manifest]) -> None:
    for workload in _of(rendered, "Deployment", "StatefulSet"):
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = _pod(workload)["metadata"]["labels"]
        assert _matches(selector, labels), _where(workload)
        assert selector == {NAME: workload["metadata"]["name"]}, _where(workload)


def test_every_service_is_backed_by_a_workload_with_the_ports_it_targets(
    rendered: list[Manifest],
) -> None:
    workloads = list(_of(rendered, "Deployment", "StatefulSet"))
    for service in _of(rendered, "Service"):
        backing = [
            w
            for w in workloads
            if _matches(service["spec"]["selector"], _pod(w)["metadata"]["labels"])
        ]
        assert len(backing) == 1, _where(service)
        declared = {
            port["name"]
            for container in _pod(backing[0])["spec"]["containers"]
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in declared, (_where(service), port)
    for statefulset in _of(rendered, "StatefulSet"):
        assert statefulset["spec"]["serviceName"] in _named(rendered, "Service")


def _references(workload: Manifest) -> Iterator[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret the pod reads."""
    spec = _pod(workload)["spec"]
    for container in _containers(workload):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"]
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"]
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                yield "ConfigMap", value_from["configMapKeyRef"]["name"]
            if "secretKeyRef" in value_from:
                yield "Secret", value_from["secretKeyRef"]["name"]
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"]
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"]


def test_every_config_map_and_secret_a_pod_reads_exists(rendered: list[Manifest]) -> None:
    config_maps = set(_named(rendered, "ConfigMap"))
    secrets = set(_named(rendered, "Secret")) | {
        external["spec"]["target"]["name"] for external in _of(rendered, "ExternalSecret")
    }
    checked = 0
    for workload in _of(rendered, *WORKLOAD_KINDS):
        for kind, name in _references(workload):
            assert name in (config_maps if kind == "ConfigMap" else secrets), (
                _where(workload),
                kind,
                name,
            )
            checked += 1
    assert checked > 30


# ---------------------------------------------------------------- scaling and disruption


def test_autoscalers_aim_at_real_deployments_that_leave_replicas_to_them(
    rendered: list[Manifest],
) -> None:
    deployments = _named(rendered, "Deployment")
    for hpa in _of(rendered, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments, _where(hpa)
        assert "replicas" not in deployments[target["name"]]["spec"], target["name"]
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= 4
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        # Utilisation is of requests: every container of the target requests CPU.
        for container in _pod(deployments[target["name"]])["spec"]["containers"]:
            assert "cpu" in container["resources"]["requests"]


def _replicated(rendered: list[Manifest]) -> dict[str, Manifest]:
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in _of(rendered, "HorizontalPodAutoscaler")}
    return {
        w["metadata"]["name"]: w
        for w in _of(rendered, "Deployment", "StatefulSet")
        if w["metadata"]["name"] in scaled or w["spec"].get("replicas", 1) > 1
    }


def test_every_replicated_workload_has_exactly_one_disruption_budget(
    rendered: list[Manifest],
) -> None:
    replicated = _replicated(rendered)
    assert {"users", "edge", "sagas"} <= replicated.keys()
    budgets = list(_of(rendered, "PodDisruptionBudget"))
    for name, workload in replicated.items():
        covering = [
            b
            for b in budgets
            if _matches(b["spec"]["selector"]["matchLabels"], _pod(workload)["metadata"]["labels"])
        ]
        assert len(covering) == 1, name
        assert covering[0]["spec"].get("maxUnavailable") == 1, name
    for budget in budgets:
        assert budget["metadata"]["name"] in replicated, _where(budget)


def test_replicas_spread_over_nodes(rendered: list[Manifest]) -> None:
    for name, workload in _replicated(rendered).items():
        spec = _pod(workload)["spec"]
        constraints = spec.get("topologySpreadConstraints", [])
        anti = spec.get("affinity", {}).get("podAntiAffinity")
        by_host = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
        assert by_host or anti, name
        labels = _pod(workload)["metadata"]["labels"]
        for constraint in constraints:
            assert _matches(constraint["labelSelector"]["matchLabels"], labels), name
            for key in constraint.get("matchLabelKeys", []):
                assert key in labels or key == "pod-template-hash", (name, key)


# ---------------------------------------------------------------- monitoring objects


def test_the_committed_monitoring_objects_are_the_generators_output() -> None:
    for name, text in monitoring.files().items():
        assert (monitoring.OUTPUT / name).read_text() == text, (
            f"k8s/monitoring/{name} is stale: run `python -m devtools.k8s.monitoring`"
        )


def test_every_rule_file_is_a_prometheus_rule(rendered: list[Manifest]) -> None:
    rules = _named(rendered, "PrometheusRule")
    for path in sorted(monitoring.RULES_DIR.glob("*.yml")):
        groups = yaml.safe_load(path.read_text())["groups"]
        assert rules[f"streammesh-{path.stem}"]["spec"]["groups"] == groups, path.name


def test_every_service_monitor_scrapes_a_metrics_port_of_a_service(
    rendered: list[Manifest],
) -> None:
    services = list(_of(rendered, "Service"))
    monitored = set()
    for monitor in _of(rendered, "ServiceMonitor"):
        (service,) = (
            s
            for s in services
            if _matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        )
        ports = {p["name"] for p in service["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in ports, _where(monitor)
            job = next(r for r in endpoint["relabelings"] if r["targetLabel"] == "job")
            # The rules select the local Prometheus' job names (monitoring/rules).
            assert job["replacement"] == monitor["metadata"]["name"]
            name = monitoring.kubernetes_service(monitor["metadata"]["name"])
            assert name == service["metadata"]["name"], _where(monitor)
        monitored.add(service["metadata"]["name"])
    assert {"users", "catalog", "browse", "sagas"} <= monitored
