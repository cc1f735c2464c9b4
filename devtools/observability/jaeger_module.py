"""Writes the one-file Go module that Jaeger builds as a tool dependency of.

``go install github.com/jaegertracing/jaeger/cmd/jaeger@VERSION`` refuses a
module whose go.mod has replace directives, and Jaeger's has one. A module of
our own that requires Jaeger and repeats its replace lines (read from Jaeger's
own go.mod, so a version bump carries them along) builds it unchanged:
``go get -tool`` then ``go build``. Used by the Makefile's .tools/bin/jaeger.

    python -m devtools.observability.jaeger_module DIR VERSION
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

JAEGER_MODULE = "github.com/jaegertracing/jaeger"
JAEGER_COMMAND = f"{JAEGER_MODULE}/cmd/jaeger"
WRAPPER_MODULE = "streammesh.local/jaeger-build"


def replace_lines(go_mod: str) -> list[str]:
    """The ``replace`` directives of a go.mod, single-line or in a block."""
    lines: list[str] = []
    in_block = False
    for raw in go_mod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                lines.append(f"replace {line}")
        elif line == "replace (":
            in_block = True
        elif line.startswith("replace "):
            lines.append(line)
    return lines


def go_directive(go_mod: str) -> str:
    for raw in go_mod.splitlines():
        if raw.startswith("go "):
            return raw.strip()
    raise ValueError("go.mod has no go directive")


def wrapper_go_mod(jaeger_go_mod: str) -> str:
    return "\n".join(
        [
            f"module {WRAPPER_MODULE}",
            "",
            go_directive(jaeger_go_mod),
            "",
            *replace_lines(jaeger_go_mod),
            "",
        ]
    )


def downloaded_go_mod(module: str, version: str) -> str:
    """The go.mod of ``module@version``, from the Go module proxy (through the cache)."""
    info = json.loads(
        subprocess.run(
            ["go", "mod", "download", "-json", f"{module}@{version}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return Path(info["GoMod"]).read_text()


def write_tool_module(target: Path, go_mod: str, tools: list[str]) -> None:
    """Writes the wrapper's go.mod into ``target`` and adds ``tools`` (module@version)."""
    target.mkdir(parents=True, exist_ok=True)
    (target / "go.mod").write_text(go_mod)
    (target / "go.sum").unlink(missing_ok=True)
    subprocess.run(["go", "get", "-tool", *tools], cwd=target, check=True)


def main(argv: list[str]) -> int:
    target, version = Path(argv[0]), argv[1]
    jaeger_go_mod = downloaded_go_mod(JAEGER_MODULE, version)
    write_tool_module(target, wrapper_go_mod(jaeger_go_mod), [f"{JAEGER_COMMAND}@{version}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
