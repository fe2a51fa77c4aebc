# Cuspid: `make run` serves the platform on the embedded default; `make test` runs the suite.
# Both install what they need first: uv (from PyPI, when missing), Python packages from
# uv.lock, front-end packages from package-lock.json.

SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv

UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
PY := $(UV) run --frozen --no-sync python
MANAGE := $(PY) manage.py
PROD_CHECK_ENV := DJANGO_SETTINGS_MODULE=config.settings.production \
	CUSPID_SECRET_KEY=$$(python3 -c 'import secrets; print(secrets.token_urlsafe(64))') \
	CUSPID_ALLOWED_HOSTS=cuspid.example \
	CUSPID_KEK_URI=aws-kms://arn:aws:kms:ca-central-1:000000000000:key/deploy-check

.PHONY: help install run test lint format pytest bench clean

help:
	@echo "make run    install, migrate, seed the demo and serve on http://127.0.0.1:$${CUSPID_PORT:-8000}/"
	@echo "make test   install, lint and run the whole test suite"
	@echo "make lint   ruff, mypy, import-linter, migrations and deploy checks"
	@echo "make bench  the audit chain's cost against plain inserts (SQLite; PostgreSQL too if set)"

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check uv

install: $(UV) node_modules/.package-lock.json
	$(UV) sync --frozen
	npm run --silent build

# npm ci starts from an empty node_modules; run it again only when the lock file changes.
node_modules/.package-lock.json: package-lock.json package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: install
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) migrate --noinput
	$(MANAGE) createcachetable
	$(MANAGE) seed_demo
	$(MANAGE) audit_checkpoint
	$(MANAGE) serve

lint: install
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync ruff format --check .
	$(UV) run --frozen --no-sync mypy
	$(UV) run --frozen --no-sync lint-imports
	$(MANAGE) makemigrations --check --dry-run
	$(PROD_CHECK_ENV) $(MANAGE) check --deploy --fail-level WARNING

format: install
	$(UV) run --frozen --no-sync ruff check --fix .
	$(UV) run --frozen --no-sync ruff format .

# The security-critical packages hold 100 % branch coverage (STYLE.md); the gate only tightens.
# Every app's services, policies and selectors, and the pure case rules, are held too.
GATED_APPS := cuspid/access/*,cuspid/audit/*,cuspid/accounts/*,cuspid/keys/*
GATED_ROOMS := cuspid/*/services.py,cuspid/*/policies.py,cuspid/*/selectors.py,cuspid/*/services/*.py,cuspid/*/policies/*.py,cuspid/*/selectors/*.py
GATED_RULES := cuspid/cases/workflow.py,cuspid/cases/teeth.py,cuspid/cases/manifest.py
COVERAGE_GATED := $(GATED_APPS),$(GATED_ROOMS),$(GATED_RULES)

pytest:
	$(UV) run --frozen --no-sync pytest $(PYTEST_ARGS)
	$(UV) run --frozen --no-sync coverage report --include='$(COVERAGE_GATED)' \
		--fail-under=100 --skip-covered --show-missing

# The audit chain's cost: 10,000 audit_emit calls against 10,000 plain inserts, on SQLite,
# then on PostgreSQL when CUSPID_DATABASE_URL points at one (each on a throwaway database);
# the blob store against plain copies; a 100 MB scan upload's peak server memory (the server's
# JSON log goes to stderr, left out here); the viewer's first render; the design engine's
# segmentation and crown proposals on held-out synthetic arches.
bench:
	env -u CUSPID_DATABASE_URL $(PY) bench/audit_bench.py
	env -u CUSPID_DATABASE_URL $(PY) bench/blob_bench.py
	$(PY) bench/upload_bench.py 100 2>/dev/null
	$(PY) bench/viewer_bench.py 200000 3 2>/dev/null
	$(PY) bench/design_bench.py
	$(PY) bench/crown_bench.py
	@if [ -n "$$CUSPID_DATABASE_URL" ]; then $(PY) bench/audit_bench.py; fi

test: lint
	$(MAKE) --no-print-directory pytest

clean:
	rm -rf .venv .tools node_modules static/dist .pytest_cache .mypy_cache .ruff_cache
