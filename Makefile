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

.PHONY: dev test test-unit test-cluster lint crds crds-check binaries cluster cluster-down cluster-nodes kubeconfig venv bench clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

binaries:
	bash deploy/local/build-binaries.sh

cluster: venv
	bash $(CLUSTER) up

cluster-down:
	bash $(CLUSTER) down

cluster-nodes: venv
	bash $(CLUSTER) nodes

kubeconfig:
	@bash $(CLUSTER) kubeconfig

dev: venv binaries
	bash deploy/local/dev.sh

test: venv binaries
	$(PY) -m pytest -q -ra

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-cluster: venv binaries
	$(PY) -m pytest -q -ra tests/cluster

# mypy resolves modules by folder, so it reads the sources through a kubefoundry/ view of them.
lint: venv
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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
