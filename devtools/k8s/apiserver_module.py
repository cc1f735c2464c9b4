"""Writes the Go module that kube-apiserver and etcd build as tool dependencies of.

``go install k8s.io/kubernetes/cmd/kube-apiserver@VERSION`` refuses the module:
its go.mod replaces every staging module (k8s.io/api, k8s.io/apiserver, ...) with
a folder inside the Kubernetes repository. A module of our own that requires
Kubernetes at an exact version, and replaces each of those staging modules with
its published release instead (v1.33.13's staging modules are v0.33.13), builds
it unchanged. etcd's server is required at the version Kubernetes itself pins,
so the pair always matches. Used by mk/k8s.mk:

    python -m devtools.k8s.apiserver_module DIR K8S_VERSION
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from devtools.observability.jaeger_module import (
    downloaded_go_mod,
    go_directive,
    replace_lines,
    write_tool_module,
)

KUBERNETES_MODULE = "k8s.io/kubernetes"
APISERVER_COMMAND = f"{KUBERNETES_MODULE}/cmd/kube-apiserver"
ETCD_SERVER_MODULE = "go.etcd.io/etcd/server/v3"
WRAPPER_MODULE = "streammesh.local/kube-apiserver-build"

_STAGING_REPLACE = re.compile(r"^replace (\S+) => \./staging/src/(\S+)$")
_REQUIRE_LINE = re.compile(r"^\s*(\S+)\s+(v\S+)")


def staging_version(kubernetes_version: str) -> str:
    """v1.33.13 -> v0.33.13: the staging modules' tag for a Kubernetes release."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if match is None:
        raise ValueError(f"not a Kubernetes release version: {kubernetes_version}")
    return f"v0.{match.group(1)}.{match.group(2)}"


def published_replaces(kubernetes_go_mod: str, kubernetes_version: str) -> list[str]:
    """Kubernetes' replace lines, each staging folder swapped for its published release."""
    version = staging_version(kubernetes_version)
    lines: list[str] = []
    for line in replace_lines(kubernetes_go_mod):
        match = _STAGING_REPLACE.match(line)
        if match is None:
            lines.append(line)  # a non-staging replace applies to us unchanged
        else:
            lines.append(f"replace {match.group(1)} => {match.group(1)} {version}")
    return lines


def required_version(go_mod: str, module: str) -> str:
    """The version a go.mod requires ``module`` at (direct or indirect)."""
    for raw in go_mod.splitlines():
        match = _REQUIRE_LINE.match(raw.removeprefix("require "))
        if match is not None and match.group(1) == module:
            return match.group(2)
    raise ValueError(f"go.mod does not require {module}")


def wrapper_go_mod(kubernetes_go_mod: str, kubernetes_version: str) -> str:
    return "\n".join(
        [
            f"module {WRAPPER_MODULE}",
            "",
            go_directive(kubernetes_go_mod),
            "",
            *published_replaces(kubernetes_go_mod, kubernetes_version),
            "",
        ]
    )


def main(argv: list[str]) -> int:
    target, version = Path(argv[0]), argv[1]
    kubernetes_go_mod = downloaded_go_mod(KUBERNETES_MODULE, version)
    etcd_version = required_version(kubernetes_go_mod, ETCD_SERVER_MODULE)
    write_tool_module(
        target,
        wrapper_go_mod(kubernetes_go_mod, version),
        [f"{APISERVER_COMMAND}@{version}", f"{ETCD_SERVER_MODULE}@{etcd_version}"],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
