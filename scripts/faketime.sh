#!/usr/bin/env bash
# Runs the date-sensitive tests with the whole machine's clock moved to another date, under
# Debian's libfaketime: the test process, the privacy-inbox binary it starts, and the mail
# stack's Dovecot and Postfix (scripts/mailstack.sh passes the preload on), so a mail's
# INTERNALDATE, the bot's "now" and the tests' own clock agree on the fake date.
#
#   scripts/faketime.sh [--tz ZONE] [DATE ...] [-- TARGET ...]
#
# DATE: anything `date -d` reads, in UTC (default "2030-12-31 12:00:00": a far year end, the
# day a year's report and a 45-day clock cross into the next year). The clock keeps running
# from there (an offset, not a frozen instant). --tz runs the tests with TZ=ZONE as well
# (the machine's time zone must not matter either). TARGET: test targets (`lib` for the unit
# tests, or an integration test file's name); by default the date-sensitive set below.
# Exits non-zero when any run fails; prints one summary line per target and date.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every test whose expectation involves a date: received dates and clocks (law,
# verification, staff, human_loop, fulfilment), reports of "this year" (report,
# first_hour), bounce and reminder timing (bounces), the unit tests of the calendar,
# deadlines, lifecycle and templates (lib), and the rendered templates' dates.
# TARGET:FILTER runs only the tests whose name contains FILTER (as cargo test FILTER does).
# Found by running every target at 2030-12-31: intake and trust asserted the year in an id.
# fulfil_sources and reliability stay out: they assert no date, and their timing tests do not
# hold under libfaketime (PostgreSQL's processes mix the fake and the real clock; the restart
# tests' second-by-second timeouts run long with every clock call intercepted).
DEFAULT_TARGETS=(lib law report first_hour verification staff human_loop bounces fulfilment
  templates_check intake trust:one_mail_that_cannot_be_processed)

die() { echo "faketime: $*" >&2; exit 1; }

dates=()
targets=()
tz=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --tz) tz=${2:?--tz needs a zone}; shift 2 ;;
    --) shift; targets=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) dates+=("$1"); shift ;;
  esac
done
[[ ${#dates[@]} -gt 0 ]] || dates=("2030-12-31 12:00:00")
[[ ${#targets[@]} -gt 0 ]] || targets=("${DEFAULT_TARGETS[@]}")

if ! command -v faketime >/dev/null; then
  [[ $(id -u) == 0 ]] || die "faketime is missing and we are not root: apt-get install faketime"
  echo "faketime: installing Debian's faketime (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends faketime \
    </dev/null >/tmp/.privacy-inbox-faketime-install.log 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends faketime \
        </dev/null >>/tmp/.privacy-inbox-faketime-install.log 2>&1
  } || { tail -n 20 /tmp/.privacy-inbox-faketime-install.log >&2; die "apt-get failed"; }
fi

# The test executables as cargo built them (built at the real date: cargo never runs under
# the fake clock, so its fingerprints stay sane).
manifest=$(mktemp)
trap 'rm -f "$manifest"' EXIT
cargo test --locked --all-targets --no-run --message-format=json 2>/dev/null |
  grep '"reason":"compiler-artifact"' | grep '"test":true' |
  sed -n 's/.*"kind":\["\([a-z-]*\)"\].*"name":"\([^"]*\)".*"executable":"\([^"]*\)".*/\1 \2 \3/p' \
  >"$manifest"
[[ -s $manifest ]] || die "cargo built no test executables"

exe_of() {
  local want=$1 kind name exe
  while read -r kind name exe; do
    if [[ $want == lib && $kind == lib ]] || [[ $kind == test && $name == "$want" ]]; then
      echo "$exe"
      return 0
    fi
  done <"$manifest"
  return 1
}

failed=0
for d in "${dates[@]}"; do
  target_s=$(date -ud "$d" +%s) || die "not a date: $d"
  for t in "${targets[@]}"; do
    filter=""
    if [[ $t == *:* ]]; then filter=${t#*:}; t=${t%%:*}; fi
    exe=$(exe_of "$t") || die "no test target named $t"
    # The offset is taken just before each run, so every run starts at DATE.
    offset=$((target_s - $(date +%s)))
    log=$(mktemp "/tmp/privacy-inbox-faketime-$t.XXXXXX")
    started=$(date +%s)
    rc=0
    env ${tz:+TZ=$tz} faketime -f "+${offset}" "$exe" ${filter:+"$filter"} --test-threads 2 >"$log" 2>&1 || rc=$?
    summary=$(grep -E '^test result' "$log" | tail -n 1 || true)
    echo "faketime: $(date -ud "@$target_s" '+%Y-%m-%d %H:%M UTC')${tz:+ TZ=$tz} $t${filter:+ ($filter)}: ${summary:-no result} ($(($(date +%s) - started)) s)"
    if [[ $rc != 0 ]]; then
      failed=1
      grep -E '^---- |panicked at|^failures:' -A 12 "$log" | head -n 80 >&2 || true
      echo "faketime: $t failed at $d (whole log: $log)" >&2
    else
      rm -f "$log"
    fi
  done
done
exit "$failed"
