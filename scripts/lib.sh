# Shell functions shared by scripts/demo.sh and bench/*.sh. Source it, do not run it:
#
#   source scripts/lib.sh
#   read -r imap_port smtp_port < <(free_ports)
#   stack_config "$imap_port" "$smtp_port" "$dir/privacy-inbox.sqlite3" >"$dir/privacy-inbox.toml"

# The repository root (where templates/ is), wherever the sourcing script runs from.
PRIVACY_INBOX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Builds the release binary (quietly; CARGO_TARGET_DIR as for cargo) and prints its path.
release_bin() {
  # Spelled out: set -e does not reach into the $(release_bin) of the caller.
  (cd "$PRIVACY_INBOX_ROOT" && cargo build --release --quiet --bin privacy-inbox) >&2 || return 1
  echo "${CARGO_TARGET_DIR:-$PRIVACY_INBOX_ROOT/target}/release/privacy-inbox"
}

# Builds the binary in the debug profile, the one `cargo test` (scripts/test.sh) builds too,
# so the demo and the test suite share one build; prints its path. Cargo's progress shows.
dev_bin() {
  (cd "$PRIVACY_INBOX_ROOT" && cargo build --bin privacy-inbox) >&2 || return 1
  echo "${CARGO_TARGET_DIR:-$PRIVACY_INBOX_ROOT/target}/debug/privacy-inbox"
}

# state_dir NAME: makes and prints a fresh /tmp/privacy-inbox-NAME.XXXXXX directory that
# Postfix, nobody and dovenull can enter (a stack's state dir goes inside it).
state_dir() {
  local dir
  dir=$(mktemp -d "/tmp/privacy-inbox-$1.XXXXXX") || return 1
  chmod 755 "$dir" || return 1
  echo "$dir"
}

# remove_state_dir DIR: stops the stack in DIR/stack and removes DIR; with KEEP=1 keeps it
# and says so through the caller's note function. For an EXIT trap.
remove_state_dir() {
  "$PRIVACY_INBOX_ROOT/scripts/mailstack.sh" stop "$1/stack" >/dev/null 2>&1 || true
  if [[ ${KEEP:-0} == 1 ]]; then note "kept $1"; else rm -rf "$1"; fi
}

# Prints two free loopback TCP ports, "IMAP SMTP", for scripts/mailstack.sh start.
free_ports() {
  python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])'
}

# stack_config IMAP_PORT SMTP_PORT STORE_PATH [SMTP_EXTRA]
# Prints a privacy-inbox config for a stack started by scripts/mailstack.sh on those ports
# (plain IMAP and SMTP, privacy@example.test / secret, staff@example.test), with the store at
# STORE_PATH and the shipped templates. SMTP_EXTRA (lines of TOML) goes at the end of [smtp].
stack_config() {
  local imap_port=$1 smtp_port=$2 store=$3 smtp_extra=${4:-}
  cat <<TOML
[imap]
host = "127.0.0.1"
port = $imap_port
security = "none"
username = "privacy@example.test"
password = "secret"
mailbox = "INBOX"
processed-mailbox = "Processed"
[smtp]
host = "127.0.0.1"
port = $smtp_port
security = "none"
from = "Acme Privacy Team <privacy@example.test>"
TOML
  if [[ -n $smtp_extra ]]; then
    printf '%s\n' "$smtp_extra"
  fi
  cat <<TOML
[staff]
escalation-to = ["staff@example.test"]
[store]
path = "$store"
[templates]
dir = "$PRIVACY_INBOX_ROOT/templates"
TOML
}
