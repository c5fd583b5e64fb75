# The two commands of the README: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test test-fast lint lock run worker benchmarks clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	touch $(STAMP)

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py compilemessages --ignore=.venv >/dev/null 2>&1 || true
	$(BIN)/python manage.py seed_demo --if-empty
	@echo "Serving http://$(HOST):$(PORT)/  (sign in as one of the demo users above)"
	@# As production runs: jobs off the request (a worker thread on an in-memory broker, see
	@# inocd22/settings/local.py), and the site's own error pages (DEBUG off).
	DEBUG=false CELERY_WORKER_IN_PROCESS=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# Regenerate the lock after changing the dependencies in pyproject.toml.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

worker: install
	$(BIN)/celery -A inocd22 worker --loglevel=info

clean:
	rm -rf $(VENV) var/*.sqlite3 test-artifacts
