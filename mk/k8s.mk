# Kubernetes (issue 22): a real kube-apiserver and etcd for tests/k8s, built once
# from their Go modules into .tools/bin (a cold build: minutes and ~2 GB of memory).
#
# `go install` refuses both (Kubernetes' go.mod replaces its staging modules with
# folders), so they build as tool dependencies of a wrapper module under .tools/
# that devtools/k8s/apiserver_module.py writes. The version is stamped into the
# binary, or `kubectl version` (and kubectl's discovery) sees v0.0.0.
K8S_APISERVER_VERSION := v1.33.13
K8S_APISERVER_BUILD   := $(TOOLS)/kube-apiserver-build
K8S_VERSION_PKG       := k8s.io/component-base/version
K8S_APISERVER_LDFLAGS := -s -w \
  -X $(K8S_VERSION_PKG).gitVersion=$(K8S_APISERVER_VERSION) \
  -X $(K8S_VERSION_PKG).gitMajor=$(word 1,$(subst ., ,$(patsubst v%,%,$(K8S_APISERVER_VERSION)))) \
  -X $(K8S_VERSION_PKG).gitMinor=$(word 2,$(subst ., ,$(K8S_APISERVER_VERSION))) \
  -X $(K8S_VERSION_PKG).gitTreeState=clean

$(K8S_APISERVER_BUILD)/go.mod:
	$(PYTHON) -m devtools.k8s.apiserver_module $(K8S_APISERVER_BUILD) $(K8S_APISERVER_VERSION)

$(TOOLS_BIN)/kube-apiserver: $(K8S_APISERVER_BUILD)/go.mod
	mkdir -p $(TOOLS_BIN)
	cd $(K8S_APISERVER_BUILD) && GOFLAGS=-mod=mod go build -trimpath -ldflags '$(K8S_APISERVER_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kube-apiserver

$(TOOLS_BIN)/etcd: $(K8S_APISERVER_BUILD)/go.mod
	mkdir -p $(TOOLS_BIN)
	cd $(K8S_APISERVER_BUILD) && GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o $@ go.etcd.io/etcd/server/v3

.PHONY: k8s-tools
k8s-tools: $(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/etcd $(TOOLS_BIN)/kustomize $(TOOLS_BIN)/kubeconform $(TOOLS)/k8s-openapi/swagger.json ## build kube-apiserver and etcd (tests/k8s), with kustomize and kubeconform

tools: $(TOOLS_BIN)/kube-apiserver $(TOOLS_BIN)/etcd

# The CRDs the manifests use, for tests/k8s (kubeconform's schemas and the API
# server's dry-run). The Go proxy refuses prometheus-operator's main module (where
# its CRD YAML lives), but serves its API types: controller-gen makes the CRDs
# from them. External Secrets ships its CRD YAML in its module.
CONTROLLER_GEN_VERSION           := v0.23.0
PROMETHEUS_OPERATOR_APIS_VERSION := v0.95.2
EXTERNAL_SECRETS_VERSION         := v0.16.2
K8S_CRDS                         := $(TOOLS)/k8s-crds
K8S_CRD_BUILD                    := $(TOOLS)/k8s-crds-build
PROMETHEUS_OPERATOR_APIS         := github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring

$(TOOLS_BIN)/controller-gen:
	GOBIN=$(TOOLS_BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(K8S_CRDS)/.stamp: $(TOOLS_BIN)/controller-gen
	rm -rf $(K8S_CRDS) $(K8S_CRD_BUILD) && mkdir -p $(K8S_CRDS) $(K8S_CRD_BUILD)
	cd $(K8S_CRD_BUILD) && go mod init streammesh.local/k8s-crds && \
	  GOFLAGS=-mod=mod go get $(PROMETHEUS_OPERATOR_APIS)@$(PROMETHEUS_OPERATOR_APIS_VERSION) && \
	  GOFLAGS=-mod=mod $(TOOLS_BIN)/controller-gen crd:maxDescLen=0 paths=$(PROMETHEUS_OPERATOR_APIS)/v1 output:crd:dir=$(abspath $(K8S_CRDS))
	cp $$(GOFLAGS=-mod=mod go mod download -json github.com/external-secrets/external-secrets@$(EXTERNAL_SECRETS_VERSION) | $(PYTHON) -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/config/crds/bases/external-secrets.io_{externalsecrets,clustersecretstores}.yaml $(K8S_CRDS)/
	chmod -R u+w $(K8S_CRDS)
	touch $@

k8s-tools: $(K8S_CRDS)/.stamp
tools: $(K8S_CRDS)/.stamp

# kubectl drives the dry-runs (tests/k8s/test_apiserver.py). The Debian package
# `kubectl` dispatches to the client matching the server (1.33 here).
.PHONY: kubectl
kubectl:
	@command -v kubectl >/dev/null || (apt-get update && apt-get install -y kubectl)

k8s-tools: kubectl
tools: kubectl
