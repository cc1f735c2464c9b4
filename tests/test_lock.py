"""The dependency locks are not stale (offline: reads files, installs nothing).

`make lock` compiles two locks from pyproject.toml: requirements.lock (the
runtime dependencies, what the image installs) and requirements-dev.lock (those
plus the `dev` extra, what `make install` installs). Every package in them is
pinned to one version with its hashes. These tests fail when pyproject.toml
asks for something a lock does not pin, pins at a version outside pyproject's
specifier, or no longer asks for a package the lock says it does, and when the
two locks disagree. The fix in every case is `make lock`, then commit both.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
# How uv annotates a package that pyproject.toml itself asks for.
FROM_PYPROJECT = "streammesh (pyproject.toml)"
STALE = "stale lock: run `make lock` and commit pyproject.toml with both locks"


@dataclass(frozen=True)
class Pin:
    version: Version
    hashes: tuple[str, ...]
    via: tuple[str, ...]


def read_lock(path: Path) -> dict[NormalizedName, Pin]:
    """The pins of a lock by normalized name, each with its hashes and `# via` notes."""
    pins: dict[NormalizedName, Pin] = {}
    current: NormalizedName | None = None
    for line in path.read_text().replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if current is not None:
                pin = pins[current]
                note = line.lstrip("#").strip()
                pins[current] = Pin(pin.version, pin.hashes, (*pin.via, note))
            continue
        requirement, *options = re.split(r"\s+--", line)
        assert all(option.startswith("hash=") for option in options), (
            f"{path.name}: unexpected option in {line!r}"
        )
        parsed = Requirement(requirement)
        specifiers = list(parsed.specifier)
        assert len(specifiers) == 1, f"{path.name}: {requirement!r} is not one exact pin"
        (specifier,) = specifiers
        assert specifier.operator == "==", f"{path.name}: {requirement!r} is not an exact pin"
        assert "*" not in specifier.version, f"{path.name}: {requirement!r} is not an exact pin"
        current = canonicalize_name(parsed.name)
        assert current not in pins, f"{path.name}: {parsed.name} is pinned twice"
        hashes = tuple(option.removeprefix("hash=") for option in options)
        pins[current] = Pin(Version(specifier.version), hashes, ())
    return pins


def _asked_for(pin: Pin) -> bool:
    return any(note.removeprefix("via").strip() == FROM_PYPROJECT for note in pin.via)


def _requirements(extra: str | None) -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(line) for line in lines]


RUNTIME = _requirements(None)
DEV = _requirements("dev")
LOCKS = {RUNTIME_LOCK: RUNTIME, DEV_LOCK: RUNTIME + DEV}


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_every_package_is_pinned_with_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins, f"{lock.name} pins nothing"
    unhashed = sorted(name for name, pin in pins.items() if not pin.hashes)
    assert not unhashed, f"{lock.name}: no hashes for {unhashed}; {STALE}"
    assert all(h.startswith("sha256:") for pin in pins.values() for h in pin.hashes)


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_pyproject_dependencies_are_pinned_within_their_specifiers(lock: Path) -> None:
    pins = read_lock(lock)
    problems = []
    for requirement in LOCKS[lock]:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement} is not in {lock.name}")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement} but {lock.name} pins {pin.version}")
    assert not problems, "\n".join([*problems, STALE])


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_lock_asks_for_nothing_pyproject_dropped(lock: Path) -> None:
    wanted = {canonicalize_name(requirement.name) for requirement in LOCKS[lock]}
    direct = {name for name, pin in read_lock(lock).items() if _asked_for(pin)}
    assert direct, f"{lock.name} has no `# via {FROM_PYPROJECT}` notes: not made by `make lock`"
    assert direct <= wanted, f"{lock.name} pins {sorted(direct - wanted)} for pyproject; {STALE}"


def test_dev_lock_holds_the_runtime_lock_at_the_same_versions() -> None:
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    missing = sorted(set(runtime) - set(dev))
    assert not missing, f"{DEV_LOCK.name} lacks {missing} from {RUNTIME_LOCK.name}; {STALE}"
    disagree = [
        f"{name}: {RUNTIME_LOCK.name} {runtime[name].version}, {DEV_LOCK.name} {dev[name].version}"
        for name in sorted(runtime)
        if runtime[name].version != dev[name].version
    ]
    assert not disagree, "\n".join([*disagree, STALE])


def test_read_lock_rejects_what_is_not_an_exact_hashed_pin(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"grpcio==1.66.0 \\\n    --hash=sha256:ab\n    # via {FROM_PYPROJECT}\n")
    pins = read_lock(lock)
    assert pins == {"grpcio": Pin(Version("1.66.0"), ("sha256:ab",), ("via " + FROM_PYPROJECT,))}
    for line in ("grpcio>=1.66", "grpcio==1.*", "grpcio==1.66 --index-url=x", "a==1\nA==2"):
        lock.write_text(line + "\n")
        with pytest.raises(AssertionError):
            read_lock(lock)
