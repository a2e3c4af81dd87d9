# Every target does its own set-up. A fresh clone needs Python 3.11+, Java 17, Maven and Go; the
# test targets also install Debian packages (prometheus, kcat; the test bed's docker.io, containerd,
# etcd-server, debootstrap) and so run as root.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lint typecheck test test-fast unit bench demo clean tools testbed-up testbed-down cluster-test tools-prometheus tools-helm

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check services tests benchmarks charts/tools
	$(VENV)/bin/ruff format --check services tests benchmarks charts/tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# What the tests run besides Python: Kafka's jars, helm, Prometheus/promtool/kcat (all cached).
tools: $(STAMP) tools-prometheus tools-helm
	$(PY) -m lobstream.devtools.localkafka fetch

# The whole suite: lint, types, unit, integration (real simulator, Kafka broker, Prometheus),
# the chart's static checks, then the image and the chart on a real Kubernetes (cluster-test).
test: lint typecheck tools
	$(PY) -m pytest -m 'not cluster'
	$(MAKE) cluster-test

# The same without the live cluster: the quick loop while working.
test-fast: lint typecheck tools
	$(PY) -m pytest -m 'not cluster'

# Pure-logic tests only: no broker, no sockets (promtool, helm and the CRD generator
# k8s/testbed/crds.sh run as plain commands, all cached).
unit: $(STAMP) tools-prometheus tools-helm
	$(PY) -m pytest -m 'not integration and not cluster'

bench: $(STAMP)
	$(PY) -m lobstream.devtools.localkafka fetch
	$(PY) benchmarks/run.py $(BENCH_ARGS)

demo: $(STAMP)
	$(PY) -m lobstream.devtools.localkafka fetch
	$(VENV)/bin/lobstream demo $(DEMO_ARGS)

# Prometheus, promtool and kcat from Debian (root; idempotent) for the observability tests.
tools-prometheus:
	sh tests/tools/install-prometheus.sh

# helm v3.22.0, built with Go and cached as ~/.cache/lobstream/bin/helm-v3.22.0 (tests/chart need it).
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
