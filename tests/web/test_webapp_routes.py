"""How the edge serves the app (services/edge/webapp.py), without a browser:
bad builds are refused when rendering, a Kubernetes edge serves the app only
from the image's path, and the rendered configuration passes Envoy's own
validation with the app in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.edge import envoy, webapp
from services.edge.render import EdgeConfig, listener_manager, render


def _dist(tmp_path: Path, **assets: bytes) -> Path:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>t</title>")
    for name, body in assets.items():
        (dist / "assets" / name.replace("_", ".")).write_bytes(body)
    return dist


def test_an_asset_above_the_edge_bound_is_refused_naming_it(tmp_path: Path) -> None:
    dist = _dist(tmp_path, big_js=b"x" * (webapp.MAX_ASSET_BYTES + 1))
    with pytest.raises(webapp.WebAppError, match=r"big\.js: .* above"):
        webapp.routes(dist)


def test_an_asset_of_an_unknown_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(webapp.WebAppError, match="no content type"):
        webapp.routes(_dist(tmp_path, data_bin=b"\0"))


def test_an_unbuilt_app_has_no_routes(tmp_path: Path) -> None:
    assert webapp.routes(tmp_path / "nothing") == []


def test_index_is_revalidated_and_hashed_assets_are_immutable(tmp_path: Path) -> None:
    routes = {route["match"]["path"]: route for route in webapp.routes(_dist(tmp_path, a_js=b"1"))}
    assert set(routes) == {"/", "/assets/a.js"}

    def headers(path: str) -> dict[str, str]:
        added = routes[path]["response_headers_to_add"]
        return {entry["header"]["key"]: entry["header"]["value"] for entry in added}

    assert headers("/")["cache-control"] == "no-cache"
    assert "content-security-policy" in headers("/")
    assert "immutable" in headers("/assets/a.js")["cache-control"]
    assert headers("/assets/a.js")["content-type"].startswith("text/javascript")


def test_a_k8s_edge_serves_the_app_only_from_the_path_it_is_given() -> None:
    def app_routes(config: EdgeConfig) -> list[dict[str, object]]:
        manager = listener_manager(render(config))
        entries = manager["route_config"]["virtual_hosts"][0]["routes"]
        return [entry for entry in entries if str(entry.get("name", "")).startswith("webapp:")]

    assert app_routes(EdgeConfig(target="k8s")) == []
    image = Path("/app/web/dist")
    served = app_routes(EdgeConfig(target="k8s", webapp_dir=image))
    assert served
    for route in served:
        filename = Path(route["direct_response"]["body"]["filename"])  # type: ignore[index]
        assert filename.is_relative_to(image)
    assert app_routes(EdgeConfig())  # a local edge serves this checkout's web/dist


@pytest.mark.tools
def test_the_local_edge_with_the_app_passes_envoy_validation(tmp_path: Path) -> None:
    path = envoy.write_config(render(EdgeConfig()), tmp_path / "envoy.json")
    assert "OK" in envoy.validate(path)
