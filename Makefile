# Every target does its own set-up: a fresh clone needs only Python 3.11+, Java 17 and Maven.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lint typecheck test unit bench demo clean testbed-up testbed-down cluster-test tools-prometheus tools-helm

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/ruff format --check services tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The whole suite, integration tests included (real simulator, real Kafka broker).
test: lint typecheck
	$(PY) -m lobstream.devtools.localkafka fetch
	$(PY) -m pytest

# Pure-logic tests only: no broker, no sockets.
unit: $(STAMP)
	$(PY) -m pytest -m 'not integration'

bench: $(STAMP)
	$(PY) -m lobstream.devtools.localkafka fetch
	$(PY) benchmarks/run.py

demo: $(STAMP)
	$(PY) -m lobstream.devtools.localkafka fetch
	$(VENV)/bin/lobstream demo $(DEMO_ARGS)

# Prometheus, promtool and kcat from Debian (root; idempotent) for the observability tests.
tools-prometheus:
	sh tests/tools/install-prometheus.sh

# helm v3.22.0, built with Go and cached in ~/.cache/lobstream/bin (tests/chart need it).
tools-helm:
	sh tests/tools/install-helm.sh

# A real single-node Kubernetes inside its own network namespace (root; docs/testbed.md).
testbed-up:
	k8s/testbed/up

testbed-down:
	k8s/testbed/down

# The image and the chart on that cluster; brings it up (and down again) unless it is up.
cluster-test: $(STAMP)
	$(PY) -m pytest -m cluster tests/cluster

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
