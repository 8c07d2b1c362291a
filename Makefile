# The two commands of the README:  make run   and   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The scaled-out test pass runs against these (CI's machine has both on loopback).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: install run test test-embedded test-scaled services browser lint bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --editable ".[test]"
	touch $@

# Install, then serve the embedded default: SQLite, in-memory channel layer, worker threads.
run: install
	$(BIN)/python manage.py migrate --noinput
	@echo
	@echo "  realtime_runs is starting on http://$(HOST):$(PORT)/"
	@echo "    API docs:      http://$(HOST):$(PORT)/api/docs/"
	@echo "    an API key:    $(BIN)/python manage.py create_api_key --name me"
	@echo "    a staff user:  $(BIN)/python manage.py createsuperuser  (for /runs/ and /admin/)"
	@echo
	$(BIN)/daphne --bind $(HOST) --port $(PORT) realtime_runs.asgi:application

# Install, then run the whole suite twice: on the embedded default, and scaled out on
# PostgreSQL + Redis with real Celery worker processes.
test: install services browser lint test-embedded test-scaled

test-embedded: install
	$(BIN)/pytest -m "not celery"

test-scaled: install
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) RUNS_REQUIRE_SERVICES=1 \
		$(BIN)/pytest

lint: install
	$(BIN)/ruff check .

# Start PostgreSQL and Redis where they are installed but down (CI's machine, a laptop).
services:
	@bash scripts/services.sh

# Install Debian's Chromium for tests/browser where it is missing (needs root and apt-get).
browser:
	@bash scripts/browser.sh

bench: install
	bash bench/run.sh
