# The two commands a new user needs:  make run   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint fmt translations clean bench soak

$(BIN)/activate:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

MO := shop/translations/zh/LC_MESSAGES/messages.mo
$(MO): shop/translations/zh/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d shop/translations

setup: $(VENV)/.installed $(MO) ## create the virtual environment, install the shop, compile its translations

run: setup ## set up and start web + worker + beat on the embedded default (or DATABASE_URL/REDIS_URL)
	@bash scripts/run.sh

test: setup ## start PostgreSQL and Redis if needed, make a throwaway database, lint, run every test
	@bash scripts/test.sh

bench: setup ## measure every scenario against its baseline in one run (see docs/benchmarks.md)
	@bash bench/run.sh $(BENCH_ARGS)

MINUTES ?= 30
soak: setup ## the mixed load at half its peak for MINUTES (30): errors, p99 and memory over time
	@bash bench/run.sh --only soak --minutes $(MINUTES)

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports --no-cache --no-logo

fmt: setup
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

translations: setup ## re-extract messages and compile catalogues
	$(BIN)/pybabel extract -F babel.cfg -k _l -o shop/translations/messages.pot .
	$(BIN)/pybabel update -i shop/translations/messages.pot -d shop/translations --no-fuzzy-matching
	$(BIN)/pybabel compile -d shop/translations

clean:
	rm -rf $(VENV) var
