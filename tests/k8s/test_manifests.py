"""The Kubernetes manifests, validated offline (no cluster, no Docker engine here).

`kustomize build k8s/overlays/kind` must render; kubeconform checks every object
against Kubernetes' schemas, strictly; then what a user relies on: every pod
locked down and sized, every service probed over gRPC, every address pointing at
a Service that exists, the services' own config parsers accepting the pods'
environment, and the edge running exactly what `streammesh edge render --target
k8s` produces today.
"""

from __future__ import annotations

import base64
import copy
import functools
import importlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services import registry
from services.cli import build_parser
from services.edge.cli import config_for
from services.edge.render import EDGE_REFLECTION_PORT, listener_manager, render
from services.migrate import migratable
from services.runtime.cassandra import keyspace_replication
from services.runtime.config import ServerConfig
from tests.k8s.openapi_schemas import SCHEMA_LOCATION, write_crd_schemas, write_schemas

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
OVERLAY = K8S / "overlays" / "kind"
EDGE_CONFIG = K8S / "base" / "edge" / "envoy.json"
DOCKERFILE = K8S / "image" / "Dockerfile"
WAIT_FOR_TCP = K8S / "image" / "wait_for_tcp.py"
TOOLS = ROOT / ".tools"
SWAGGER = TOOLS / "k8s-openapi" / "swagger.json"
# The CRDs the manifests use (Prometheus Operator, External Secrets): mk/k8s.mk.
CRDS = TOOLS / "k8s-crds"
PRODUCTION = K8S / "overlays" / "production"
IMAGE_PREFIX = "streammesh:"
NAMESPACE = "streammesh"
# The shutdown hooks (relay, stores, Redis) get this much beyond drain + grace.
SHUTDOWN_HOOKS_MARGIN_SECONDS = 5.0

Manifest = dict[str, Any]


def _missing_tool(message: str) -> None:
    # As for the backends (tests/conftest.py): CI never passes by skipping.
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(TOOLS / "bin")) or shutil.which(name)
    if found is None:
        _missing_tool(f"{name} is not installed: run `make tools`")
        raise AssertionError("unreachable")
    return found


def _kustomize_build(path: Path) -> list[Manifest]:
    """The rendered objects of ``path`` (rendered once per test session; a deep copy)."""
    return copy.deepcopy(_rendered(path))


@functools.cache
def _rendered(path: Path) -> list[Manifest]:
    result = subprocess.run(
        [_tool("kustomize"), "build", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return _kustomize_build(OVERLAY)


@pytest.fixture(scope="module")
def schema_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SWAGGER.is_file():
        _missing_tool(f"{SWAGGER.relative_to(ROOT)} is missing: run `make tools`")
    if not (CRDS / ".stamp").is_file():
        _missing_tool(f"{CRDS.relative_to(ROOT)} is missing: run `make tools`")
    out = tmp_path_factory.mktemp("k8s-schemas")
    write_schemas(SWAGGER, out)
    write_crd_schemas(sorted(CRDS.glob("*.yaml")), out)
    return out


def _of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def _workloads(manifests: list[Manifest]) -> Iterator[Manifest]:
    return (m for m in manifests if m["kind"] in ("Deployment", "StatefulSet", "Job"))


def _pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def _containers(workload: Manifest, *, init: bool = True) -> list[Manifest]:
    pod = _pod_spec(workload)
    containers: list[Manifest] = list(pod["containers"])
    if init:
        containers += pod.get("initContainers", [])
    return containers


def _environment(container: Manifest, manifests: list[Manifest]) -> dict[str, str]:
    """The container's environment as the kubelet builds it (envFrom, then env)."""
    config_maps = _of_kind(manifests, "ConfigMap")
    secrets = _of_kind(manifests, "Secret")

    def secret_data(name: str) -> dict[str, str]:
        secret = secrets[name]
        decoded = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
        return {**decoded, **secret.get("stringData", {})}

    environ: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environ.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            environ.update(secret_data(source["secretRef"]["name"]))
    for variable in container.get("env", []):
        if "value" in variable:
            environ[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            ref = variable["valueFrom"]["secretKeyRef"]
            environ[variable["name"]] = secret_data(ref["name"])[ref["key"]]
        else:
            ref = variable["valueFrom"]["configMapKeyRef"]
            environ[variable["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
    return environ


def _service_ports(manifests: list[Manifest]) -> dict[str, set[int]]:
    return {
        name: {port["port"] for port in service["spec"]["ports"]}
        for name, service in _of_kind(manifests, "Service").items()
    }


def _served_service(container: Manifest) -> str | None:
    """``users`` for ``python -m services.users.server``; None for anything else."""
    command = container.get("command", [])
    if command[:2] == ["python", "-m"] and command[2].endswith(".server"):
        parts = command[2].split(".")
        if parts[0] == "services" and len(parts) == 3:
            return parts[1]
    return None


def _implemented_services() -> set[str]:
    """The registry's services whose server is in this checkout: each must be deployed."""
    return {spec.name for spec in registry.SERVICES if spec.implemented()}


def _service_containers(manifests: list[Manifest]) -> Iterator[tuple[Manifest, Manifest, str]]:
    for deployment in _of_kind(manifests, "Deployment").values():
        for container in _containers(deployment, init=False):
            name = _served_service(container)
            if name is not None:
                yield deployment, container, name


# ---------------------------------------------------------------- rendering and schemas


def test_kind_overlay_renders_the_mesh_its_databases_and_jobs(
    manifests: list[Manifest],
) -> None:
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for service in (*sorted(_implemented_services()), "edge"):
        assert ("Deployment", service) in names
        assert ("Service", service) in names
    for other in ("media-origin", "sagas", "jaeger"):
        assert ("Deployment", other) in names
        assert ("Service", other) in names
    for database in ("mariadb", "redis", "cassandra", "opensearch", "postgres", "s3proxy"):
        assert ("StatefulSet", database) in names
        assert ("Service", database) in names
    for job in ("migrate", "import-catalog", "search-reindex", "train-recommendations"):
        assert ("Job", job) in names
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"].get("namespace") == NAMESPACE, manifest["metadata"]


def test_base_renders_on_its_own() -> None:
    kinds = {m["kind"] for m in _kustomize_build(K8S / "base")}
    assert {"Namespace", "ConfigMap", "Service", "Deployment"} <= kinds


def _kubeconform(schema_dir: Path, documents: list[Manifest]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _tool("kubeconform"),
            "-strict",
            "-summary",
            "-schema-location",
            str(schema_dir / SCHEMA_LOCATION),
            "-",
        ],
        input=yaml.safe_dump_all(documents),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_object_is_valid_kubernetes(manifests: list[Manifest], schema_dir: Path) -> None:
    result = _kubeconform(schema_dir, manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {len(manifests)}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


def test_the_production_example_is_valid_kubernetes(schema_dir: Path) -> None:
    production = _kustomize_build(PRODUCTION)
    kinds = {m["kind"] for m in production}
    assert "ExternalSecret" in kinds
    assert "Secret" not in kinds  # no development value reaches production
    result = _kubeconform(schema_dir, production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Valid: {len(production)}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


def test_kubeconform_checks_the_custom_resources_strictly(
    manifests: list[Manifest], schema_dir: Path
) -> None:
    rule = json.loads(json.dumps(_of_kind(manifests, "PrometheusRule")["streammesh-mesh"]))
    rule["spec"]["groups"][0]["rules"][0]["expresion"] = "up"
    result = _kubeconform(schema_dir, [rule])
    assert result.returncode != 0
    assert "expresion" in result.stdout


def test_kubeconform_rejects_a_misspelled_field(
    manifests: list[Manifest], schema_dir: Path
) -> None:
    deployment = json.loads(json.dumps(_of_kind(manifests, "Deployment")["users"]))
    container = _pod_spec(deployment)["containers"][0]
    container["imagePullPolcy"] = container.pop("imagePullPolicy")
    result = _kubeconform(schema_dir, [deployment])
    assert result.returncode != 0
    assert "imagePullPolcy" in result.stdout


# ---------------------------------------------------------------- pods


def test_every_grpc_server_is_probed_over_grpc(manifests: list[Manifest]) -> None:
    probed = set()
    for name, deployment in _of_kind(manifests, "Deployment").items():
        for container in _containers(deployment, init=False):
            grpc_ports = [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"]
            for port in grpc_ports:
                for probe in ("readinessProbe", "livenessProbe"):
                    assert container[probe].get("grpc") == {"port": port}, (name, probe)
                probed.add(name)
    assert probed >= {*_implemented_services(), "edge"}


def test_every_long_running_container_is_probed(manifests: list[Manifest]) -> None:
    """gRPC servers natively (above); the HTTP processes (the media origin, the saga
    orchestrator, the backends) by HTTP or TCP: never a container without a liveness probe."""
    for workload in manifests:
        if workload["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in _containers(workload, init=False):
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert "livenessProbe" in container, where
            assert {"readinessProbe", "startupProbe"} & container.keys(), where


def test_every_pod_runs_non_root_without_privileges_and_sized(manifests: list[Manifest]) -> None:
    for workload in _workloads(manifests):
        name = f"{workload['kind']} {workload['metadata']['name']}"
        pod = _pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in _containers(workload):
            where = f"{name}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][bound].keys(), where


def test_our_containers_have_a_read_only_root_and_a_writable_tmp(
    manifests: list[Manifest],
) -> None:
    for workload in _workloads(manifests):
        pod = _pod_spec(workload)
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in _containers(workload):
            if not container["image"].startswith(IMAGE_PREFIX):
                continue
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            if container in pod["containers"]:
                tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp, f"{where} has no writable /tmp"
                assert tmp[0]["name"] in empty_dirs, where


def test_pods_run_as_the_images_user(manifests: list[Manifest]) -> None:
    user = next(
        line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("USER ")
    )
    uid, gid = (int(part) for part in user.split(":"))
    for workload in _workloads(manifests):
        images = {c["image"] for c in _containers(workload)}
        if all(image.startswith(IMAGE_PREFIX) for image in images):
            context = _pod_spec(workload)["securityContext"]
            assert (context["runAsUser"], context["runAsGroup"]) == (uid, gid)


# ---------------------------------------------------------------- addresses and settings


def test_services_expose_their_registry_ports(manifests: list[Manifest]) -> None:
    services = _of_kind(manifests, "Service")
    found = set()
    for deployment, container, name in _service_containers(manifests):
        spec = registry.service(name)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"grpc": spec.grpc_port, "metrics": spec.metrics_port}
        service = services[name]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        service_ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
        assert service_ports == {
            "grpc": (spec.grpc_port, "grpc"),
            "metrics": (spec.metrics_port, "metrics"),
        }
        assert importlib.util.find_spec(f"services.{name}.server") is not None
        found.add(name)
    assert found == _implemented_services()


def test_every_addr_variable_names_an_existing_service_and_port(
    manifests: list[Manifest],
) -> None:
    service_ports = _service_ports(manifests)
    checked = 0
    for workload in _workloads(manifests):
        for container in _containers(workload):
            for variable, value in _environment(container, manifests).items():
                if not (variable.startswith("STREAMMESH_") and variable.endswith("_ADDR")):
                    continue
                host, _, port = value.rpartition(":")
                spec = registry.service(
                    variable.removeprefix("STREAMMESH_").removesuffix("_ADDR").lower()
                )
                assert host == spec.name, (variable, value)
                assert int(port) == spec.grpc_port, (variable, value)
                assert int(port) in service_ports[host], (variable, value)
                checked += 1
    assert checked


def test_every_waited_for_address_is_an_existing_service_port(manifests: list[Manifest]) -> None:
    service_ports = _service_ports(manifests)
    for workload in _workloads(manifests):
        for container in _containers(workload):
            command = container.get("command", [])
            if command[:1] != ["wait-for-tcp"]:
                continue
            addresses = [arg for arg in command[1:] if ":" in arg]
            assert addresses
            for address in addresses:
                host, _, port = address.rpartition(":")
                assert int(port) in service_ports[host], address


def _backend_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def test_services_read_their_settings_from_the_pod_environment(
    manifests: list[Manifest],
) -> None:
    """Each service's own Config.from_env, fed the pod's environment, finds its backends."""
    service_ports = _service_ports(manifests)
    for _, container, name in _service_containers(manifests):
        environ = _environment(container, manifests)
        config = importlib.import_module(f"services.{name}.config").Config.from_env(environ)
        server: ServerConfig = config.server
        spec = registry.service(name)
        assert (server.host, server.port, server.metrics_port) == (
            "0.0.0.0",
            spec.grpc_port,
            spec.metrics_port,
        )
        assert server.shutdown_drain_seconds == 2
        addresses = _backend_addresses(config)
        if hasattr(config, "migrate_on_start"):
            # A store of its own, in the cluster; its schema is the migrate Job's.
            assert config.migrate_on_start is False, name
            assert name in migratable(), name
            assert addresses, name
        if hasattr(config, "backend"):
            assert config.backend == "real", name
        if hasattr(config, "database_url"):
            assert config.database_url.startswith("mysql+aiomysql://"), name
        for host, port in addresses:
            assert port in service_ports[host], (name, host, port)


def _backend_addresses(config: Any) -> list[tuple[str, int]]:
    """Where a service's (or a migration's) config says its databases are."""
    addresses = []
    if hasattr(config, "database_url"):
        addresses.append(_backend_address(config.database_url))
    if hasattr(config, "cassandra") and getattr(config, "backend", "real") == "real":
        addresses += [(host, config.cassandra.port) for host in config.cassandra.contact_points]
    if hasattr(config, "redis_url"):
        addresses.append(_backend_address(config.redis_url))
    return addresses


def test_the_migrate_job_reaches_every_migrated_services_databases(
    manifests: list[Manifest],
) -> None:
    """`streammesh migrate` runs each service's Config.from_env on the Job's environment."""
    service_ports = _service_ports(manifests)
    (container,) = _containers(_of_kind(manifests, "Job")["migrate"], init=False)
    environ = _environment(container, manifests)
    migrated = migratable()
    assert migrated
    for name in migrated:
        config = importlib.import_module(f"services.{name}.config").Config.from_env(environ)
        addresses = _backend_addresses(config)
        assert addresses, name
        for host, port in addresses:
            assert port in service_ports[host], (name, host, port)


def test_grace_period_outlasts_the_runtimes_shutdown(manifests: list[Manifest]) -> None:
    for deployment, container, name in _service_containers(manifests):
        server = ServerConfig.from_env(name, _environment(container, manifests))
        needed = (
            server.shutdown_drain_seconds
            + server.shutdown_grace_seconds
            + SHUTDOWN_HOOKS_MARGIN_SECONDS
        )
        assert _pod_spec(deployment)["terminationGracePeriodSeconds"] >= needed, name
        # No preStop: the runtime itself turns NOT_SERVING and drains on SIGTERM.
        assert "lifecycle" not in container, name


def test_development_credentials_agree(manifests: list[Manifest]) -> None:
    secrets = {
        name.rsplit("-", 1)[0]: {k: base64.b64decode(v).decode() for k, v in s["data"].items()}
        for name, s in _of_kind(manifests, "Secret").items()
    }
    database = urlsplit(secrets["backend-credentials"]["STREAMMESH_USERS_DATABASE_URL"])
    assert database.username == secrets["mariadb"]["username"]
    assert database.password == secrets["mariadb"]["password"]
    mariadb = _of_kind(manifests, "StatefulSet")["mariadb"]
    assert (
        database.path == "/" + _environment(_containers(mariadb)[0], manifests)["MARIADB_DATABASE"]
    )
    redis = urlsplit(secrets["backend-credentials"]["STREAMMESH_REDIS_URL"])
    assert redis.password == secrets["redis"]["password"]
    assert secrets["users-token-key"]["signing-key.pem"].startswith("-----BEGIN PRIVATE KEY-----")


# ---------------------------------------------------------------- image, edge and Jobs


def _image_copies() -> dict[str, str]:
    """Destination -> source of the runtime stage's ``COPY`` lines from the build context."""
    copies = {}
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not words[1].startswith("--from"):
            copies[words[2]] = words[1]
    return copies


def _in_image(path: str) -> Path:
    """The file of this checkout that the image holds at ``path``."""
    for destination, source in _image_copies().items():
        if PurePosixPath(path).is_relative_to(destination):
            return ROOT / source / PurePosixPath(path).relative_to(destination)
    raise AssertionError(f"the image has nothing at {path}")


def test_edge_config_is_a_fresh_render(manifests: list[Manifest]) -> None:
    fresh = json.dumps(render(config_for("k8s")), indent=2, sort_keys=True) + "\n"
    assert EDGE_CONFIG.read_text() == fresh, (
        "k8s/base/edge/envoy.json is stale: run "
        "`streammesh edge render --target k8s -o k8s/base/edge/envoy.json`"
    )
    (config_map,) = (
        m
        for m in _of_kind(manifests, "ConfigMap").values()
        if m["metadata"]["name"].startswith("edge-envoy-")
    )
    assert config_map["data"] == {"envoy.json": fresh}


def test_edge_pod_runs_the_rendered_config_on_the_image_layout(
    manifests: list[Manifest],
) -> None:
    config = json.loads(EDGE_CONFIG.read_text())
    deployment = _of_kind(manifests, "Deployment")["edge"]
    containers = {c["name"]: c for c in _containers(deployment)}
    envoy = containers["envoy"]
    config_path = PurePosixPath(envoy["command"][envoy["command"].index("--config-path") + 1])
    (mount,) = (m for m in envoy["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(v for v in _pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"].startswith("edge-envoy-")
    assert config_path.name == "envoy.json"

    (listener,) = (
        found for found in config["static_resources"]["listeners"] if found["name"] == "edge"
    )
    listen = listener["address"]["socket_address"]
    assert (listen["address"], listen["port_value"]) == ("0.0.0.0", registry.EDGE_PORT)
    assert {p["name"]: p["containerPort"] for p in envoy["ports"]} == {"http": registry.EDGE_PORT}

    filters = listener_manager(config)["http_filters"]
    (transcoder,) = (f for f in filters if f["name"] == "envoy.filters.http.grpc_json_transcoder")
    descriptor = transcoder["typed_config"]["proto_descriptor"]
    assert descriptor == "/app/gen/streammesh.pb"
    assert _in_image(descriptor) == ROOT / "gen" / "streammesh.pb"
    assert _in_image(descriptor).is_file()

    (cache,) = (f for f in listener_manager(config, "edge")["http_filters"] if "cache" in f["name"])
    cache_path = cache["typed_config"]["typed_config"]["cache_path"]
    (cache_mount,) = (m for m in envoy["volumeMounts"] if m["mountPath"] == cache_path)
    cache_volume = next(
        v for v in _pod_spec(deployment)["volumes"] if v["name"] == cache_mount["name"]
    )
    assert "emptyDir" in cache_volume, "the edge cache needs a writable folder of its own"

    reflection = containers["reflection"]
    assert reflection["command"][-1] == f"0.0.0.0:{EDGE_REFLECTION_PORT}"
    service_ports = _service_ports(manifests)
    for cluster in config["static_resources"]["clusters"]:
        for group in cluster["load_assignment"]["endpoints"]:
            for endpoint in group["lb_endpoints"]:
                if "envoy_internal_address" in endpoint["endpoint"]["address"]:
                    continue  # the front listener's way to the inner one, in process
                address = endpoint["endpoint"]["address"]["socket_address"]
                host, port = address["address"], address["port_value"]
                if host == "127.0.0.1":
                    continue  # the pod itself: reflection, Envoy, a local collector
                if host in service_ports:
                    assert port in service_ports[host], cluster["name"]
                else:
                    # A service the mesh does not deploy yet: Envoy answers 503.
                    assert not registry.service(host).implemented(), host


def test_edge_is_on_the_port_kind_maps_to_the_host(manifests: list[Manifest]) -> None:
    kind_config = yaml.safe_load((K8S / "kind-config.yaml").read_text())
    (mapping,) = kind_config["nodes"][0]["extraPortMappings"]
    service = _of_kind(manifests, "Service")["edge"]
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert port["nodePort"] == mapping["containerPort"]
    assert port["port"] == mapping["hostPort"] == registry.EDGE_PORT


def test_job_commands_parse_with_the_real_cli(manifests: list[Manifest]) -> None:
    parser = build_parser()
    commands = set()
    for job in _of_kind(manifests, "Job").values():
        (container,) = _containers(job, init=False)
        command = container["command"]
        assert command[0] == "streammesh"
        args = parser.parse_args(command[1:])
        commands.add(args.command)
        if args.command == "import-catalog":
            assert args.backend == "real"
            assert _in_image(str(args.path)) == ROOT / "services/catalog/data/netflix_titles.csv"
            assert _in_image(str(args.path)).is_file()
    assert commands == {"migrate", "import-catalog", "search", "recommendations"}


def test_every_command_of_our_image_exists_in_it(manifests: list[Manifest]) -> None:
    for workload in _workloads(manifests):
        for container in _containers(workload):
            if not container["image"].startswith(IMAGE_PREFIX):
                continue
            program = container["command"][0]
            if program == "wait-for-tcp":
                assert _in_image("/usr/local/bin/wait-for-tcp") == WAIT_FOR_TCP
            elif program == "python":
                assert importlib.util.find_spec(container["command"][2]) is not None
            else:
                # Console scripts of the installed wheels, and coreutils' install.
                assert program in ("streammesh", "envoy", "install"), program


# ---------------------------------------------------------------- wait-for-tcp


def _wait_for_tcp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WAIT_FOR_TCP), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_wait_for_tcp_returns_once_every_address_listens() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as first,
        socket.create_server(("127.0.0.1", 0)) as second,
    ):
        ports = [s.getsockname()[1] for s in (first, second)]
        result = _wait_for_tcp(*(f"127.0.0.1:{port}" for port in ports), "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("reachable:")


def test_wait_for_tcp_fails_naming_what_never_answered() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        open_port = listening.getsockname()[1]
        with socket.create_server(("127.0.0.1", 0)) as closed:
            closed_port = closed.getsockname()[1]
        result = _wait_for_tcp(
            f"127.0.0.1:{open_port}", f"127.0.0.1:{closed_port}", "--timeout", "0"
        )
    assert result.returncode == 1
    assert f"still unreachable after 0 s: 127.0.0.1:{closed_port}" in result.stderr
    assert f":{open_port}" not in result.stderr


@pytest.mark.parametrize("address", ["mariadb", "mariadb:", ":3306", "mariadb:99999", "x:y"])
def test_wait_for_tcp_rejects_a_malformed_address(address: str) -> None:
    result = _wait_for_tcp(address)
    assert result.returncode == 2
    assert "is not HOST:PORT" in result.stderr


def test_production_keyspaces_span_the_datacenter_at_local_quorum() -> None:
    """Each Cassandra service's own config, fed the production ConfigMaps, creates its
    keyspace with NetworkTopologyStrategy over the three nodes and reads and writes at
    LOCAL_QUORUM; every contact point is a node of the StatefulSet."""
    production = _kustomize_build(PRODUCTION)
    config_maps = _of_kind(production, "ConfigMap")
    environ: dict[str, str] = {}
    for name in ("mesh", "backends"):
        (config_map,) = (m for n, m in config_maps.items() if n.startswith(f"{name}-"))
        environ.update(config_map["data"])
    cassandra = _of_kind(production, "StatefulSet")["cassandra"]
    nodes = {f"cassandra-{i}.cassandra" for i in range(cassandra["spec"]["replicas"])}
    datacenter = _environment(_containers(cassandra)[0], production)["CASSANDRA_DC"]
    for name in ("catalog", "history", "recommendations"):
        settings = importlib.import_module(f"services.{name}.config").Config.from_env(environ)
        assert settings.cassandra.consistency == "LOCAL_QUORUM", name
        assert set(settings.cassandra.contact_points) == nodes, name
        assert keyspace_replication(settings.cassandra) == {
            "class": "NetworkTopologyStrategy",
            datacenter: len(nodes),
        }, name


def test_the_saga_orchestrator_reads_the_users_services_settings(
    manifests: list[Manifest],
) -> None:
    """`streammesh sagas orchestrate` builds the users Config and the saga settings from
    the pod's environment: the cluster's database, Redis, key folder and object store."""
    deployment = _of_kind(manifests, "Deployment")["sagas"]
    (container,) = _containers(deployment, init=False)
    assert container["command"] == ["streammesh", "sagas", "orchestrate"]
    assert build_parser().parse_args(container["command"][1:]).command == "sagas"
    environ = _environment(container, manifests)
    users = importlib.import_module("services.users.config").Config.from_env(environ)
    sagas = importlib.import_module("services.users.sagas.config").SagaConfig.from_env(environ)
    service_ports = _service_ports(manifests)
    for host, port in (
        _backend_address(users.database_url),
        _backend_address(users.redis_url),
        _backend_address(sagas.objects.s3_endpoint),
    ):
        assert port in service_ports[host], (host, port)
    assert sagas.object_store == "real"
    assert {p["containerPort"] for p in container["ports"]} == {sagas.orchestrator_metrics_port}
    (mount,) = (m for m in container["volumeMounts"] if m["mountPath"] == str(users.data_dir))
    assert str(users.key_dir).startswith(mount["mountPath"])
