#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer; start (or install) them if not.
# Fails loudly: the test suite never skips because a service is missing.
set -uo pipefail

PGHOST_=${TEST_PGHOST:-127.0.0.1}
PGPORT_=${TEST_PGPORT:-5432}
REDIS_HOST_=${TEST_REDIS_HOST:-127.0.0.1}
REDIS_PORT_=${TEST_REDIS_PORT:-6379}

say() { echo "[services] $*" >&2; }
die() { echo "[services] ERROR: $*" >&2; exit 1; }

pg_up() { pg_isready -q -h "$PGHOST_" -p "$PGPORT_" 2>/dev/null; }
redis_up() {
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h "$REDIS_HOST_" -p "$REDIS_PORT_" ping 2>/dev/null)" = "PONG" ]
  else
    (exec 3<>/dev/tcp/"$REDIS_HOST_"/"$REDIS_PORT_") 2>/dev/null
  fi
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    die "$1 is not installed and cannot be installed here (need root and apt-get). Install it, or start it on ${2}."
  fi
  say "installing $1 with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null || die "apt-get install $1 failed"
}

start_pg() {
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql "$PGHOST_:$PGPORT_"
  fi
  local ver
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  # Local test clusters use trust auth on loopback, as this machine kind ships them.
  local hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if [ -w "$hba" ] && ! grep -q "shop-test-trust" "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust # shop-test-trust\nhost all all ::1/128 trust # shop-test-trust' "$hba"
  fi
  say "starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>/dev/null || pg_ctlcluster "$ver" main start || true
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server "$REDIS_HOST_:$REDIS_PORT_"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  say "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT_" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || \
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT_" --save "" --appendonly no >/dev/null
}

wait_for() {  # name check-function
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  die "$1 did not come up"
}

# Some sandboxes ship /dev/null as a plain file; PostgreSQL's tools (run as the postgres user) need the device.
if [ ! -c /dev/null ] && [ "$(id -u)" = 0 ]; then
  say "/dev/null is not a character device; recreating it"
  rm -f /dev/null && mknod -m 666 /dev/null c 1 3
fi

pg_up || { start_pg; wait_for PostgreSQL pg_up; }
redis_up || { start_redis; wait_for Redis redis_up; }
say "PostgreSQL on $PGHOST_:$PGPORT_ and Redis on $REDIS_HOST_:$REDIS_PORT_ are up"
