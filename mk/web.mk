# The device web app (issue 23): web/ (TypeScript + Preact, bundled by esbuild),
# served by the edge at / (services/edge/webapp.py), tested in Debian's Chromium
# by Playwright (tests/web). The built app, web/dist, is committed like gen/:
# `make up` needs no Node, and `make web-check` (part of `make test`) fails when
# it is stale or when the API types generated from gen/openapi/ no longer
# type-check (a contract change that breaks the app).

WEB          := web
WEB_MODULES  := $(WEB)/node_modules/.installed
# Debian's chromium: Playwright's own browser download cannot work here.
CHROMIUM     ?= /usr/bin/chromium
# apt-get needs root; elsewhere sudo asks.
AS_ROOT      := $(if $(filter 0,$(shell id -u)),,sudo)

$(WEB_MODULES): $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --silent --no-audit --no-fund
	touch $@

# Installed once; a machine that has it skips this (the target is the file).
$(CHROMIUM):
	$(AS_ROOT) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(AS_ROOT) apt-get install -y -qq --no-install-recommends chromium

.PHONY: web-install
web-install: $(WEB_MODULES) $(CHROMIUM) ## install the web app's npm packages (web/package-lock.json) and Debian's chromium

tools: $(WEB_MODULES) $(CHROMIUM)

.PHONY: web-build
web-build: $(WEB_MODULES) ## regenerate the API types from gen/openapi/, type-check, build web/dist (commit it)
	cd $(WEB) && npm run --silent build

.PHONY: web-check
web-check: $(WEB_MODULES) ## fail when the app does not type-check against gen/openapi/ or web/dist is stale
	cd $(WEB) && npm run --silent check
	@if ! diff -r $(WEB)/dist $(WEB)/build/dist >/dev/null; then \
	  diff -rq $(WEB)/dist $(WEB)/build/dist; \
	  echo "web/dist is stale: run 'make web-build' and commit web/dist"; exit 1; fi

test: web-check

.PHONY: web-screenshots
web-screenshots: $(VENV)/.installed $(WEB_MODULES) $(CHROMIUM) ## run the browser tests, writing the README's screenshots to docs/screenshots/
	mkdir -p docs/screenshots
	STREAMMESH_WEB_SCREENSHOTS=$(abspath docs/screenshots) $(PY) -m pytest -q tests/web
