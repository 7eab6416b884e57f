# Every target bootstraps what it needs into .venv, so a bare machine with python3 and go works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help dev generate check-generate update-kube-openapi binaries test unit lint types demo bench soak mutate clean

help:
	@echo "make test                 - the whole suite (lint, types, generate-check, tests) via tox"
	@echo "make demo                 - the operator on an embedded control plane, end to end"
	@echo "make generate             - schema/ -> generated/ and the chart's CRD"
	@echo "make update-kube-openapi  - refresh schema/kubernetes from the pinned kube-apiserver"
	@echo "make binaries             - build (once) etcd, kube-apiserver, kube-controller-manager, helm"
	@echo "make bench                - print start-up and reconcile latency/throughput figures"
	@echo "make soak                 - the API server down 10 minutes under a running operator (not in CI)"
	@echo "make mutate               - mutation testing of the pure reconcile core (not in CI)"

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# One pip call, so the testbed's requirement on reactivejob-operator (and the operator's dev
# extra on reactivejob-testbed) resolve to these checkouts, never to a registry.
$(VENV)/.installed: pyproject.toml testbed/pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./testbed -e ".[dev]"
	touch $@

dev: $(VENV)/.installed

# What the demo runs, without the tools of development (linters, generators, tox).
$(VENV)/.installed-run: pyproject.toml testbed/pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./testbed -e .
	touch $@

generate: dev
	$(BIN)/python -m codegen

check-generate: dev
	$(BIN)/python -m codegen --check

update-kube-openapi: dev
	$(BIN)/python -m codegen.kube_openapi
	$(BIN)/python -m codegen

# Built once and cached (~12 min on a bare 2-core machine, seconds afterwards): the control
# plane, helm for the chart tests, kubectl for the kubectl tests, controller-gen for the CRD
# equivalence test, promtool for the alert tests.
binaries: dev
	$(BIN)/reactivejob-controlplane build --with helm --with kubectl --with argocd-health --with node --with kueue
	tests/crd_reference/generate.sh "$$(mktemp -d)" > /dev/null
	$(BIN)/python -m tests.integration.test_observability > /dev/null

TOX_ENVS = lint,types,generate-check,tests

test: dev binaries .tox/.requirements
	$(BIN)/tox run -e $(TOX_ENVS)

# tox cannot see a dependency change in pyproject.toml (its deps line names the checkout, which
# stays the same): rebuild its environments when the requirement files are newer.
.tox/.requirements: pyproject.toml testbed/pyproject.toml tox.ini
	$(BIN)/tox run --recreate --notest -e $(TOX_ENVS)
	touch $@

unit: dev
	$(BIN)/pytest tests/unit

lint: dev
	$(BIN)/ruff check reactivejob reactivejob_cli typedkube codegen testbed tests benchmarks
	$(BIN)/ruff format --check reactivejob reactivejob_cli typedkube codegen testbed tests benchmarks

types: dev
	$(BIN)/mypy

# Only what the demo runs: etcd, kube-apiserver and kube-controller-manager.
demo: $(VENV)/.installed-run
	$(BIN)/reactivejob-controlplane build
	$(BIN)/reactivejob-demo

bench: dev binaries
	$(BIN)/python benchmarks/reconcile.py --count 1000 --memory
	$(BIN)/python benchmarks/secret_memory.py --secrets 600 --kib 900

soak: dev binaries
	$(BIN)/python benchmarks/soak.py --minutes 10

# Mutants of every module of reactivejob/core/ against tests/unit (pyproject's [tool.mutmut]);
# a survivor is a behaviour no unit test pins down.
mutate: dev
	$(BIN)/pip install --quiet -e ./testbed -e ".[dev,mutate]"
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2 || true
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .tox .mypy_cache .ruff_cache .pytest_cache mutants
