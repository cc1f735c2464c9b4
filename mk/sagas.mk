# Sagas (issue 18): the long-running operation contract and the saga benchmark.

# google.longrunning.Operation (DeleteAccount's answer, AIP-151) and what it
# imports, from the googleapis-common-protos wheel like the other google
# protos. The wheel names the file operations_proto.proto; the descriptor it
# registers (and so every generated import) says google/longrunning/operations.proto.
LONGRUNNING_PROTO := $(THIRD_PARTY)/google/longrunning/operations.proto

$(LONGRUNNING_PROTO): $(THIRD_PARTY)/.stamp
	mkdir -p $(THIRD_PARTY)/google/longrunning
	cp $$($(PY) -c 'import google.api.annotations_pb2 as m, os; print(os.path.dirname(m.__file__))')/{client,launch_stage}.proto $(THIRD_PARTY)/google/api/
	cp $$($(PY) -c 'import google.longrunning.operations_proto_pb2 as m, os; print(os.path.dirname(m.__file__))')/operations_proto.proto $@
	chmod -R u+w $(THIRD_PARTY)

gen buf-lint tools: $(LONGRUNNING_PROTO)

.PHONY: bench-sagas
bench-sagas: $(VENV)/.installed ## saga latency p50/p99 (request to completion) and orchestrator throughput under profile updates
	$(PY) -m bench.saga_bench
