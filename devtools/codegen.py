"""Regenerates everything under ``gen/`` from ``protos/`` (``make gen``).

Outputs, all derived and never edited by hand:

* Python messages, type stubs and gRPC stubs for every StreamMesh proto and
  for ``buf/validate/validate.proto`` (the protovalidate runtime imports
  ``buf.validate.validate_pb2``; no wheel ships it).
* ``gen/streammesh.pb``: a descriptor set with imports and source info, which
  Envoy's ``grpc_json_transcoder`` loads, plus the ``google.rpc`` error types.
* ``gen/openapi/streammesh.swagger.json``: the REST surface as OpenAPI v2,
  produced by ``protoc-gen-openapiv2`` from the ``google.api.http`` rules.

The run is deterministic, so ``make gen`` on a clean tree leaves ``git status``
empty; CI relies on that to detect a stale ``gen/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

DESCRIPTOR_SET = "streammesh.pb"
OPENAPI_DIR = "openapi"
OPENAPI_NAME = "streammesh"
# Third-party protos whose Python modules no installed wheel provides.
THIRD_PARTY_PYTHON = ("buf/validate/validate.proto",)
# Types Envoy must resolve to turn a gRPC error's `grpc-status-details-bin` into a
# JSON google.rpc.Status body (`convert_grpc_status`), details included.
ERROR_TYPES = ("google/rpc/status.proto", "google/rpc/error_details.proto")


class CodegenError(RuntimeError):
    """protoc rejected the contracts or a plugin failed."""


def _run_protoc(args: list[str]) -> None:
    # protoc.main takes argv including a program name and returns protoc's exit code.
    code = protoc.main(["grpc_tools.protoc", *args])
    if code != 0:
        raise CodegenError(f"protoc exited with {code}: protoc {' '.join(args)}")


def generate(protos: Path, third_party: Path, out: Path) -> list[Path]:
    """Writes every artefact into ``out`` (emptied first) and returns the proto list."""
    sources = sorted(p.relative_to(protos) for p in protos.rglob("*.proto"))
    if not sources:
        raise CodegenError(f"no .proto files under {protos}")
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    includes = [f"-I{protos}", f"-I{third_party}", f"-I{well_known}"]

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / OPENAPI_DIR).mkdir()

    names = [str(p) for p in sources]
    _run_protoc(
        [
            *includes,
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            *names,
        ]
    )
    _run_protoc([*includes, f"--python_out={out}", f"--pyi_out={out}", *THIRD_PARTY_PYTHON])
    _run_protoc(
        [
            *includes,
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={out / DESCRIPTOR_SET}",
            *names,
            *ERROR_TYPES,
        ]
    )
    rest_protos = [n for n in names if _has_http_rules(protos / n)]
    plugin = shutil.which("protoc-gen-openapiv2")
    if plugin is None:
        raise CodegenError("protoc-gen-openapiv2 is not on PATH: run `make tools`")
    _run_protoc(
        [
            *includes,
            f"--plugin=protoc-gen-openapiv2={plugin}",
            f"--openapiv2_out={out / OPENAPI_DIR}",
            "--openapiv2_opt=allow_merge=true",
            f"--openapiv2_opt=merge_file_name={OPENAPI_NAME}",
            "--openapiv2_opt=json_names_for_fields=true",
            # The plugin insists on a Go import path per file; no Go code is
            # generated, so map each file to a placeholder instead of adding a
            # misleading go_package option to the contracts.
            *[f"--openapiv2_opt=M{n}=streammesh/{Path(n).parent}" for n in rest_protos],
            *rest_protos,
        ]
    )
    return sources


def _has_http_rules(path: Path) -> bool:
    return "google.api.http" in path.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protos", type=Path, default=Path("protos"))
    parser.add_argument("--third-party", type=Path, default=Path(".tools/protos"))
    parser.add_argument("--out", type=Path, default=Path("gen"))
    args = parser.parse_args(argv)
    try:
        sources = generate(args.protos, args.third_party, args.out)
    except CodegenError as err:
        print(f"make gen: {err}", file=sys.stderr)
        return 1
    print(f"make gen: {len(sources)} protos -> {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
