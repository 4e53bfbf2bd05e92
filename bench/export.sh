#!/usr/bin/env bash
# Export benchmark: one requester with ROWS rows across a SQLite file and a PostgreSQL
# database (a private cluster from scripts/postgres.sh), streamed into an encrypted access
# package (index.html, JSON + CSV per table, zipped, encrypted at rest).
#
#   bench/export.sh [ROWS]      (default 200000: 60% SQLite, 40% PostgreSQL)
#
# Prints the seconds to package and the peak resident memory (VmHWM) before and after the
# export; the target is at most 64 MB above the baseline (rows are streamed, never held).
# PG=0 runs SQLite only. Runs in a temp dir, the cluster on a free port, stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
[[ $rows =~ ^[0-9]+$ && $rows -gt 0 ]] || { echo "usage: bench/export.sh [ROWS]" >&2; exit 2; }
use_pg=${PG:-1}
cargo build --release --example export_bench >&2
bin=${CARGO_TARGET_DIR:-target}/release/examples/export_bench
tmp=$(mktemp -d /tmp/export-bench-XXXXXX)
chmod 755 "$tmp"
pgdir=$tmp/pg
cleanup() { [[ $use_pg == 1 ]] && scripts/postgres.sh stop "$pgdir" || true; rm -rf "$tmp"; }
trap cleanup EXIT

if [[ $use_pg == 1 ]]; then
  sqlite_rows=$((rows * 6 / 10))
  pg_rows=$((rows - sqlite_rows))
else
  sqlite_rows=$rows
  pg_rows=0
fi
# About 2% of generated rows belong to someone else (the query must filter them out).
"$bin" generate "$tmp/shop.sqlite3" $((sqlite_rows * 50 / 49 + 1))
url=""
if [[ $use_pg == 1 ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  scripts/postgres.sh start "$pgdir" "$port"
  psql -q -h 127.0.0.1 -p "$port" -U postgres -c "CREATE DATABASE warehouse" >/dev/null
  psql -q -h 127.0.0.1 -p "$port" -U postgres -d warehouse >/dev/null <<SQL
CREATE TABLE visits (id bigserial PRIMARY KEY, email text NOT NULL, at timestamptz NOT NULL,
                     url text NOT NULL, referrer text, duration numeric(8,2), meta jsonb);
INSERT INTO visits (email, at, url, referrer, duration, meta)
SELECT 'heavy.user@example.test', timestamptz '2026-01-01' + g * interval '1 minute',
       '/catalogue/' || (g % 5000) || '?utm_source=newsletter&utm_campaign=' || (g % 31),
       'https://search.example/?q=item+' || g, (g % 600) / 3.0,
       jsonb_build_object('device', 'phone', 'n', g)
FROM generate_series(1, $pg_rows) g;
CREATE INDEX visits_email ON visits (email);
ANALYZE visits;
SQL
  url="postgres://postgres@127.0.0.1:$port/warehouse"
fi
/usr/bin/time -v "$bin" run "$tmp/shop.sqlite3" $url 2>"$tmp/time.txt"
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$tmp/time.txt" | sed 's/^\s*/time -v: /'
