#!/usr/bin/env bash
# Start the shop: migrate, seed the demo catalogue, then web + Celery worker + beat under honcho.
# Embedded default: SQLite file in var/ and a file-system broker. Set DATABASE_URL and REDIS_URL to use
# PostgreSQL and Redis instead; nothing else changes.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLASK_APP=shop
export PORT=${PORT:-5000}
export HOST=${HOST:-127.0.0.1}
BIN=.venv/bin

mkdir -p "${DATA_DIR:-var}"
$BIN/pybabel compile -d shop/translations >/dev/null  # catalogues are built, not committed
$BIN/flask db upgrade
$BIN/flask seed
$BIN/flask users ensure-demo-staff

echo
echo "  Gangu aid shop: http://$HOST:$PORT/   (API: http://$HOST:$PORT/api/v1/openapi.json)"
echo "  demo staff logins are listed above; stop with Ctrl-C"
echo
exec $BIN/honcho -f Procfile start
