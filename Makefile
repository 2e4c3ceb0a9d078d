# The two commands: `make run` (the whole tool on one server) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= db
WEB_BIND ?= 127.0.0.1:8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# `make run` always uses the real queue, and keeps a generated secret key under DATA_DIR.
RUN_ENV = PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DATA_DIR="$(DATA_DIR)" WEB_BIND="$(WEB_BIND)" HUEY_IMMEDIATE=0 \
	DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(DATA_DIR)/secret_key)}"

.PHONY: run manage dev test fuzz soak bench stress lint check install install-dev system-deps clean

run: install $(DATA_DIR)/secret_key
	@echo "Preparing the database and static files in $(DATA_DIR)/ ..."
	@$(RUN_ENV) $(PY) manage.py migrate --noinput -v 0
	@$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v 0
	@echo
	@echo "  Task tracker: http://$(WEB_BIND)/   (admin: http://$(WEB_BIND)/admin/, API docs: http://$(WEB_BIND)/api/docs/)"
	@$(RUN_ENV) $(PY) manage.py ensure_admin
	@echo "  The web server and the Huey consumers start now; Ctrl-C stops them."
	@echo
	@$(RUN_ENV) $(VENV)/bin/honcho start

# Any management command with the tool's own settings and data: make manage ARGS="changepassword admin"
manage: install $(DATA_DIR)/secret_key
	@$(RUN_ENV) $(PY) manage.py $(ARGS)

$(DATA_DIR)/secret_key:
	@mkdir -p $(DATA_DIR)
	@$(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

# Development server with Huey's immediate mode: jobs run inline, no consumer needed.
dev: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(WEB_BIND)

# The suite on SQLite, then again on a throw-away PostgreSQL server: every unit test and the
# integration tests marked `postgres` (tests/conftest.py).
test: install-dev system-deps lint check
	$(PY) -m pytest
	$(PY) -m tests.postgres_server -- $(PY) -m pytest -p no:cacheprovider

# Schemathesis on every API operation with far more examples than in `make test`, a new seed each run.
FUZZ_EXAMPLES ?= 300
fuzz: install-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_api_fuzz.py -p no:cacheprovider

# Not part of `make test`: minutes of work that print figures, and the slow variants of tests.
soak: install-dev
	RUN_SOAK=1 $(PY) -m pytest -m soak -p no:cacheprovider
	$(PY) bench/kill_soak.py

bench: install-dev
	$(PY) bench/stock_vs_leased.py
	$(PY) bench/job_history_overhead.py
	$(PY) bench/lanes.py
	$(PY) bench/sqlite_sync_modes.py
	$(PY) bench/unique_and_ledger.py
	$(PY) bench/paused_runs.py
	$(PY) bench/fair_turns.py
	$(PY) bench/metrics_scrape.py
	$(PY) bench/flood.py
	$(PY) bench/page_cost.py
	$(PY) bench/team_minute.py
	$(PY) -m tests.postgres_server -- $(PY) bench/team_minute.py
	$(PY) bench/interference.py
	$(PY) -m tests.postgres_server -- $(PY) bench/interference.py --workspaces 0

# 16 API clients for 60 s against gunicorn (4 workers) and run_huey, on SQLite, then on PostgreSQL.
stress: install-dev
	$(PY) bench/stress.py --clients 16 --seconds 60
	$(PY) -m tests.postgres_server -- $(PY) bench/stress.py --clients 16 --seconds 60

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: install-dev
	DJANGO_DEBUG=1 $(PY) manage.py check
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=1 $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used);
# the scale-out tests run the queue on a local redis-server and the whole suite again on a
# throw-away PostgreSQL cluster (tests/postgres_server.py); the deploy kit's test validates
# its units with systemd-analyze and its Caddyfile with caddy (offline, no daemon needed).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v caddy >/dev/null || missing="$$missing caddy"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing="$$missing fonts-wqy-microhei"; \
	[ -f /usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf ] || missing="$$missing fonts-symbola"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; fi

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache .hypothesis test-artifacts
