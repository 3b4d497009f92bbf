# e-Citizen migration assistant — every set-up step the project needs, made on demand.
#   make run    set up what is missing, then start Rasa, the action server and the bot
#   make test   set up what is missing, then lint and run the whole test suite
# Nothing is reinstalled or retrained unless its inputs changed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

APP_VENV   := .venv
RASA_VENV  := .venv-rasa
APP_PY     := $(APP_VENV)/bin/python
RASA       := $(RASA_VENV)/bin/rasa
MODEL      := nlu/models/ntsa.tar.gz
NLU_INPUTS := nlu/config.yml $(shell find nlu/domain nlu/data -name '*.yml' 2>/dev/null)
STAMPS     := .stamps

# Prints the first working interpreter of the given versions: on PATH, then in pyenv.
# (A pyenv shim may exist without that version being active, so each is tried.)
define FIND_PYTHON
find_python() { for v in "$$@"; do \
  for c in "$$(command -v python$$v)" $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v; do \
    [ -n "$$c" ] && [ -x "$$c" ] && "$$c" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$$v'.split('.')))" 2>/dev/null \
      && { echo "$$c"; return; }; \
  done; done; }; find_python
endef

export TEST_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: help run test test-fast setup lint audit format model db chat-emulator bench bench-desk browser compose-check clean

help:
	@echo "make run       — start the assistant (sets up everything on first use)"
	@echo "make test      — lint and run the whole test suite (sets up everything on first use)"
	@echo "make test-fast — lint, then unit and database tests only (no Rasa, no model training)"
	@echo "make bench     — load benchmark: 30 turns/s for 5 min, Rasa direct and the whole path (BENCH_ARGS=--help)"
	@echo "make bench-desk — measure the agents' desk at Telegram's per-group limit"

setup: $(STAMPS)/app $(STAMPS)/rasa $(MODEL)

# The app's environment: Python >= 3.11, our package and its dev tools, at the exact
# versions of constraints.txt.
$(STAMPS)/app: pyproject.toml constraints.txt
	@mkdir -p $(STAMPS)
	@test -x $(APP_PY) || { \
	  PY=$$($(FIND_PYTHON) 3.11 3.12 3.13); \
	  [ -n "$$PY" ] || { echo "Need Python 3.11 or newer (e.g. 'pyenv install 3.11' or 'apt-get install python3.11-venv')."; exit 1; }; \
	  echo "Creating $(APP_VENV) with $$PY"; "$$PY" -m venv $(APP_VENV); }
	$(APP_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(APP_PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' -c constraints.txt
	@touch $@

# Rasa's own environment: Python 3.10 only (rasa 3.6 supports nothing newer).
$(STAMPS)/rasa: nlu/requirements.txt nlu/constraints.txt
	@mkdir -p $(STAMPS)
	@test -x $(RASA_VENV)/bin/python || { \
	  PY=$$($(FIND_PYTHON) 3.10); \
	  [ -n "$$PY" ] || { \
	    echo "Rasa 3.6 needs Python 3.10, and none was found on PATH or in pyenv."; \
	    echo "Install it, then run make again: 'pyenv install 3.10' or 'apt-get install python3.10 python3.10-venv'."; exit 1; }; \
	  echo "Creating $(RASA_VENV) with $$PY"; "$$PY" -m venv $(RASA_VENV); }
	$(RASA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(RASA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r nlu/requirements.txt -c nlu/constraints.txt
	@touch $@

# The trained model: retrained only when the Rasa project changed.
$(MODEL): $(NLU_INPUTS) $(STAMPS)/rasa
	@mkdir -p var/log
	@echo "Training the Rasa model (log: var/log/train.log) …"
	@start=$$(date +%s); \
	$(RASA) train --config nlu/config.yml --domain nlu/domain --data nlu/data \
	  --out nlu/models --fixed-model-name ntsa > var/log/train.log 2>&1 \
	  || { tail -n 40 var/log/train.log; exit 1; }; \
	touch $@; echo "Model trained in $$(( $$(date +%s) - start )) s."
model: $(MODEL)

# The database schema (and the demo records when the database is empty).
db: $(STAMPS)/app
	$(APP_VENV)/bin/ntsa-assistant migrate
	$(APP_VENV)/bin/ntsa-assistant demo

run: setup db
	$(APP_PY) -m tools.stack

lint: $(STAMPS)/app
	$(APP_VENV)/bin/ruff check .
	$(APP_VENV)/bin/ruff format --check .
	$(APP_VENV)/bin/lint-imports
	$(APP_VENV)/bin/mypy

# Known vulnerabilities in both environments (pip-audit; needs its service over the network:
# says so plainly when it cannot reach it, and fails then only with AUDIT_REQUIRED=1).
audit: $(STAMPS)/app $(STAMPS)/rasa
	$(APP_PY) -m tools.audit

test: setup lint audit browser compose-check
	$(APP_VENV)/bin/pytest

# The browser tests' headless Chromium and its driver, from Debian's packages (never a
# download at test time): installed when either is missing; without root or apt, this says
# exactly what to install and fails.
BROWSER_BINARIES := /usr/bin/chromium /usr/bin/chromedriver
$(BROWSER_BINARIES) &:
	@echo "Installing Debian's chromium and chromium-driver for the browser tests …"
	@{ [ "$$(id -u)" = 0 ] && apt-get update -qq \
	   && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
	 || { echo "The browser tests need Debian's Chromium and its driver. Install them as root:"; \
	      echo "  apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver"; \
	      exit 1; }
$(STAMPS)/browser: $(BROWSER_BINARIES)
	@mkdir -p $(STAMPS)
	@for b in $^; do [ -x "$$b" ] || { echo "$$b is still missing after the install."; exit 1; }; done
	@/usr/bin/chromium --version && /usr/bin/chromedriver --version
	@touch $@
# A current axe-core (WCAG 2.2 AA rules) from the npm registry, at set-up, never at test
# time: the axe-core inside axe-selenium-python for Python 3.11 is 3.1.1 (WCAG 2.0 only).
AXE_CORE_VERSION := 4.10.3
AXE_CORE := var/axe/node_modules/axe-core/axe.min.js
$(AXE_CORE):
	@command -v npm >/dev/null || { echo "The accessibility tests need npm (Node.js) to fetch axe-core $(AXE_CORE_VERSION): apt-get install -y npm"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix var/axe axe-core@$(AXE_CORE_VERSION)
	@test -s $@
browser: $(STAMPS)/browser $(AXE_CORE)

# docker-compose.yml must stay valid (`docker-compose config`). No Docker engine is needed
# for that, only the compose client: Debian's docker-compose, installed as root when missing.
COMPOSE_CHECK_ENV := POSTGRES_PASSWORD=x ACTION_SERVER_SECRET=x RASA_AUTH_TOKEN=x \
  GATEWAY_SIGNING_SECRET=x WEB_SECRET=x TRACKER_STORE_SECRET=x WEBHOOK_URL=https://bot.example \
  WEBHOOK_SECRET=x CODE_PEPPER=x
compose-check:
	@command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && echo "Installing Debian's docker-compose for the compose check …" \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     --no-install-recommends docker-compose >/dev/null; } \
	  || { echo "Checking docker-compose.yml needs a compose client: apt-get install -y docker-compose"; exit 1; }
	@if command -v docker-compose >/dev/null; then COMPOSE=docker-compose; else COMPOSE="docker compose"; fi; \
	  env -i PATH="$$PATH" $(COMPOSE_CHECK_ENV) $$COMPOSE config --quiet \
	  && echo "docker-compose.yml: valid"

# Daily work: no Rasa environment, no model; unit and database tests (SQLite and PostgreSQL).
test-fast: lint
	$(APP_VENV)/bin/pytest tests/unit tests/db

# Load and fault benchmark (about 15 min by default: Rasa direct, then the whole path, each
# 5 min at 30 turns a second); e.g. make bench BENCH_ARGS="--replicas 2 --fault kill-replica".
# It makes its own database; figures and the latency chart go to var/bench/.
bench: setup
	$(APP_PY) -m tools.bench $(BENCH_ARGS)

# The agents' desk at Telegram's per-group limit (about 2.5 minutes; no Rasa needed).
bench-desk: $(STAMPS)/app
	$(APP_PY) -m tools.bench_desk

format: $(STAMPS)/app
	$(APP_VENV)/bin/ruff format .
	$(APP_VENV)/bin/ruff check --fix .

# A Telegram Bot API emulator for trying the bot by hand (see README).
chat-emulator: $(STAMPS)/app
	$(APP_PY) -m tests.support.telegram_emulator --port 8081

clean:
	rm -rf $(STAMPS) nlu/models var
