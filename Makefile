# Castle. Every target creates (or reuses) .venv itself.
#   make up     the local cloud in the foreground (Ctrl-C stops it)
#   make deploy-local  redeploy template.yaml into the running local cloud (its data stays)
#   make reset  wipe the local cloud's data (.castle/data); asks first, FORCE=1 does not
#   make test   ruff, pytest, sam validate --lint, sam build
#   make bench  the benchmarks
#   make image  build (and push to ECR) the matching engine image
#   make lint   ruff
#   make engine compile the matching engine's hot path (Cython) into build/engine (every target does)
#   make clean  build outputs and caches, not .castle/data (make distclean also drops .venv)

SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help venv engine toolchain redis up deploy-local reset test pytest sam lint bench image clean distclean

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-dev.stamp

# .venv first, so that `python3.12` (which sam build looks for) is ours.
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
# The tests and sam never need real AWS: moto and the local cloud stand in.
DUMMY_AWS := AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN= AWS_DEFAULT_REGION=us-east-1
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The first Python 3.12 on PATH, else from pyenv.
FIND_PYTHON312 := for p in "$$(command -v python3.12)" $$HOME/.pyenv/versions/3.12*/bin/python3.12; do \
	[ -x "$$p" ] && "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && { echo "$$p"; break; }; \
	done; true

help:
	@sed -n '2,11p' Makefile | sed 's/^# *//'

$(BIN)/python:
	@py=$$($(FIND_PYTHON312)); \
	if [ -z "$$py" ]; then echo "error: Python 3.12 not found (put python3.12 on PATH, or: pyenv install 3.12)"; exit 1; fi; \
	echo "creating .venv with $$py"; "$$py" -m venv $(VENV)

# Reinstall only when the pins change. The project itself goes in editable, for the `castle` command.
$(STAMP): requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

venv: $(STAMP) engine

# The matching engine's hot path, compiled with Cython out of tree (matching_container/build_engine.py;
# it skips the work when build/engine already matches the sources). The engine process and the
# benchmark use it when present; Lambda never does (build/ is not in the layer).
engine: $(STAMP) toolchain
	@$(BIN)/python -m matching_container.build_engine

# A C compiler and Python's headers, for the engine build.
toolchain: $(STAMP)
	@command -v gcc >/dev/null || { \
		echo "gcc not found: installing it with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq gcc libc6-dev >/dev/null; }
	@$(BIN)/python -c 'import os, sysconfig, sys; sys.exit(not os.path.isfile(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' || { \
		echo "Python.h not found: installing python3.12-dev with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3.12-dev >/dev/null; }

redis:
	@command -v redis-server >/dev/null || { \
		echo "redis-server not found: installing it with apt-get"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

up: venv
	@[ -n "$$REDIS_URL" ] || $(MAKE) --no-print-directory redis
	@$(BIN)/python -m local.up

deploy-local: venv
	@$(BIN)/python -m local.deploy

FORCE ?= 0
reset: venv
	@if [ "$(FORCE)" != 1 ]; then \
		read -r -p "wipe .castle/data: every account, API key, balance, order and trade of the local cloud? [y/N] " answer; \
		[ "$$answer" = y ] || [ "$$answer" = Y ] || { echo "nothing wiped"; exit 1; }; fi
	@$(BIN)/python -m local.reset

test: lint pytest sam

# Everything on the pure Python engine (as Lambda runs it), then the engine's own tests again on
# the compiled one (CASTLE_TEST_ENGINE=cython; tests/conftest.py picks it before castle is imported).
ENGINE_TESTS := $(wildcard tests/unit/test_engine_*.py) tests/unit/test_properties.py tests/unit/test_snapshot.py \
	tests/unit/test_symbol_filters.py tests/unit/test_trading_service.py tests/unit/test_settlement_flow.py \
	tests/unit/test_shard_runner.py tests/unit/test_s3_snapshots.py

pytest: venv redis
	$(DUMMY_AWS) CASTLE_REQUIRE_COMPILED=1 $(BIN)/python -m pytest
	$(DUMMY_AWS) CASTLE_REQUIRE_COMPILED=1 CASTLE_TEST_ENGINE=cython $(BIN)/python -m pytest $(ENGINE_TESTS)

sam: venv
	$(DUMMY_AWS) sam validate --lint
	$(DUMMY_AWS) sam build

lint: venv
	$(BIN)/ruff check .

bench: venv
	PYTHONPATH=$(ROOT)/layers/core:$(ROOT) $(BIN)/python -m benchmarks

# The image goes to $(REGISTRY)/$(IMAGE_REPO):$(IMAGE_TAG); REGISTRY defaults to this
# account's ECR in AWS_REGION (created if missing). PUSH=0 only builds.
IMAGE_REPO ?= castle-matching
IMAGE_TAG ?= latest
AWS_REGION ?= $(or $(AWS_DEFAULT_REGION),us-east-1)
REGISTRY ?=
PUSH ?= 1

image:
	@if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then \
		echo "make image: docker has no engine on this machine, so no image was built."; \
		echo "  Elsewhere: docker build -f matching_container/Dockerfile -t $(IMAGE_REPO):$(IMAGE_TAG) ."; \
		exit 1; fi
	docker build -f matching_container/Dockerfile -t $(IMAGE_REPO):$(IMAGE_TAG) .
	@if [ "$(PUSH)" = 0 ]; then echo "built $(IMAGE_REPO):$(IMAGE_TAG) (PUSH=0: not pushed)"; exit 0; fi; \
	set -euo pipefail; registry="$(REGISTRY)"; \
	if [ -z "$$registry" ]; then \
		account=$$(aws sts get-caller-identity --query Account --output text); \
		registry=$$account.dkr.ecr.$(AWS_REGION).amazonaws.com; \
		aws ecr describe-repositories --region $(AWS_REGION) --repository-names $(IMAGE_REPO) >/dev/null 2>&1 \
			|| aws ecr create-repository --region $(AWS_REGION) --repository-name $(IMAGE_REPO) >/dev/null; \
		aws ecr get-login-password --region $(AWS_REGION) | docker login --username AWS --password-stdin $$registry; \
	fi; \
	docker tag $(IMAGE_REPO):$(IMAGE_TAG) $$registry/$(IMAGE_REPO):$(IMAGE_TAG); \
	docker push $$registry/$(IMAGE_REPO):$(IMAGE_TAG); \
	echo "pushed $$registry/$(IMAGE_REPO):$(IMAGE_TAG) (template parameter MatchingImageUri)"

# .castle/data (what the local cloud holds) stays: `make reset` is the one way to wipe it.
clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache .hypothesis build
	[ ! -d .castle ] || find .castle -mindepth 1 -maxdepth 1 ! -name data -exec rm -rf {} +
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .venv-ministack
