#!/usr/bin/env bash
# make bench: set up its own PostgreSQL database and Redis db, then run every scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench needs wrk (Debian package 'wrk')" >&2; exit 1
  fi
fi
DB=${BENCH_DB:-shop_bench}
psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" postgres
export BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$DB
export BENCH_REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/14}
redis-cli -u "$BENCH_REDIS_URL" flushdb >/dev/null
SHOP_PROFILE=test DATABASE_URL=$BENCH_DATABASE_URL REDIS_URL=$BENCH_REDIS_URL .venv/bin/flask --app shop db upgrade
exec .venv/bin/python bench/bench.py "$@"
