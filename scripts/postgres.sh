#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster on loopback for privacy-inbox's tests, benchmarks
# and demos (data sources): Debian's package, a cluster in STATE_DIR, its own port, nothing
# system-wide, stopped by its own pg_ctl (never by a process name).
#
#   scripts/postgres.sh install              install Debian's postgresql when missing (root)
#   scripts/postgres.sh start STATE_DIR PORT start a cluster (initdb on first use); exits 0
#                                            once it accepts connections; writes STATE_DIR/pg.env
#   scripts/postgres.sh stop STATE_DIR       stop it (fast shutdown); the data is kept
#   scripts/postgres.sh destroy STATE_DIR    stop it and remove STATE_DIR
#   scripts/postgres.sh status STATE_DIR     exit 0 when it runs, 3 otherwise
#
# Clients connect over TCP to 127.0.0.1:PORT as the role "postgres" with trust auth (loopback
# tests only; fsync=off: throw-away data only); with PG_PASSWORD set at the first start, TCP
# clients must give that password (scram-sha-256); with PG_TLS=1 the server speaks TLS with a
# self-signed certificate for localhost/127.0.0.1 in STATE_DIR/server.crt. PostgreSQL refuses to run as root, so as root
# the server runs as the "postgres" user that the package creates.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }
note() { echo "postgres.sh: $*" >&2; }

pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

as_server() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd_install() {
  [[ -n $(pgbin) && -x $(pgbin)/initdb ]] && return 0
  [[ $(id -u) == 0 ]] || die "PostgreSQL is missing and we are not root: apt-get install postgresql"
  exec 9>/tmp/.privacy-inbox-postgres-install.lock
  flock -w 600 9 || die "timed out waiting for another install"
  if [[ -z $(pgbin) ]]; then
    note "installing postgresql (apt-get)"
    local guard=""
    # Keep the package from starting the system-wide cluster.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      guard=1
    fi
    local rc=0
    {
      DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
          -o DPkg::Lock::Timeout=300 postgresql
    } </dev/null >/tmp/.privacy-inbox-postgres-install.log 2>&1 || rc=$?
    [[ -n $guard ]] && rm -f /usr/sbin/policy-rc.d
    if [[ $rc != 0 ]]; then
      tail -n 30 /tmp/.privacy-inbox-postgres-install.log >&2
      die "apt-get failed (log: /tmp/.privacy-inbox-postgres-install.log)"
    fi
  fi
  exec 9>&-
}

cmd_start() {
  local dir=${1:?STATE_DIR} port=${2:?PORT}
  cmd_install
  local bin; bin=$(pgbin)
  mkdir -p "$dir"
  [[ $(id -u) == 0 ]] && chown postgres:postgres "$dir"
  if [[ ! -f $dir/data/PG_VERSION ]]; then
    local auth=(--auth=trust)
    if [[ -n ${PG_PASSWORD:-} ]]; then
      # TCP clients must give PG_PASSWORD (SCRAM); the Unix socket stays trusted.
      printf '%s\n' "$PG_PASSWORD" >"$dir/pwfile"
      [[ $(id -u) == 0 ]] && chown postgres:postgres "$dir/pwfile"
      auth=(--auth-host=scram-sha-256 --auth-local=trust --pwfile="$dir/pwfile")
    fi
    as_server "$bin/initdb" -D "$dir/data" -U postgres "${auth[@]}" -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$dir/pwfile"
  fi
  local tls=""
  if [[ -n ${PG_TLS:-} ]]; then
    # A self-signed certificate for localhost and 127.0.0.1 (STATE_DIR/server.crt: give it
    # to the client as its ca-file); TLS is offered, and required by clients that ask.
    if [[ ! -f $dir/server.crt ]]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.crt" >/dev/null 2>&1 || die "openssl failed"
      chmod 600 "$dir/server.key"
      [[ $(id -u) == 0 ]] && chown postgres:postgres "$dir/server.key" "$dir/server.crt"
    fi
    tls="-c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
  fi
  as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 30 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off $tls" \
    start >/dev/null || { tail -n 20 "$dir/log" >&2 || true; die "pg_ctl start failed (port $port)"; }
  printf 'PGPORT=%s\nPGHOST=127.0.0.1\nPG_URL=postgres://postgres@127.0.0.1:%s/postgres\n' \
    "$port" "$port" >"$dir/pg.env"
}

cmd_stop() {
  local dir=${1:?STATE_DIR}
  local bin; bin=$(pgbin)
  [[ -f $dir/data/postmaster.pid ]] || return 0
  as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null || true
}

cmd_status() {
  local dir=${1:?STATE_DIR}
  local bin; bin=$(pgbin)
  as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || exit 3
}

case ${1:-} in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  destroy) shift; cmd_stop "$@"; rm -rf "${1:?}" ;;
  status) shift; cmd_status "$@" ;;
  *) die "usage: postgres.sh install|start DIR PORT|stop DIR|destroy DIR|status DIR" ;;
esac
