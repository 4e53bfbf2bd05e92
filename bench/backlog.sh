#!/usr/bin/env bash
# Backlog benchmark: how fast the bot works through N waiting mails, against the floor of
# this machine's own mail stack, in the same run.
#
#   bench/backlog.sh [N]        (default 10000)
#
# 1. floor: Postfix's smtp-source delivers N copies of a typical request mail (generated
#    below, average size) to privacy@ through Postfix and Dovecot (LMTP); timed until all
#    N are visible over IMAP. The floor mails are then expunged.
# 2. bot: N realistic, varied request mails (the project's fixtures and, when present, the
#    real corpus in ../shared/corpus; distinct senders and Message-IDs) are APPENDed to
#    privacy@'s INBOX (untimed), then `privacy-inbox run --once` is timed: it fetches,
#    classifies and records every mail and exits once every reply it queued has been
#    accepted by Postfix. The store is checked afterwards.
# 3. last line: mails N  bot S s  M mails/s  floor F mails/s  ratio R  peak-rss X MB
#
# Env: SOURCES (smtp-source parallel sessions, default 8: of 8, 16 and 32 it gave the
# fastest floor, 316-409 mails/s against 215-300 with 32, so the floor is not understated)
# and BENCH_CONNECTIONS (the bot's smtp.connections, default 32, the most the bot allows:
# each SMTP transaction waits for Postfix to sync its queue file, so the bot's rate grows
# with connections: 8 -> 150, 16 -> ~215, 32 -> 250-305 mails/s on the development machine).
# KEEP=1 keeps the temp dir, CARGO_TARGET_DIR as for cargo,
# PROFILE_CMD a profiler prefix for the bot, e.g. "perf record -e cpu-clock -g -o /tmp/bot.data --".
# Runs on a private stack on free ports in a temp dir, stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
n=${1:-10000}
[[ $n =~ ^[0-9]+$ && $n -gt 0 ]] || { echo "usage: bench/backlog.sh [N]" >&2; exit 2; }
sessions=${SOURCES:-8}
connections=${BENCH_CONNECTIONS:-32}

note() { echo "backlog: $*" >&2; }
now() { date +%s.%N; }

scripts/mailstack.sh install
[[ -x /usr/sbin/smtp-source ]] || { note "/usr/sbin/smtp-source missing (Debian: postfix)"; exit 1; }
if [[ ! -x /usr/bin/time ]]; then
  note "installing GNU time for the peak RSS figure"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
fi

note "building the release binary"
bin=$(release_bin)

tmp=$(state_dir bench)
stack=$tmp/stack
cleanup() {
  remove_state_dir "$tmp"
}
trap cleanup EXIT

read -r imap_port smtp_port < <(free_ports)
scripts/mailstack.sh start "$stack" "$imap_port" "$smtp_port" >/dev/null
note "stack up: IMAP $imap_port, SMTP $smtp_port ($stack)"

python3 bench/gen_mails.py "$n" "$tmp/mails" >&2
tool() { python3 bench/imaptool.py "$1" "$imap_port" "$2" "${@:3}"; }
# Log in once so Dovecot creates the mailbox before the clock starts.
tool count privacy@example.test >/dev/null

note "load: $(uptime | sed 's/.*load average: /load /')"
# --- 1. floor -------------------------------------------------------------------------
note "floor: smtp-source, $n mails, $sessions sessions"
t0=$(now)
/usr/sbin/smtp-source -s "$sessions" -d -m "$n" -F "$tmp/mails/floor.eml" \
  -f floor@example.test -t privacy@example.test "127.0.0.1:$smtp_port"
tool wait privacy@example.test "$n" 1800
t1=$(now)
floor_s=$(python3 -c "print($t1 - $t0)")
note "floor: $n mails visible over IMAP in $(printf %.2f "$floor_s") s"
tool clear privacy@example.test
# Let Postfix and Dovecot settle (queue empty) before the bot's run.
sleep 2

# --- 2. bot ---------------------------------------------------------------------------
note "loading $n generated mails into privacy@ (IMAP APPEND, not timed)"
tool append privacy@example.test "$tmp/mails" 4
loaded=$(tool count privacy@example.test)
[[ $loaded == "$n" ]] || { note "expected $n mails in INBOX, found $loaded"; exit 1; }

smtp_extra=$(printf '%s\n' "connections = $connections" \
  "# The benchmark answers N consumers at once: lift the anti-reflection hourly cap." \
  "global-per-hour = 1000000")
stack_config "$imap_port" "$smtp_port" "$tmp/privacy-inbox.sqlite3" "$smtp_extra" \
  >"$tmp/privacy-inbox.toml"

note "load: $(uptime | sed 's/.*load average: /load /')"
note "bot: privacy-inbox run --once"
t0=$(now)
PRIVACY_INBOX_LOG=${PRIVACY_INBOX_LOG:-warn} /usr/bin/time -v -o "$tmp/time.txt" \
  ${PROFILE_CMD:-} "$bin" --config "$tmp/privacy-inbox.toml" run --once
t1=$(now)
bot_s=$(python3 -c "print($t1 - $t0)")
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tmp/time.txt")

# --- check: every mail recorded, every reply accepted ---------------------------------
read -r inbox_rows unsent sent < <(python3 - "$tmp/privacy-inbox.sqlite3" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
inbox = db.execute("SELECT count(*) FROM inbox").fetchone()[0]
unsent = db.execute("SELECT count(*) FROM outbox WHERE status <> 'sent'").fetchone()[0]
sent = db.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
print(inbox, unsent, sent)
PY
)
note "store: $inbox_rows mails recorded, $sent replies accepted by Postfix, $unsent not sent"
note "$(python3 - "$tmp/privacy-inbox.sqlite3" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT disposition, count(*) FROM inbox GROUP BY disposition ORDER BY 2 DESC").fetchall()
print("dispositions: " + ", ".join(f"{o} {c}" for o, c in rows))
PY
)"
status=0
if [[ $inbox_rows != "$n" || $unsent != 0 ]]; then
  note "FAILED: the bot did not finish the backlog in one run"
  status=1
fi
note "load: $(uptime | sed 's/.*load average: /load /')"
python3 - "$n" "$bot_s" "$floor_s" "$rss_kb" <<'PY'
import sys
n, bot, floor, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
bot_rate, floor_rate = n / bot, n / floor
print(f"mails {n}  bot {bot:.2f} s  {bot_rate:.0f} mails/s  floor {floor_rate:.0f} mails/s  "
      f"ratio {bot_rate / floor_rate:.2f}  peak-rss {rss / 1024:.1f} MB")
PY
exit $status
