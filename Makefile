# The two Quick-start commands are `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports pytest bench bench-sweep bench-geocode bench-intake bench-web browser clean

$(STAMP): pyproject.toml package.json package-lock.json
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cityloop needs Python 3.11 or newer")'
	@bash scripts/ensure-npm.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,open311-clients]'
	@# htmx, Leaflet and ECharts from the npm registry, pinned by package-lock.json, served by cityloop itself.
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(BIN)/python -m cityloop.web.vendor node_modules
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cityloop demo

test: lint typecheck imports browser pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	@# Services never commit and nothing uses backref (architecture.md §3): only entrypoints may commit.
	@! grep -rn --include='*.py' -E '\.commit\(' src/cityloop | grep -v -E '/(\w*routes|cli|main|deps)\.py:|/cli/\w+\.py:|/web/pages/\w+\.py:|/db/session\.py:' \
		|| (echo 'commit() outside an entrypoint (see architecture.md §3)'; exit 1)
	@! grep -rn --include='*.py' 'backref=' src/cityloop || (echo 'use back_populates, not backref'; exit 1)

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# Debian's Chromium (and a Chinese font) for tests/browser: installed when root, else explained (tests skip).
browser:
	bash scripts/ensure-browser.sh

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_reports.py

bench-sweep: $(STAMP)
	$(BIN)/python bench/bench_sweep.py

bench-geocode: $(STAMP)
	$(BIN)/python bench/bench_geocode.py

bench-intake: $(STAMP)
	$(BIN)/python bench/bench_intake.py

bench-web: $(STAMP)
	$(BIN)/python bench/bench_web.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
