#!/usr/bin/env bash
# Fuzzes the pure core with cargo-fuzz (libFuzzer) on the stable compiler:
#   scripts/fuzz.sh [SECONDS]      each target runs SECONDS (default 60; CI uses 60)
# Targets (fuzz/fuzz_targets): parse_triage_classify (raw bytes -> parse -> triage ->
# classify) and render_templates (hostile values into every shipped template and message).
# Installs the pinned cargo-fuzz when missing. RUSTC_BOOTSTRAP=1 lets stable rustc take the
# -Z flags cargo-fuzz passes (see ../shared/notes/fuzzing.md). FUZZ_SANITIZER=address for
# AddressSanitizer (about 7 times slower; the default is none). Crashes are kept in
# fuzz/artifacts/TARGET and make the script fail. Corpora are kept in fuzz/corpus (ignored
# by git), seeded from fixtures/.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
readonly CARGO_FUZZ_VERSION=0.13.1
sanitizer=${FUZZ_SANITIZER:-none}

if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
export RUSTC_BOOTSTRAP=1

# Seed corpus: the hand-written fixtures (real-looking mails).
mkdir -p fuzz/corpus/parse_triage_classify fuzz/corpus/render_templates
find fixtures -name '*.eml' -print0 2>/dev/null | while IFS= read -r -d '' f; do
  cp -n "$f" "fuzz/corpus/parse_triage_classify/$(basename "$f")" 2>/dev/null || true
done
printf 'Jane\xffjane@example.test\xffDelete\r\nBcc: x@y\xff{{x}}' >fuzz/corpus/render_templates/seed

status=0
for target in parse_triage_classify render_templates; do
  log=$(mktemp)
  echo "== fuzz $target for ${secs}s (sanitizer $sanitizer)"
  set +e
  (cd fuzz && cargo fuzz run --sanitizer "$sanitizer" "$target" -- \
     -max_total_time="$secs" -max_len=65536 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1) \
     >"$log" 2>&1
  rc=$?
  set -e
  # No stats when the target did not build: keep going to show the log below.
  runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
  echo "fuzz: $target: ${runs:-?} executions in ${secs}s, exit $rc, crash files $crashes"
  if [[ $rc -ne 0 ]]; then
    tail -40 "$log"
    status=1
  fi
  rm -f "$log"
done
exit $status
