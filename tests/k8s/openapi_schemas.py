"""kubeconform schemas made from Kubernetes' own OpenAPI document, offline.

kubeconform validates against JSON schemas it downloads from a registry that is
not reachable here. The same facts are in ``api/openapi-spec/swagger.json`` of
the ``k8s.io/kubernetes`` Go module (``make tools`` copies it to
``.tools/k8s-openapi/swagger.json``). This module turns it into the files
kubeconform looks for: one standalone schema per kind, named
``<kind><kind suffix>.json`` as in kubeconform's ``-schema-location`` template
(``deployment-apps-v1.json``, ``service-v1.json``).

"Strict" as kubeconform's ``-strict`` means: every object that lists its
properties allows no others, so a misspelled field is an error, not ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Schema = dict[str, Any]

SCHEMA_LOCATION = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
_REF_PREFIX = "#/definitions/"
# Types whose JSON form is not what their OpenAPI declaration says.
_INT_OR_STRING: Schema = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
_QUANTITY: Schema = {"oneOf": [{"type": "string"}, {"type": "number"}]}
_SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _INT_OR_STRING,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _QUANTITY,
}


def kind_file_name(kind: str, group: str, version: str) -> str:
    """kubeconform's file name for a kind: lower-case kind, first label of the group, version."""
    suffix = f"-{group.split('.')[0].lower()}-{version.lower()}" if group else f"-{version.lower()}"
    return f"{kind.lower()}{suffix}.json"


def write_schemas(swagger_path: Path, out_dir: Path) -> list[Path]:
    """Writes one strict, standalone schema per kind of ``swagger_path`` into ``out_dir``."""
    definitions: dict[str, Schema] = json.loads(swagger_path.read_text())["definitions"]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
            schema = _standalone(name, definitions)
            api_version = f"{group}/{version}" if group else version
            properties = schema.get("properties", {})
            if "kind" in properties and "apiVersion" in properties:
                properties["kind"] = {"type": "string", "enum": [kind]}
                properties["apiVersion"] = {"type": "string", "enum": [api_version]}
            path = out_dir / kind_file_name(kind, group, version)
            path.write_text(json.dumps(schema))
            written.append(path)
    return written


def _standalone(name: str, definitions: dict[str, Schema]) -> Schema:
    """The definition ``name`` with every definition it reaches under ``definitions``."""
    reachable: dict[str, Schema] = {}
    pending = [name]
    while pending:
        current = pending.pop()
        if current in reachable:
            continue
        converted = _SPECIAL.get(current) or _convert(definitions[current])
        reachable[current] = converted
        pending.extend(ref for ref in _refs(converted) if ref not in reachable)
    root = dict(reachable[name])
    root["$schema"] = "http://json-schema.org/draft-04/schema#"
    root["definitions"] = reachable
    return root


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
        return dict(_INT_OR_STRING)
    converted: Schema = {}
    for key, value in node.items():
        # Descriptions are bulk; formats (int32, byte, date-time) are advisory here;
        # x-kubernetes-* are server-side hints a JSON-schema validator ignores anyway.
        if key in ("description", "format") or key.startswith("x-"):
            continue
        if key == "properties":
            converted[key] = {prop: _convert(sub) for prop, sub in value.items()}
        else:
            converted[key] = _convert(value)
    # A field that keeps unknown fields (a CRD's free-form part) stays open.
    open_ended = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in converted and "additionalProperties" not in converted and not open_ended:
        converted["additionalProperties"] = False
    return converted


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            yield ref.removeprefix(_REF_PREFIX)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def write_crd_schemas(crd_paths: list[Path], out_dir: Path) -> list[Path]:
    """kubeconform schemas for each served version of the CustomResourceDefinitions,
    as strict as the built-in kinds' (a field the CRD does not list is an error)."""
    import yaml  # the test environment's; the module stays importable without it

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for crd_path in crd_paths:
        crd = yaml.safe_load(crd_path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", False):
                continue
            schema = _convert(version["schema"]["openAPIV3Schema"])
            properties = schema.setdefault("properties", {})
            properties["kind"] = {"type": "string", "enum": [kind]}
            properties["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
            # The object's metadata is the API server's to check (name, labels...).
            properties["metadata"] = {"type": "object"}
            schema["$schema"] = "http://json-schema.org/draft-04/schema#"
            path = out_dir / kind_file_name(kind, group, version["name"])
            path.write_text(json.dumps(schema))
            written.append(path)
    return written
