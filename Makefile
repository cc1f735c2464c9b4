# StreamMesh developer entry points. `make up` and `make test` are the quick start.
# Every tool is installed by a target below into git-ignored folders, so a fresh
# clone needs nothing but Python 3.11, Go, Node/npm and Java 17 on the PATH.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
TOOLS       := .tools
TOOLS_BIN   := $(abspath $(TOOLS)/bin)
THIRD_PARTY := $(TOOLS)/protos
export PATH := $(TOOLS_BIN):$(abspath $(VENV)/bin):$(PATH)

# Pinned tool versions: bump here, nowhere else.
BUF_VERSION          := 1.75.0
GRPC_GATEWAY_VERSION := v2.33.0
PROTOVALIDATE_VERSION := v1.2.2
GRPCURL_VERSION      := v1.9.4
GHZ_VERSION          := v0.93.0
KUBECONFORM_VERSION  := v0.8.0
KUSTOMIZE_VERSION    := v5.8.1
# Kubernetes whose OpenAPI document kubeconform's schemas are made from (tests/k8s).
K8S_OPENAPI_VERSION  := v1.33.1
HEY_VERSION          := v0.1.5
# Monitoring (issue 19): Prometheus server + promtool, Jaeger all-in-one.
PROMETHEUS_VERSION   := v0.316.0
JAEGER_VERSION       := v1.76.0

PROTOS := $(shell find protos -name '*.proto' | sort)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# ---------------------------------------------------------------- install
# Every dependency is pinned, with its hashes, in two locks compiled from
# pyproject.toml by `make lock`: requirements.lock (runtime, what the image
# installs) and requirements-dev.lock (runtime + the dev extra, constrained by
# requirements.lock so both agree). The venv's stock pip installs a lock as it is
# (nothing left to resolve, so no pip upgrade), then StreamMesh itself, editable
# and without dependencies (pip's --require-hashes refuses an unhashed `-e .`).
LOCK       := requirements.lock
DEV_LOCK   := requirements-dev.lock
UV_VERSION := 0.13.8
UV         := $(TOOLS)/uv/bin/uv
# Extra `uv pip compile` flags for `make lock`: --upgrade, --upgrade-package NAME.
LOCK_ARGS  ?=
LOCK_FLAGS := --quiet --no-config --python-version 3.11 --python-platform x86_64-manylinux_2_36 \
              --generate-hashes --custom-compile-command 'make lock'

$(VENV)/.installed: pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

.PHONY: install
install: $(VENV)/.installed ## create .venv and install StreamMesh with its dev tools from the lock

# uv only compiles the locks: it lives in .tools/uv, never in .venv or the image.
$(UV):
	$(PYTHON) -m venv $(TOOLS)/uv
	$(TOOLS)/uv/bin/pip install --quiet uv==$(UV_VERSION)

.PHONY: lock
lock: $(UV) ## recompile requirements.lock and requirements-dev.lock from pyproject.toml (LOCK_ARGS=--upgrade bumps)
	$(UV) pip compile $(LOCK_FLAGS) $(LOCK_ARGS) pyproject.toml -o $(LOCK)
	$(UV) pip compile $(LOCK_FLAGS) $(LOCK_ARGS) pyproject.toml --extra dev -c $(LOCK) -o $(DEV_LOCK)

$(TOOLS_BIN)/buf:
	mkdir -p $(TOOLS_BIN)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/npm @bufbuild/buf@$(BUF_VERSION)
	ln -sf $(abspath $(TOOLS)/npm/node_modules/.bin/buf) $@

$(TOOLS_BIN)/protoc-gen-openapiv2:
	GOBIN=$(TOOLS_BIN) go install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

$(TOOLS_BIN)/grpcurl:
	GOBIN=$(TOOLS_BIN) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(TOOLS_BIN)/ghz:
	GOBIN=$(TOOLS_BIN) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

$(TOOLS_BIN)/hey:
	GOBIN=$(TOOLS_BIN) go install github.com/rakyll/hey@$(HEY_VERSION)

$(TOOLS_BIN)/kubeconform:
	GOBIN=$(TOOLS_BIN) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

# Prometheus builds from its Go module (a cold build: minutes and ~3 GB). Without
# its front-end assets only the HTTP API serves, which is all tests and `top` read.
# remove_all_sd drops the cloud service discoveries (we scrape static targets),
# and with them most of the build.
$(TOOLS_BIN)/prometheus $(TOOLS_BIN)/promtool &:
	GOBIN=$(TOOLS_BIN) go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/prometheus@$(PROMETHEUS_VERSION) github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)

# `go install jaeger@version` refuses a module with replace directives, so Jaeger
# builds as a tool dependency of a one-file wrapper module that repeats them.
$(TOOLS_BIN)/jaeger:
	$(PYTHON) -m devtools.observability.jaeger_module $(TOOLS)/jaeger-build $(JAEGER_VERSION)
	cd $(TOOLS)/jaeger-build && GOFLAGS=-mod=mod go build -o $(TOOLS_BIN)/jaeger github.com/jaegertracing/jaeger/cmd/jaeger

.PHONY: observability-tools
observability-tools: $(TOOLS_BIN)/prometheus $(TOOLS_BIN)/promtool $(TOOLS_BIN)/jaeger ## build Prometheus, promtool and Jaeger into .tools/bin (once)

# Debian's kubectl (kubernetes-client) is 1.20, its kustomize too old for k8s/.
$(TOOLS_BIN)/kustomize:
	GOBIN=$(TOOLS_BIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# kubeconform's schema registry is not reachable from here: tests/k8s makes the
# schemas from the Kubernetes module's own OpenAPI document instead.
$(TOOLS)/k8s-openapi/swagger.json:
	mkdir -p $(dir $@)
	cp $$(GOFLAGS=-mod=mod go mod download -json k8s.io/kubernetes@$(K8S_OPENAPI_VERSION) | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/api/openapi-spec/swagger.json $@
	chmod u+w $@

# Third-party protos are never copied into the repository: google/api comes from
# the googleapis-common-protos wheel, buf/validate from the protovalidate Go module.
$(THIRD_PARTY)/.stamp: $(VENV)/.installed
	rm -rf $(THIRD_PARTY) && mkdir -p $(THIRD_PARTY)/google/api $(THIRD_PARTY)/google/rpc $(THIRD_PARTY)/buf/validate
	cp $$($(PY) -c 'import google.api.annotations_pb2 as m, os; print(os.path.dirname(m.__file__))')/{annotations,http,field_behavior}.proto $(THIRD_PARTY)/google/api/
	cp $$($(PY) -c 'import google.rpc.status_pb2 as m, os; print(os.path.dirname(m.__file__))')/{status,error_details}.proto $(THIRD_PARTY)/google/rpc/
	cp $$(GOFLAGS=-mod=mod go mod download -json github.com/bufbuild/protovalidate@$(PROTOVALIDATE_VERSION) | $(PY) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/proto/protovalidate/buf/validate/validate.proto $(THIRD_PARTY)/buf/validate/
	chmod -R u+w $(THIRD_PARTY)
	touch $@

.PHONY: tools
tools: $(VENV)/.installed $(THIRD_PARTY)/.stamp $(TOOLS_BIN)/buf $(TOOLS_BIN)/protoc-gen-openapiv2 $(TOOLS_BIN)/grpcurl $(TOOLS_BIN)/ghz $(TOOLS_BIN)/hey $(TOOLS_BIN)/kustomize $(TOOLS_BIN)/kubeconform $(TOOLS)/k8s-openapi/swagger.json $(TOOLS_BIN)/prometheus $(TOOLS_BIN)/promtool $(TOOLS_BIN)/jaeger ## install buf, grpcurl, ghz, hey, protoc-gen-openapiv2, kustomize, kubeconform, prometheus, promtool, jaeger and third-party protos

# ---------------------------------------------------------------- contracts
.PHONY: gen
gen: $(VENV)/.installed $(THIRD_PARTY)/.stamp $(TOOLS_BIN)/protoc-gen-openapiv2 ## regenerate gen/ from protos/
	$(PY) -m devtools.codegen --protos protos --third-party $(THIRD_PARTY) --out gen

.PHONY: gen-check
gen-check: gen ## fail when gen/ is stale
	@if [ -n "$$(git status --porcelain -- gen)" ]; then \
	  git status --short -- gen; \
	  echo "gen/ is stale: run 'make gen' and commit gen/"; exit 1; fi

.PHONY: buf-lint
buf-lint: $(TOOLS_BIN)/buf $(THIRD_PARTY)/.stamp ## buf lint + buf breaking against the previous commit
	buf lint
	@# The previous commit's protos/ with today's third-party protos beside it:
	@# .tools/protos is git-ignored, so `.git#ref=HEAD~1` alone has no imports.
	@if [ -n "$$(git ls-tree HEAD~1 protos 2>/dev/null)" ]; then \
	  against=$$(mktemp -d) && trap 'rm -rf "$$against"' EXIT && \
	  git archive HEAD~1 protos buf.yaml | tar -x -C "$$against" && \
	  mkdir -p "$$against/.tools" && cp -r $(THIRD_PARTY) "$$against/.tools/" && \
	  (cd "$$against" && buf build -o image.binpb) && \
	  buf build -o "$$against/current.binpb" && \
	  echo "buf breaking --against HEAD~1 (FILE)" && \
	  buf breaking "$$against/current.binpb" --against "$$against/image.binpb"; \
	else echo "buf breaking: no previous commit with protos/, skipped"; fi

# ---------------------------------------------------------------- quality
.PHONY: lint
lint: $(VENV)/.installed $(TOOLS_BIN)/promtool ## ruff (lint + format check), mypy, the package layers (import-linter), the alert rules (promtool)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	promtool check rules monitoring/rules/*.yml
	promtool test rules monitoring/tests/*.yml

.PHONY: fmt
fmt: $(VENV)/.installed ## apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: test
test: tools gen-check buf-lint lint infra-up ## install everything, start the real backends, run every test
	$(PY) -m pytest

# ---------------------------------------------------------------- real backends
# MariaDB, Redis, Cassandra, OpenSearch and PostgreSQL on 127.0.0.1, data under
# .streammesh/infra (STREAMMESH_INFRA_DIR), jars cached in ~/.cache/streammesh.
.PHONY: infra-up infra-down infra-status
infra-up: $(VENV)/.installed $(TOOLS_BIN)/prometheus ## install on first use, start every real backend, wait until each answers
	$(VENV)/bin/streammesh infra up

infra-down: $(VENV)/.installed ## stop the backends infra-up started
	$(VENV)/bin/streammesh infra down

infra-status: $(VENV)/.installed ## show each real backend's state, version and port
	$(VENV)/bin/streammesh infra status

# ---------------------------------------------------------------- run
.PHONY: up
up: $(VENV)/.installed ## run the whole mesh on the embedded backends
	$(VENV)/bin/streammesh up

# ---------------------------------------------------------------- benchmarks
.PHONY: bench-runtime
bench-runtime: $(VENV)/.installed $(TOOLS_BIN)/ghz ## QPS of Echo: full interceptor chain vs none vs bare grpc.aio
	$(PY) bench/runtime_overhead.py --breakdown

.PHONY: bench-history
bench-history: $(VENV)/.installed $(TOOLS_BIN)/ghz ## history on Cassandra vs SQLite: RecordView, continue watching, view-to-trending delay
	$(PY) bench/history_bench.py

.PHONY: bench-sessions
bench-sessions: $(VENV)/.installed $(TOOLS_BIN)/ghz ## users: playback start/heartbeat and token refresh QPS and p99 (MariaDB, Redis)
	$(PY) bench/sessions_bench.py

.PHONY: bench-analytics
bench-analytics: $(VENV)/.installed ## analytics: ingestion COPY vs row inserts vs DuckDB, report p50/p99 on 1M views, PostgreSQL vs DuckDB
	$(PY) bench/analytics_bench.py

.PHONY: bench-search
bench-search: $(VENV)/.installed $(TOOLS_BIN)/ghz ## search on OpenSearch vs SQLite FTS5: indexing, Search/Suggest QPS, event-to-searchable delay
	$(PY) -m bench.search_bench

.PHONY: bench-recommendations
bench-recommendations: $(VENV)/.installed $(TOOLS_BIN)/ghz ## recommendations on Cassandra vs SQLite: ListRecommendations QPS/p99, batch training, view-to-list delay (BENCH_ARGS=--quick)
	$(PY) -m bench.recommendations_bench $(BENCH_ARGS)

.PHONY: bench-media
bench-media: $(VENV)/.installed ## artwork through the edge cold vs warm (req/s, p99), backup/restore MB/s per backend
	$(PY) -m bench.media_bench

.PHONY: clean
clean: ## remove generated local state (not gen/)
	rm -rf .streammesh .pytest_cache .mypy_cache .ruff_cache

# ---------------------------------------------------------------- per-topic targets
# Larger topics (Kubernetes API server, web app, chaos, device load) keep their
# targets in mk/*.mk; a file there may add prerequisites to `tools` and `test`.
-include $(sort $(wildcard mk/*.mk))
