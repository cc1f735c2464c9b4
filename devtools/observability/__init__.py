"""Monitoring of the mesh (issue 19): Prometheus' configuration, its API, the
Jaeger wrapper module and the terminal views built on them."""
