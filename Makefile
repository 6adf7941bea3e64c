# KubeFoundry. `make dev` runs it on a local simulated GPU cluster; `make test` runs every test.
SHELL := /bin/bash
# `python -m` puts the working directory first on sys.path, where the folder `operator/` would
# shadow the standard library's `operator` module (pip itself breaks in a fresh venv). Python 3.11's
# safe-path mode leaves the working directory out.
export PYTHONSAFEPATH := 1
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
CLUSTER := deploy/local/cluster.sh
# The web UI: built from ui/ into api/static/ (served by the API at /) whenever its sources change.
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package.json
UI_BUILD := api/static/index.html
NPM_STAMP := ui/node_modules/.installed-$(shell sha1sum ui/package-lock.json | cut -c1-12)
CHROMIUM ?= /usr/bin/chromium

.PHONY: dev test test-unit test-cluster test-ui lint crds crds-check binaries cluster cluster-down cluster-nodes kubeconfig venv bench clean ui node chromium

venv: $(STAMP)
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

binaries:
	bash deploy/local/build-binaries.sh

node:
	@command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
		|| { echo "the web UI is built with Node.js >= 20.19 (found: $$(node --version 2>/dev/null || echo none))"; exit 1; }

$(NPM_STAMP): ui/package-lock.json | node
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@rm -f ui/node_modules/.installed-* && touch $@

ui: $(UI_BUILD)
$(UI_BUILD): $(NPM_STAMP) $(UI_SOURCES)
	cd ui && npm run --silent build

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work here).
chromium:
	@[ -x $(CHROMIUM) ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

cluster: venv
	bash $(CLUSTER) up

cluster-down:
	bash $(CLUSTER) down

cluster-nodes: venv
	bash $(CLUSTER) nodes

kubeconfig:
	@bash $(CLUSTER) kubeconfig

dev: venv binaries ui
	bash deploy/local/dev.sh

test: venv binaries ui chromium
	$(PY) -m pytest -q -ra

test-ui: venv binaries ui chromium
	$(PY) -m pytest -q -ra tests/ui

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-cluster: venv binaries
	$(PY) -m pytest -q -ra tests/cluster

# mypy resolves modules by folder, so it reads the sources through a kubefoundry/ view of them.
lint: venv $(NPM_STAMP)
	cd ui && npm run --silent typecheck
	$(VENV)/bin/ruff check operator api simulator tests deploy
	@mkdir -p build/typecheck/kubefoundry
	@ln -sfn $(CURDIR)/operator build/typecheck/kubefoundry/operator
	@ln -sfn $(CURDIR)/api build/typecheck/kubefoundry/api
	@ln -sfn $(CURDIR)/simulator build/typecheck/kubefoundry/simulator
	MYPYPATH=build/typecheck $(VENV)/bin/mypy -p kubefoundry.operator -p kubefoundry.api -p kubefoundry.simulator

crds: venv
	$(PY) -m kubefoundry.operator.crdgen

crds-check: venv
	$(PY) -m kubefoundry.operator.crdgen --check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ui/node_modules api/static
