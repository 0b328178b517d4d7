#!/usr/bin/env bash
# Make sure a streaming replica (hot standby) of the local test cluster answers on 127.0.0.1:5433.
#
# The tests that prove reports read from a replica (DATABASE_REPLICA_URL) need a real one. This makes it
# from the cluster scripts/services.sh runs (PostgreSQL from the Debian packages, run by the user postgres,
# trust auth on loopback): pg_basebackup -R into a data directory of its own, started with pg_ctl as
# postgres on another port. Idempotent: a replica that already streams costs two quick queries; one that
# was stopped is started; one that cannot stream any more (its WAL is gone, the primary was recreated)
# is made again. Fails loudly: the test suite never skips because the replica is missing.
set -uo pipefail

PGHOST_=${TEST_PGHOST:-127.0.0.1}
PGPORT_=${TEST_PGPORT:-5432}
RPORT=${TEST_PG_REPLICA_PORT:-5433}

say() { echo "[replica] $*" >&2; }
die() { echo "[replica] ERROR: $*" >&2; exit 1; }

command -v pg_isready >/dev/null || die "PostgreSQL client tools are missing (run scripts/services.sh first)"
VER=${TEST_PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)}
[ -n "$VER" ] || die "no PostgreSQL cluster under /etc/postgresql (run scripts/services.sh first)"
BIN=/usr/lib/postgresql/$VER/bin
[ -x "$BIN/pg_ctl" ] || die "$BIN/pg_ctl not found"
DIR=${TEST_PG_REPLICA_DIR:-/var/lib/postgresql/$VER/shop-test-replica}
LOG=$DIR.log
HBA=/etc/postgresql/$VER/main/pg_hba.conf

as_pg() {  # run a command as the postgres user (the owner of the data directory)
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}
[ "$(id -un)" = postgres ] || [ "$(id -u)" = 0 ] || die "run as root or as postgres (the replica's data belongs to postgres)"

primary() { psql -X -q -At -h "$PGHOST_" -p "$PGPORT_" -U postgres -d postgres "$@" 2>&1; }
replica() { psql -X -q -At -h 127.0.0.1 -p "$RPORT" -U postgres -d postgres "$@" 2>&1; }

# One script at a time: two test runs starting together must not both build the replica.
exec 9>"/tmp/shop-test-replica-$RPORT.lock"
flock -w 600 9 || die "another scripts/replica.sh has held the lock for 10 minutes"

pg_isready -q -h "$PGHOST_" -p "$PGPORT_" || die "the primary $PGHOST_:$PGPORT_ does not answer (run scripts/services.sh)"
PRIMARY_ID=$(primary -c "SELECT system_identifier FROM pg_control_system()") || die "cannot query the primary: $PRIMARY_ID"

healthy() {  # a standby of this primary, receiving WAL; a replay a killed test left paused is resumed
  pg_isready -q -h 127.0.0.1 -p "$RPORT" || return 1
  local row
  row=$(replica -F' ' -c "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system()),
          coalesce((SELECT status FROM pg_stat_wal_receiver), 'none'), pg_is_wal_replay_paused()") || return 1
  set -- $row
  [ "${1:-}" = t ] && [ "${2:-}" = "$PRIMARY_ID" ] && [ "${3:-}" = streaming ] || return 1
  if [ "${4:-}" = t ]; then
    say "replay was left paused; resuming it"
    replica -c "SELECT pg_wal_replay_resume()" >/dev/null || return 1
  fi
}

wait_streaming() {  # seconds
  for _ in $(seq 1 $(($1 * 2))); do healthy && return 0; sleep 0.5; done
  return 1
}

stop_replica() {
  [ -f "$DIR/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DIR" -m immediate -w stop >/dev/null 2>&1
  return 0
}

if healthy; then
  say "streaming replica of $PGHOST_:$PGPORT_ is up on 127.0.0.1:$RPORT"
  exit 0
fi

if pg_isready -q -h 127.0.0.1 -p "$RPORT" && [ ! -f "$DIR/postmaster.pid" ]; then
  die "something else answers on 127.0.0.1:$RPORT (not the replica in $DIR); stop it or set TEST_PG_REPLICA_PORT"
fi

# The primary must accept replication connections from loopback and keep enough WAL detail for a standby.
check_primary() {
  local level senders
  level=$(primary -c "SHOW wal_level") || die "cannot query the primary: $level"
  senders=$(primary -c "SHOW max_wal_senders")
  [ "$level" != minimal ] || die "the primary has wal_level=minimal; set wal_level=replica and restart it"
  [ "${senders:-0}" -gt 0 ] || die "the primary has max_wal_senders=0; set it to 10 and restart it"
  if ! psql -X -q -At "host=$PGHOST_ port=$PGPORT_ user=postgres replication=true" -c "IDENTIFY_SYSTEM" >/dev/null 2>&1; then
    [ -w "$HBA" ] || die "the primary refuses replication connections from $PGHOST_ and $HBA is not writable"
    say "allowing replication connections from loopback in $HBA"
    sed -i '1i host replication all 127.0.0.1/32 trust # shop-test-replica\nhost replication all ::1/128 trust # shop-test-replica' "$HBA"
    primary -c "SELECT pg_reload_conf()" >/dev/null || die "cannot reload the primary's configuration"
    for _ in $(seq 1 20); do
      psql -X -q -At "host=$PGHOST_ port=$PGPORT_ user=postgres replication=true" -c "IDENTIFY_SYSTEM" >/dev/null 2>&1 && return 0
      sleep 0.25
    done
    die "the primary still refuses replication connections after adding them to $HBA"
  fi
}

start_replica() {
  # 9>&-: the server must not inherit (and so hold for ever) this script's lock.
  as_pg "$BIN/pg_ctl" -D "$DIR" -l "$LOG" -w -t 60 start >/dev/null 2>&1 9>&-
}

build_replica() {
  say "making a new replica in $DIR with pg_basebackup (PostgreSQL $VER)"
  stop_replica
  rm -rf "$DIR"
  mkdir -p "$DIR" && chown postgres:postgres "$DIR" && chmod 700 "$DIR" || die "cannot create $DIR"
  touch "$LOG" && chown postgres:postgres "$LOG"
  # --checkpoint=fast: do not wait for the primary's next spread checkpoint. -R writes standby.signal and
  # primary_conninfo. No replication slot: a replica that was down too long is made again rather than
  # have the primary keep WAL for it forever.
  as_pg "$BIN/pg_basebackup" -h "$PGHOST_" -p "$PGPORT_" -U postgres -D "$DIR" -R -X stream --checkpoint=fast \
    >>"$LOG" 2>&1 || { tail -20 "$LOG" >&2; die "pg_basebackup failed"; }
  # A Debian cluster keeps its configuration in /etc, so the copy has none: give it its own. A hot standby
  # needs these limits at least as high as the primary's.
  local limits
  limits=$(primary -c "SELECT string_agg(name || ' = ' || setting, E'\n') FROM pg_settings WHERE name IN
             ('max_connections', 'max_worker_processes', 'max_wal_senders', 'max_prepared_transactions',
              'max_locks_per_transaction')") || die "cannot read the primary's limits: $limits"
  cat >"$DIR/postgresql.conf" <<EOF
# The test suite's streaming replica of $PGHOST_:$PGPORT_ (scripts/replica.sh); throwaway data.
port = $RPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/var/run/postgresql'
hot_standby = on
# Report queries are not cancelled because the primary cleaned up rows they still read.
hot_standby_feedback = on
shared_buffers = 32MB
fsync = off
full_page_writes = off
$limits
EOF
  cat >"$DIR/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
EOF
  chown postgres:postgres "$DIR/postgresql.conf" "$DIR/pg_hba.conf"
}

check_primary
if [ -f "$DIR/standby.signal" ] && [ -f "$DIR/postgresql.conf" ]; then
  say "starting the replica in $DIR"
  stop_replica
  if start_replica && wait_streaming 15; then
    say "streaming replica of $PGHOST_:$PGPORT_ is up on 127.0.0.1:$RPORT"
    exit 0
  fi
  say "the existing replica does not stream (too far behind, or from another cluster); making it again"
fi
build_replica
start_replica || { tail -30 "$LOG" >&2; die "the replica did not start (log: $LOG)"; }
wait_streaming 60 || { tail -30 "$LOG" >&2; die "the replica started but does not stream from the primary (log: $LOG)"; }
say "streaming replica of $PGHOST_:$PGPORT_ is up on 127.0.0.1:$RPORT"
