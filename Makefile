# Every target installs what it needs into .venv on a fresh machine and can be re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The profile validator of `trd-fhir validate`: @medplum/core run by node (profiles/README.md).
VALIDATOR := tools/validator/node_modules/.installed

.PHONY: help install validator profiles spark test test-fast check audit fuzz demo bench bench-tools clean

help:
	@echo "make demo   start the sandbox FHIR server, load examples, evaluate, write back, show the result"
	@echo "            (make demo PORT=8095 for another port of the sandbox server)"
	@echo "make test   every test (unit, spec, golden, integration, e2e)"
	@echo "make check  ruff + mypy + pip-audit (AUDIT=0 skips the audit)"
	@echo "make fuzz   the long fuzz run of the hardening suites (about 5 minutes)"
	@echo "make bench  benchmarks"

# The first install takes a few minutes (about 80 packages; pip's cache makes later runs fast): each
# step says what it does, and pip lists each package (one line each, no progress bars, for CI logs).
$(STAMP): pyproject.toml
	@echo "[install 1/3] a virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[install 2/3] an up-to-date pip"
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "[install 3/3] trd-fhir and its test, dev and report dependencies: the first time takes a" \
	  "few minutes (pip lists each package)"
	$(BIN)/python -m pip install --progress-bar off -e ".[test,dev,report]"
	@touch $(STAMP)
	@echo "installed: $(BIN)/trd-fhir"

install: $(STAMP)

$(VALIDATOR): tools/validator/package.json tools/validator/package-lock.json
	@echo "[validator] the profile validator of trd-fhir validate (@medplum/core, npm; once)"
	npm ci --prefix tools/validator --no-audit --no-fund --loglevel=error
	@touch $(VALIDATOR)

validator: $(VALIDATOR)

# Recompile profiles/ (FHIR Shorthand -> JSON, committed) with SUSHI, offline; run by hand.
profiles: $(STAMP)
	npm ci --prefix tools/profiles --no-audit --no-fund --loglevel=error
	PYTHON=$(BIN)/python bash tools/profiles/build.sh

# The end-to-end tests drive Debian's Chromium (Playwright with executable_path; never
# `playwright install`). Installed once when missing (the machine runs as root).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "[chromium] Debian's Chromium for the end-to-end tests (apt-get; once, a few minutes)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

# `trd-fhir bulk --engine spark` (docs/spark.md) and its tests (tests/spark): the `spark` extra
# (pyspark) and Java 17 from Debian (default-jre-headless), installed once when missing.
JAVA := /usr/bin/java
$(JAVA):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless)

SPARK_STAMP := $(VENV)/.spark-installed
$(SPARK_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[spark]"
	@touch $(SPARK_STAMP)

spark: $(SPARK_STAMP) $(JAVA)

# Branch coverage is measured in this one run (not a second one) and gates it: the floor is the
# last measured figure minus one point, raised as coverage grows (DEVELOPERS.md).
COV_FLOOR ?= 89
test: $(STAMP) $(VALIDATOR) $(CHROMIUM) $(SPARK_STAMP) $(JAVA)
	$(BIN)/python -m pytest -q --cov --cov-report=term --cov-fail-under=$(COV_FLOOR)

test-fast: $(STAMP) $(VALIDATOR)
	$(BIN)/python -m pytest -q tests/unit tests/spec tests/golden

check: $(STAMP) $(SPARK_STAMP)
	$(BIN)/ruff check plugin tests
	$(BIN)/ruff format --check plugin tests
	$(BIN)/mypy
	@$(MAKE) --no-print-directory audit

# Known vulnerabilities of the installed dependencies, from PyPI's advisory data (online; not part
# of `make test`). Fails closed: a dependency it cannot audit (no network, or a package index
# without PyPI's JSON API) fails it as a vulnerability would. `make check AUDIT=0` skips it.
AUDIT ?= 1
audit: $(STAMP)
	@if [ "$(AUDIT)" = "0" ]; then echo "pip-audit: skipped (AUDIT=0)"; else \
	  $(BIN)/pip-audit --strict --skip-editable --progress-spinner off || { \
	    echo "pip-audit failed: a known vulnerability above, or dependencies it could not audit" \
	      "(PyPI unreachable); make check AUDIT=0 skips the audit" >&2; exit 1; }; fi

# The long run of the fuzz and security suites: thousands of inputs per target, random, with
# failures kept in .hypothesis/ and replayed first next time (tests/fuzz/budget.py); ~5 minutes.
fuzz: $(STAMP)
	TRDFHIR_FUZZ=fuzz $(BIN)/python -m pytest -q -m "not integration" tests/fuzz tests/security

PORT ?= 8090
demo: $(STAMP)
	$(BIN)/python examples/demo.py --port $(PORT)

# Benchmarks (bench/README.md): about 10 minutes, ~15 GB of temporary files in bench/.work.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@touch $(BENCH_STAMP)

# wrk (Debian's package): the light load generator of the `serve --workers` scaling figure
bench-tools:
	@command -v wrk >/dev/null || apt-get install -y wrk || sudo apt-get install -y wrk \
		|| echo "bench: wrk not installed; the workers scaling is reported as not measured"

bench: $(BENCH_STAMP) bench-tools $(SPARK_STAMP) $(JAVA)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/validator/node_modules tools/profiles/node_modules
