#!/usr/bin/env bash
# Start the shop: migrate, seed the demo catalogue, then web + Celery worker + beat under honcho.
# Embedded default: SQLite file in var/ and a file-system broker. Set DATABASE_URL and REDIS_URL to use
# PostgreSQL and Redis instead; nothing else changes.
# This is the demo and development runner: it loads demo data, so it refuses the production profile
# (checked first, before anything touches a database). Production: docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=shop
export PORT=${PORT:-5000}
export HOST=${HOST:-127.0.0.1}
BIN=.venv/bin

PROFILE=$($BIN/python -m config) || exit 2
if [ "$PROFILE" = production ]; then
  echo "make run loads demo data and demo staff, so it does not run the production profile." >&2
  echo "Production: flask --app shop db upgrade; flask --app shop users create ... --role admin;" >&2
  echo "then run the Procfile processes under your process manager (docs/operations.md)." >&2
  exit 2
fi

mkdir -p "${DATA_DIR:-var}"
$BIN/pybabel compile -d shop/translations >/dev/null  # catalogues are built, not committed
$BIN/flask db upgrade
$BIN/flask seed
$BIN/flask users ensure-demo-staff

echo
echo "  Gangu aid shop: http://$HOST:$PORT/   (API: http://$HOST:$PORT/api/v1/openapi.json)"
echo "  demo staff passwords are printed once, when the accounts are made (above on a first start);"
echo "  forgot one? flask --app shop users create --email ... --password ... --role ...; stop with Ctrl-C"
echo
exec $BIN/honcho -f Procfile start
