"""The manifests applied to a real Kubernetes API server, with admission on.

One etcd and one kube-apiserver (built from their Go modules by `make tools`,
mk/k8s.mk) start on loopback for the whole module: a static token, AlwaysAllow
authorization, ``--allow-privileged`` (so privileged pods reach Pod Security
instead of being refused before it), service-account keys made with openssl.
No controller manager, scheduler or kubelet runs: nothing is ever scheduled,
so the namespace (with Pod Security ``restricted`` enforced) and its
``default`` service account are created for real first.

Then each overlay goes through ``kubectl apply --dry-run=server -k``: the
server decodes, defaults and validates every object (the CRDs' schemas too),
and runs the admission chain. Pod Security only warns about a Deployment's
template, so every pod template is also dry-run as a Pod, where ``restricted``
is enforced; and a privileged pod must be refused, proving that it runs.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.test_manifests import (
    CRDS,
    K8S,
    NAMESPACE,
    OVERLAY,
    PRODUCTION,
    TOOLS,
    _kustomize_build,
    _missing_tool,
    _tool,
)

# Bounds of one start and of each kubectl call (the machine may be loaded).
READY_TIMEOUT_SECONDS = 120.0
KUBECTL_TIMEOUT_SECONDS = 180.0
TOKEN = "streammesh-test-token"
SERVER_VERSION = "v1.33.13"  # mk/k8s.mk K8S_APISERVER_VERSION
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")

Manifest = dict[str, Any]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ApiServer:
    kubeconfig: Path
    url: str

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_tool("kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT_SECONDS,
            check=False,
        )


def _wait_ready(url: str, processes: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                pytest.fail(f"{log.name} exited: {log.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(request, context=insecure, timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"kube-apiserver not ready in {READY_TIMEOUT_SECONDS:.0f} s", pytrace=False)


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    binaries = TOOLS / "bin"
    for binary in ("etcd", "kube-apiserver"):
        if not (binaries / binary).is_file():
            _missing_tool(f"{binary} is not built: run `make tools` (mk/k8s.mk)")
    if not (CRDS / ".stamp").is_file():
        _missing_tool(f"{CRDS} is missing: run `make tools`")
    _tool("kubectl")
    openssl = shutil.which("openssl")
    if openssl is None:
        _missing_tool("openssl is not installed")
        raise AssertionError("unreachable")
    home = tmp_path_factory.mktemp("apiserver")
    key, public = home / "sa.key", home / "sa.pub"
    subprocess.run([openssl, "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(
        [openssl, "rsa", "-in", str(key), "-pubout", "-out", str(public)],
        check=True,
        capture_output=True,
    )
    tokens = home / "tokens.csv"
    tokens.write_text(f"{TOKEN},admin,admin,system:masters\n")
    client, peer, secure = _free_port(), _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{client}"
    etcd_log, apiserver_log = home / "etcd.log", home / "kube-apiserver.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with etcd_log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        str(binaries / "etcd"),
                        "--name=test",
                        f"--data-dir={home / 'etcd'}",
                        f"--listen-client-urls={etcd_url}",
                        f"--advertise-client-urls={etcd_url}",
                        f"--listen-peer-urls=http://127.0.0.1:{peer}",
                        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                        f"--initial-cluster=test=http://127.0.0.1:{peer}",
                        # A throwaway store: no fsync, no metrics listener of its own.
                        "--unsafe-no-fsync",
                        "--log-level=warn",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        with apiserver_log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        str(binaries / "kube-apiserver"),
                        f"--etcd-servers={etcd_url}",
                        "--bind-address=127.0.0.1",
                        "--advertise-address=127.0.0.1",
                        f"--secure-port={secure}",
                        f"--cert-dir={home / 'certs'}",
                        f"--token-auth-file={tokens}",
                        "--authorization-mode=AlwaysAllow",
                        # Else a privileged pod is refused before Pod Security sees it.
                        "--allow-privileged=true",
                        f"--service-account-key-file={public}",
                        f"--service-account-signing-key-file={key}",
                        "--service-account-issuer=https://kubernetes.default.svc",
                        "--service-cluster-ip-range=10.96.0.0/16",
                        # No kubelet answers for the loopback endpoint anyway.
                        "--endpoint-reconciler-type=none",
                        "--enable-priority-and-fairness=false",
                        "--profiling=false",
                        "--v=0",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        url = f"https://127.0.0.1:{secure}"
        _wait_ready(url, processes, [etcd_log, apiserver_log])
        kubeconfig = home / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": url, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                    "current-context": "test",
                }
            )
        )
        server = ApiServer(kubeconfig, url)
        _prepare(server)
        yield server
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _prepare(server: ApiServer) -> None:
    """The CRDs the manifests use, the namespace (restricted) and its default account."""
    for crd in sorted(CRDS.glob("*.yaml")):
        _ok(server.kubectl("apply", "--server-side", "-f", str(crd)))
    _ok(server.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"))
    _ok(server.kubectl("apply", "-f", str(K8S / "base" / "namespace.yaml")))
    _ok(server.kubectl("-n", NAMESPACE, "create", "serviceaccount", "default"))


# ---------------------------------------------------------------- the server itself


def test_the_server_is_the_stamped_release(apiserver: ApiServer) -> None:
    version = json.loads(_ok(apiserver.kubectl("version", "-o", "json")))
    assert version["serverVersion"]["gitVersion"] == SERVER_VERSION
    namespace = json.loads(_ok(apiserver.kubectl("get", "namespace", NAMESPACE, "-o", "json")))
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# ---------------------------------------------------------------- every object accepted


@pytest.mark.parametrize("overlay", [OVERLAY, PRODUCTION], ids=["kind", "production"])
def test_the_overlay_applies_with_server_side_dry_run(apiserver: ApiServer, overlay: Path) -> None:
    result = apiserver.kubectl("apply", "--dry-run=server", "-k", str(overlay))
    output = _ok(result)
    expected = _kustomize_build(overlay)
    applied = [line for line in output.splitlines() if "(server dry run)" in line]
    assert len(applied) == len(expected), output
    # Pod Security warns (never refuses) for a workload whose template would fail.
    assert "would violate PodSecurity" not in result.stderr, result.stderr


def _as_pod(workload: Manifest) -> Manifest:
    """The pod its controller would create (a StatefulSet's first replica: each
    volume claim template becomes the pod's claim, as the controller names it)."""
    template = json.loads(json.dumps(workload["spec"]["template"]))
    name = workload["metadata"]["name"]
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        template["spec"].setdefault("volumes", []).append(
            {
                "name": claim["metadata"]["name"],
                "persistentVolumeClaim": {"claimName": f"{claim['metadata']['name']}-{name}-0"},
            }
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{workload['kind'].lower()}-{name}",
            "namespace": NAMESPACE,
            "labels": template["metadata"].get("labels", {}),
        },
        "spec": template["spec"],
    }


@pytest.mark.parametrize("overlay", [OVERLAY, PRODUCTION], ids=["kind", "production"])
def test_every_pod_template_passes_restricted_as_a_pod(apiserver: ApiServer, overlay: Path) -> None:
    pods = [_as_pod(m) for m in _kustomize_build(overlay) if m["kind"] in WORKLOAD_KINDS]
    assert len(pods) >= 15
    result = apiserver.kubectl(
        "create",
        "--dry-run=server",
        "-f",
        "-",
        stdin=yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": pods}),
    )
    output = _ok(result)
    for pod in pods:
        assert f"pod/{pod['metadata']['name']} created (server dry run)" in output


def test_a_privileged_pod_is_refused(apiserver: ApiServer) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged", "namespace": NAMESPACE},
        "spec": {
            "containers": [
                {
                    "name": "shell",
                    "image": "busybox",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }
    result = apiserver.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(pod))
    assert result.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in result.stderr, result.stderr
    assert "privileged" in result.stderr


def test_a_misspelled_custom_resource_field_is_refused(apiserver: ApiServer) -> None:
    """The CRDs' schemas are enforced too (structural pruning would drop it silently
    without --validate=strict, kubectl's default)."""
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "typo", "namespace": NAMESPACE},
        "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "15s"}]},
    }
    result = apiserver.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(monitor))
    assert result.returncode != 0
    assert "intervall" in result.stderr, result.stderr
