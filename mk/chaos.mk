# Chaos (issue 21): the long form of the chaos suite. `make test` runs the
# bounded form (one round: every service SIGKILLed once, the mesh's Redis
# restarted once, 8 viewers, 2 of them deleting their account); this runs
# CHAOS_ROUNDS rounds with more viewers,
# and the 3-node Cassandra and Redis durability tests with it.
CHAOS_ROUNDS  ?= 3
CHAOS_VIEWERS ?= 16

.PHONY: chaos
chaos: $(VENV)/.installed ## the long chaos run: CHAOS_ROUNDS rounds of faults under CHAOS_VIEWERS writers, with the loss table
	STREAMMESH_CASSANDRA_CLUSTER_TEST=1 STREAMMESH_BACKEND_RESTARTS_ALL=1 CHAOS_ROUNDS=$(CHAOS_ROUNDS) CHAOS_VIEWERS=$(CHAOS_VIEWERS) $(PY) -m pytest -s -o timeout=3600 tests/chaos
