"""Real backends on one machine: MariaDB, Redis, Cassandra, OpenSearch, PostgreSQL.

``streammesh infra up`` installs what is missing (Debian packages, Maven
Central jars), starts each server on loopback as a process of our own with its
data under one state folder, and waits until each one answers real queries.
Clients find the servers through :mod:`devtools.infra.endpoints`.
"""
