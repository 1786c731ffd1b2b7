# hdr-gateway-ingest — every task a contributor or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# checkov lives in its own venv: its dependencies clash with the pinned test stack (boto3, packaging).
SCAN_VENV ?= .venv-scan
# pip-audit lives in its own venv too (its packaging/rich/CacheControl pins are not the test stack's).
AUDIT_VENV ?= .venv-audit
# CI (and anyone with the shared reference folder beside the checkout) copies the pinned schema pack
# from this mirror; without it `make schemas` downloads the pinned HDRUK/schemata commit.
HDRUK_SCHEMATA_DIR ?= $(wildcard $(CURDIR)/../shared/hdruk/schemata)
export HDRUK_SCHEMATA_DIR
# UNIS's JSON Schemas (periscope-ps/unis), copied from this mirror when present, else downloaded (sha256-checked).
UNIS_SCHEMAS_DIR ?= $(wildcard $(CURDIR)/../shared/destinations/unis)
export UNIS_SCHEMAS_DIR
# The Gateway emulator judges with TRASER's own validator (Ajv + ajv-formats, pinned in package-lock.json) through Node.
TRASER_NODE := local_stack/gateway_emulator/traser_node

.PHONY: help setup schemas test test-unit test-integration test-e2e test-infra lint run build clean lock bench
.PHONY: scan
.PHONY: audit

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

setup: $(VENV)/.installed $(TRASER_NODE)/node_modules/.installed ## .venv with the pinned dependencies; the emulator's npm packages

$(TRASER_NODE)/node_modules/.installed: $(TRASER_NODE)/package.json $(TRASER_NODE)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js >= 18 and npm are needed: the Gateway emulator runs TRASER's Ajv"; exit 1; }
	cd $(TRASER_NODE) && npm ci --no-audit --no-fund
	touch $@

$(VENV)/.installed: requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

schemas: setup ## fill the schema packs: HDRUK/schemata and UNIS's schemas at pinned commits (sha256-checked)
	$(PY) scripts/schema_pack.py fetch
	$(PY) scripts/unis_schemas.py fetch

lint: setup ## ruff, mypy and cfn-lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml
	$(MAKE) --no-print-directory scan

scan: $(SCAN_VENV)/.installed ## checkov on template.yaml: no failed checks (suppressions are justified inline)
	$(SCAN_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

$(SCAN_VENV)/.installed: requirements/scan.txt
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet -r requirements/scan.txt
	touch $@

audit: $(AUDIT_VENV)/.installed ## pip-audit on requirements/lock.txt; "not audited: <why>" (exit 2) if no advisory source answered
	$(AUDIT_VENV)/bin/python scripts/dependency_audit.py requirements/lock.txt --pip-audit $(AUDIT_VENV)/bin/pip-audit

$(AUDIT_VENV)/.installed: requirements/audit.txt
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AUDIT_VENV)/bin/python -m pip install --quiet -r requirements/audit.txt
	touch $@

test: setup schemas lint ## the whole suite: lint, unit, integration, end-to-end, infrastructure
	$(PY) -m pytest

test-unit: setup schemas ## unit tests only
	$(PY) -m pytest -m unit

test-integration: setup schemas ## integration tests only: moto and the Gateway emulator over HTTP
	$(PY) -m pytest -m integration

test-e2e: setup schemas ## end-to-end tests on the local stack (includes the 3.5-minute fault-injection run)
	$(PY) -m pytest -m e2e

test-infra: setup ## template.yaml assertions
	$(PY) -m pytest -m infra

run: setup schemas ## the whole pipeline locally: moto server, an emulator of each catalogue, sample drops
	$(PY) -m local_stack $(ARGS)

bench: setup schemas ## performance figures next to their targets (about 4-7 min here, as README "Performance"; ARGS=--quick: about 3 min)
	$(PY) -m scripts.bench $(ARGS)

build: schemas ## sam build (needs the AWS SAM CLI and python3.12 on PATH)
	sam build

lock: ## re-pin requirements/lock.txt from requirements/dev.txt in a scratch venv
	rm -rf /tmp/hgi-lock && $(PYTHON) -m venv /tmp/hgi-lock
	/tmp/hgi-lock/bin/pip install --quiet -r requirements/dev.txt
	/tmp/hgi-lock/bin/pip freeze > requirements/lock.txt

clean: ## remove the venvs, the emulator's npm packages, the schema packs, .aws-sam and the tool caches
	rm -rf $(VENV) .aws-sam layers/shared/hdr_ingest/destinations/hdruk/schemata layers/shared/hdr_ingest/destinations/unis/schemas
	rm -rf .pytest_cache .mypy_cache .ruff_cache
	rm -rf $(SCAN_VENV)
	rm -rf $(AUDIT_VENV)
	rm -rf $(TRASER_NODE)/node_modules
