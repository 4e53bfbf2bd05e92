#!/usr/bin/env bash
# Latency benchmark: the daemon runs in IMAP IDLE mode; 100 request mails are delivered one
# by one at a steady pace, and the time from delivery (Postfix accepted the mail) to the
# acknowledgement being visible in the consumer's INBOX is measured.
#
#   bench/latency.sh [COUNT]     (default 100; env INTERVAL seconds between mails, default 0.5)
#
# Only letters the bot acknowledges by itself are sent (expected action `handle`, from the
# fixtures and, when present, ../shared/corpus); a letter the bot escalates to staff instead
# gets no acknowledgement and is left out (counted as "escalated"). Last line: p50/p99.
# Runs on a private stack on free ports in a temp dir, stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
count=${1:-100}
interval=${INTERVAL:-0.5}
note() { echo "latency: $*" >&2; }

scripts/mailstack.sh install
note "building the release binary"
bin=$(release_bin)

tmp=$(state_dir latency)
stack=$tmp/stack
daemon=""
cleanup() {
  if [[ -n $daemon ]]; then kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
  remove_state_dir "$tmp"
}
trap cleanup EXIT

read -r imap_port smtp_port < <(free_ports)
scripts/mailstack.sh start "$stack" "$imap_port" "$smtp_port" >/dev/null
note "stack up: IMAP $imap_port, SMTP $smtp_port ($stack)"
python3 bench/gen_mails.py "$count" "$tmp/mails" --only-handle --sender-prefix lat+ >&2
python3 bench/imaptool.py count "$imap_port" lat@example.test >/dev/null

stack_config "$imap_port" "$smtp_port" "$tmp/privacy-inbox.sqlite3" >"$tmp/privacy-inbox.toml"

PRIVACY_INBOX_LOG=${PRIVACY_INBOX_LOG:-info} "$bin" --log-format json --config "$tmp/privacy-inbox.toml" run >"$tmp/daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
  grep -q "Connected to IMAP" "$tmp/daemon.log" && break
  kill -0 "$daemon" 2>/dev/null || { cat "$tmp/daemon.log" >&2; note "the daemon died"; exit 1; }
  sleep 0.1
done
grep -q '"idle":true' "$tmp/daemon.log" || note "warning: the daemon did not report IDLE"
sleep 1
note "load: $(uptime | sed 's/.*load average: /load /')"
note "delivering $count mails, one every $interval s"
python3 bench/latency.py "$imap_port" "$smtp_port" "$tmp/mails" "$interval" 60 \
  "$tmp/privacy-inbox.sqlite3"
note "load: $(uptime | sed 's/.*load average: /load /')"
