"""How many processes `streammesh up --replicas N` gives each service."""

from __future__ import annotations

from pathlib import Path

from devtools.up import Mesh, default_replicas, replicas_of
from services.registry import SERVICES, service


def test_every_service_gets_the_replicas_asked_for_on_the_real_backends() -> None:
    mesh = Mesh(Path("state"), "real", replicas=2)
    assert {spec.name: replicas_of(mesh, spec) for spec in SERVICES} == {
        spec.name: 2 for spec in SERVICES
    }


def test_embedded_analytics_stays_one_process() -> None:
    # DuckDB opens its file for one process: a second one crash-looped and
    # stopped the whole mesh (seen with `--replicas 2` under the device load).
    mesh = Mesh(Path("state"), "embedded", replicas=2)
    assert replicas_of(mesh, service("analytics")) == 1
    assert replicas_of(mesh, service("catalog")) == 2


def test_the_default_leaves_a_core_per_process() -> None:
    assert default_replicas(2) == 1
    assert default_replicas(64) >= 2
