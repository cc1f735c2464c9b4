"""The service kit: how every StreamMesh service is declared, built, served and stopped.

:mod:`services.kit.service` is the declaration a service's ``server.py`` writes
(``Service`` + its ``build`` function); the server runtime and the client
channels sit beside it. The kit is the one package above ``interceptors``:
it composes the chains; ``services.runtime`` (errors, config, logs, stores'
plumbing) sits below them.
"""

from services.kit.service import Kit, Served, Service

__all__ = ["Kit", "Served", "Service"]
