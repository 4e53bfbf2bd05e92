#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Debian's Dovecot and
# Postfix for the real mail stack; rustfmt and clippy; faketime), then formatting, lints, unit
# tests and integration tests against real Dovecot/Postfix on loopback and real SQLite files,
# then the date-sensitive tests again at a far date (libfaketime).
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
# The date-sensitive tests again with the clock (the tests', the bot's and the mail servers')
# moved to a far year end and the machine in another time zone: nothing may depend on the day
# the suite runs or where (scripts/faketime.sh; FAKETIME_DATE moves it elsewhere).
echo "== scripts/faketime.sh --tz Pacific/Kiritimati ${FAKETIME_DATE:-2030-12-31 12:00:00}"
scripts/faketime.sh --tz Pacific/Kiritimati "${FAKETIME_DATE:-2030-12-31 12:00:00}"
# Fuzzing: 60 s per target (scripts/fuzz.sh). Always in CI; PRIVACY_INBOX_SKIP_FUZZ=1 skips
# it locally. FUZZ_SECONDS sets the length.
if [[ ${PRIVACY_INBOX_SKIP_FUZZ:-0} != 1 ]]; then
  echo "== scripts/fuzz.sh ${FUZZ_SECONDS:-60}"
  scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
fi
