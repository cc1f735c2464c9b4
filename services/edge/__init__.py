"""The Envoy edge: REST/JSON for devices and gRPC passthrough on one port.

Its configuration is rendered from one source (the contracts' descriptor set
and ``services.registry``) for local runs and for Kubernetes; see
:mod:`services.edge.render`.
"""
