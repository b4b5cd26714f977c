# Every target installs what it needs into .venv on a fresh machine and can be re-run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The profile validator of `trd-fhir validate`: @medplum/core run by node (profiles/README.md).
VALIDATOR := tools/validator/node_modules/.installed

.PHONY: help install validator profiles spark test test-fast check audit fuzz demo bench clean

help:
	@echo "make demo   start the sandbox FHIR server, load examples, evaluate, write back, show the result"
	@echo "make test   every test (unit, spec, golden, integration, e2e)"
	@echo "make check  ruff + mypy + pip-audit (AUDIT=0 skips the audit)"
	@echo "make fuzz   the long fuzz run of the hardening suites (about 5 minutes)"
	@echo "make bench  benchmarks"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	@touch $(STAMP)

install: $(STAMP)

$(VALIDATOR): tools/validator/package.json tools/validator/package-lock.json
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

test: $(STAMP) $(VALIDATOR) $(CHROMIUM) $(SPARK_STAMP) $(JAVA)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) $(VALIDATOR)
	$(BIN)/python -m pytest -q tests/unit tests/spec tests/golden

check: $(STAMP)
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

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# Benchmarks (bench/README.md): about 10 minutes, ~15 GB of temporary files in bench/.work.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) $(SPARK_STAMP) $(JAVA)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/validator/node_modules tools/profiles/node_modules
