#!/usr/bin/env bash
# The whole test suite against real PostgreSQL and Redis. Called by `make test` (and so by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
bash scripts/replica.sh  # a streaming replica on :5433, for the tests of reports read from a replica
bash scripts/browser.sh

export TEST_PG_ADMIN_URL=${TEST_PG_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
export TEST_PG_REPLICA_URL=${TEST_PG_REPLICA_URL:-postgresql://postgres@127.0.0.1:${TEST_PG_REPLICA_PORT:-5433}/postgres}

.venv/bin/pybabel compile -d shop/translations >/dev/null  # catalogues are built, not committed

echo "[test] lint (ruff, import contracts)"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --check .; exit 1; }
# Which way the domains may depend: the contracts in pyproject.toml (docs/architecture.md).
.venv/bin/lint-imports --no-cache --no-logo >/dev/null || { .venv/bin/lint-imports --no-cache --no-logo; exit 1; }

echo "[test] pytest"
# Each pytest worker creates its own throwaway database (shop_test_<run>_<worker>) and drops it after.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-3}" --dist loadfile "$@"
