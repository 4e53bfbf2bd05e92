#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Debian's Dovecot and
# Postfix for the real mail stack; rustfmt and clippy), then formatting, lints, unit tests
# and integration tests against real Dovecot/Postfix on loopback and real SQLite files.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test: cargo is needed (https://rustup.rs)" >&2; exit 1; }
scripts/mailstack.sh install
scripts/postgres.sh install
if command -v rustup >/dev/null; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
fi

echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo test --locked --all-targets --no-fail-fast
# Fuzzing: 60 s per target (scripts/fuzz.sh). Always in CI; PRIVACY_INBOX_SKIP_FUZZ=1 skips
# it locally. FUZZ_SECONDS sets the length.
if [[ ${PRIVACY_INBOX_SKIP_FUZZ:-0} != 1 ]]; then
  echo "== scripts/fuzz.sh ${FUZZ_SECONDS:-60}"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi
