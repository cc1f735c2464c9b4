"""``streammesh edge``: render, validate and run the Envoy edge."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from services.edge import envoy, webapp
from services.edge.render import EdgeConfig, render


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("edge", help="render or validate the Envoy edge's configuration")
    commands = parser.add_subparsers(dest="edge_command", metavar="ACTION", required=True)

    render_parser = commands.add_parser("render", help="print or write the Envoy configuration")
    render_parser.add_argument("--target", choices=("local", "k8s"), default="local")
    render_parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    render_parser.set_defaults(handler=_render)

    validate_parser = commands.add_parser("validate", help="render, then `envoy --mode validate`")
    validate_parser.add_argument("--target", choices=("local", "k8s"), default="local")
    validate_parser.add_argument("--state-dir", type=Path, default=Path(".streammesh/edge"))
    validate_parser.set_defaults(handler=_validate)


def config_for(target: str) -> EdgeConfig:
    if target == "k8s":
        # In the pod, the image carries gen/ at /app/gen; Envoy listens on all interfaces.
        return EdgeConfig(
            target="k8s",
            listen_host="0.0.0.0",  # the pod's edge listener must be reachable
            descriptor_set=Path("/app/gen/streammesh.pb"),
            # Services of k8s/: the media origin's Deployment, and the trace
            # collector (Jaeger in the kind overlay) that the services export to.
            media_upstream="media-origin:8090",  # services/catalog/media_origin.py
            otlp_collector="jaeger:4317",
            # The image carries the built device app (k8s/image/Dockerfile).
            webapp_dir=Path("/app/web/dist"),
            # An emptyDir of its own (k8s/base/edge.yaml), sized for the cache's bound.
            cache_dir=Path("/var/cache/streammesh-edge"),
        )
    return EdgeConfig()


def _render(args: argparse.Namespace) -> int:
    text = json.dumps(render(config_for(args.target)), indent=2, sort_keys=True)
    if args.output is None:
        sys.stdout.write(text + "\n")
    else:
        args.output.write_text(text + "\n")
    return 0


def _validate(args: argparse.Namespace) -> int:
    config = config_for(args.target)
    if args.target == "k8s":
        # Validate the k8s layout against this checkout's descriptor set and app.
        config = EdgeConfig(
            **{
                **config.__dict__,
                "descriptor_set": EdgeConfig().descriptor_set,
                "webapp_dir": webapp.DIST,
            }
        )
    path = envoy.write_config(render(config), args.state_dir / f"envoy-{args.target}.json")
    try:
        envoy.validate(path)
    except envoy.EnvoyError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0
