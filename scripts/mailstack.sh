#!/usr/bin/env bash
# A real, throw-away mail stack on loopback for privacy-inbox's tests and demos:
# Dovecot (IMAP, LMTP, SASL) and Postfix (SMTP) from Debian's packages, each with a config
# of its own inside STATE_DIR, no systemd, everything logged to STATE_DIR/log.
#
#   scripts/mailstack.sh install                    install the Debian packages when missing
#   scripts/mailstack.sh start [STATE_DIR [IMAP_PORT [SMTP_PORT]]] [--tls]
#                                                   exits 0 once every port accepts
#   scripts/mailstack.sh stop [STATE_DIR]           stop both daemons (by PID); mail is kept
#   scripts/mailstack.sh stop-smtp|start-smtp [STATE_DIR]   Postfix only (outage tests)
#   scripts/mailstack.sh restart-imap [STATE_DIR]   stop and start Dovecot (outage tests)
#   scripts/mailstack.sh status [STATE_DIR]         exit 0 when both run, 3 otherwise
#   scripts/mailstack.sh pids [STATE_DIR]           PIDs of every process of the stack
#   scripts/mailstack.sh reap                       stop stacks of test processes that died
#
# Defaults: STATE_DIR /tmp/privacy-inbox-stack, IMAP 10143, SMTP 10025.
# With --tls: IMAPS on IMAP_PORT+1 (implicit TLS), SMTPS on SMTP_PORT+1 (wrapper mode),
# STARTTLS on the IMAP and SMTP ports, a CA and a server certificate for 127.0.0.1 and
# localhost in STATE_DIR/tls. STATE_DIR/stack.env (shell-sourceable) records the ports
# and CA_FILE after every start.
#
# Mail: every local part at example.test is a mailbox with password "secret" (Dovecot static
# passdb/userdb, Postfix accepts the whole domain); user+tag@example.test lands in user's
# INBOX. Local parts starting with "bounce" are accepted by SMTP and then bounced with a DSN
# to the envelope sender (for bounce-handling tests). Nothing leaves the box: other domains
# are refused at RCPT (relay denied; with SMTP AUTH, "not delivered by the test stack").
# SMTP AUTH PLAIN/LOGIN (any user@example.test / secret) goes through Dovecot's SASL.
set -euo pipefail

readonly DEFAULT_STATE=/tmp/privacy-inbox-stack
readonly DOMAIN=example.test
readonly PASSWORD=secret
readonly PACKAGES=(dovecot-core dovecot-imapd dovecot-lmtpd postfix swaks openssl)
readonly POSTFIX_LIBEXEC=/usr/lib/postfix/sbin

die() { echo "mailstack: $*" >&2; exit 1; }
note() { echo "mailstack: $*" >&2; }

# ---------------------------------------------------------------------------------------
# Install

missing_packages() {
  local p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || echo "$p"
  done
}

cmd_install() {
  local missing
  missing=$(missing_packages)
  [[ -z $missing ]] && return 0
  [[ $(id -u) == 0 ]] || die "packages missing ($(echo $missing)) and not root: install them first"
  # Several test processes may get here at once on a fresh machine: one installs, the
  # others wait and then find nothing missing.
  exec 9>/tmp/.privacy-inbox-mailstack-install.lock
  flock -w 600 9 || die "timed out waiting for another install"
  missing=$(missing_packages)
  if [[ -n $missing ]]; then
    note "installing $(echo $missing) (apt-get)"
    local guard=""
    # Keep the packages from starting system-wide daemons (no systemd here; init scripts
    # would start Dovecot on 143). Only add the guard when there is none.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      guard=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local rc=0
    {
      DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
          -o DPkg::Lock::Timeout=300 $missing
    } </dev/null >/tmp/.privacy-inbox-mailstack-install.log 2>&1 || rc=$?
    [[ -n $guard ]] && rm -f /usr/sbin/policy-rc.d
    if [[ $rc != 0 ]]; then
      tail -n 30 /tmp/.privacy-inbox-mailstack-install.log >&2
      die "apt-get failed (log: /tmp/.privacy-inbox-mailstack-install.log)"
    fi
  fi
  exec 9>&-
}

# ---------------------------------------------------------------------------------------
# Processes

# True when PID exists and is not a zombie (a zombie has exited; only its parent can reap it).
alive() {
  local pid=$1 line rest
  [[ -n $pid ]] || return 1
  read -r line 2>/dev/null <"/proc/$pid/stat" || return 1
  rest=${line##*) }
  [[ -n $rest && ${rest%% *} != Z ]]
}

read_pid() { [[ -r $1 ]] && tr -dc '0-9' <"$1" || true; }

dovecot_pid() { read_pid "$STATE/dovecot/run/master.pid"; }
postfix_pid() { read_pid "$STATE/postfix/queue/pid/master.pid"; }

# Children (recursively) of PID, read from /proc in one pass.
descendants() {
  local f line rest
  for f in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$f" || continue
    rest=${line##*) }
    rest=${rest#* }
    echo "${line%% *} ${rest%% *}"
  done | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        q = parent[p]
        for (n = 0; q != "" && q != 0 && n < 64; n++) {
          if (q == root) { print p; break }
          q = parent[q]
        }
      }
    }'
}

# Stop a master PID: SIGTERM, wait up to 5 s, then SIGKILL it and its children.
# FAST_COMM names a child that may be SIGKILLed as soon as every other child has gone:
# Dovecot's "log" process lingers ~0.8 s after a SIGTERM, which would make every stop slow.
stop_pid() {
  local pid=$1 fast_comm=${2:-} i k kids others comm
  alive "$pid" || return 0
  kids=$(descendants "$pid" | tr '\n' ' ')
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 500; i++)); do
    alive "$pid" || break
    if [[ -n $fast_comm ]] && ((i >= 2)); then
      others=""
      for k in $kids; do
        alive "$k" || continue
        read -r comm 2>/dev/null <"/proc/$k/comm" || continue
        [[ $comm == "$fast_comm" ]] || others=1
      done
      if [[ -z $others ]]; then
        for k in $kids; do
          read -r comm 2>/dev/null <"/proc/$k/comm" || continue
          [[ $comm == "$fast_comm" ]] && kill -KILL "$k" 2>/dev/null
        done
        fast_comm=""
      fi
    fi
    sleep 0.01
  done
  if alive "$pid"; then
    note "pid $pid ignored SIGTERM for 5 s; killing it"
    kill -KILL "$pid" $kids 2>/dev/null || true
  fi
  # The masters tell their children to go; give stragglers a moment, then insist.
  for ((i = 0; i < 200; i++)); do
    others=""
    for k in $kids; do alive "$k" && others=1; done
    [[ -z $others ]] && return 0
    sleep 0.01
  done
  kill -KILL $kids 2>/dev/null || true
}

port_accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_ports() {
  local what=$1 pid=$2 i p ok
  shift 2
  for ((i = 0; i < 1000; i++)); do
    ok=1
    for p in "$@"; do port_accepts "$p" || { ok=""; break; }; done
    [[ -n $ok ]] && return 0
    alive "$pid" || return 1
    sleep 0.01
  done
  note "$what: ports $* not accepting after 10 s"
  return 1
}

# ---------------------------------------------------------------------------------------
# Config

load_env() {
  [[ -r $STATE/stack.env ]] || die "no stack in $STATE (missing stack.env; run start first)"
  # DOMAIN and PASSWORD are readonly here (assigning them again would abort the script).
  # shellcheck disable=SC1090
  source <(grep -vE '^(DOMAIN|PASSWORD)=' "$STATE/stack.env")
}

write_env() {
  cat >"$STATE/stack.env" <<EOF
# Written by scripts/mailstack.sh start; shell-sourceable.
STATE_DIR=$STATE
IMAP_HOST=127.0.0.1
IMAP_PORT=$IMAP_PORT
SMTP_PORT=$SMTP_PORT
TLS=$TLS
IMAPS_PORT=$IMAPS_PORT
SMTPS_PORT=$SMTPS_PORT
CA_FILE=$CA_FILE
CERT_FILE=$CERT_FILE
KEY_FILE=$KEY_FILE
DOMAIN=$DOMAIN
PASSWORD=$PASSWORD
EOF
}

make_tls() {
  local d=$STATE/tls
  [[ -s $d/cert.pem && -s $d/key.pem && -s $d/ca.pem ]] && return 0
  mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout ca.key -out ca.pem -days 3650 -subj "/CN=privacy-inbox test CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout key.pem -out server.csr -subj "/CN=localhost"
    printf '%s\n' \
      "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:mail.$DOMAIN" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
      -out cert.pem -days 3650 -extfile server.ext
    chmod 644 ca.pem cert.pem
    chmod 600 ca.key key.pem
  ) >"$STATE/log/openssl.log" 2>&1 || die "openssl failed; see $STATE/log/openssl.log"
}

write_dovecot_conf() {
  local ssl_block imaps_port=0
  if [[ $TLS == 1 ]]; then
    imaps_port=$IMAPS_PORT
    ssl_block="ssl = yes
ssl_cert = <$CERT_FILE
ssl_key = <$KEY_FILE
ssl_min_protocol = TLSv1.2"
  else
    ssl_block="ssl = no"
  fi
  cat >"$STATE/dovecot/dovecot.conf" <<EOF
# Generated by scripts/mailstack.sh; a complete config (nothing from /etc/dovecot).
$(dovecot_environment)
base_dir = $STATE/dovecot/run
state_dir = $STATE/dovecot/lib
instance_name = privacy-inbox-$IMAP_PORT
log_path = $STATE/log/dovecot.log
info_log_path = $STATE/log/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
$ssl_block
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
recipient_delimiter = +
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
# Whole-domain mailboxes: any user, password "$PASSWORD".
passdb {
  driver = static
  args = password=$PASSWORD
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$STATE/mail/%d/%n
}
# sdbox stays fast as a mailbox grows to thousands of mails (maildir slows down).
mail_location = sdbox:~/mail
mail_fsync = never
namespace inbox {
  inbox = yes
  separator = /
}
protocol imap {
  mail_max_userip_connections = 1000
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
    ssl = yes
  }
  service_count = 0
  process_min_avail = 1
  client_limit = 1000
}
service imap {
  process_limit = 1024
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
}

write_postfix_conf() {
  local q=$STATE/postfix/queue tls_main="" smtps_line=""
  if [[ $TLS == 1 ]]; then
    tls_main="smtpd_tls_security_level = may
smtpd_tls_chain_files = $KEY_FILE, $CERT_FILE
smtpd_tls_loglevel = 1"
    smtps_line="127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt"
  fi
  cat >"$STATE/postfix/main.cf" <<EOF
# Generated by scripts/mailstack.sh; a complete config (nothing from /etc/postfix).
$(postfix_environment)
compatibility_level = 3.6
queue_directory = $q
data_directory = $STATE/postfix/data
maillog_file = $STATE/log/postfix.log
maillog_file_prefixes = $STATE
syslog_name = postfix-$SMTP_PORT
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# Every address at $DOMAIN is a mailbox; Dovecot delivers over LMTP.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = static:OK
virtual_transport = lmtp:unix:$STATE/dovecot/run/lmtp
transport_maps = regexp:$STATE/postfix/transport
recipient_delimiter = +
# Nothing leaves the box.
relayhost =
default_transport = error:5.7.1 mail outside $DOMAIN is not delivered by the test stack
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $STATE/dovecot/run/auth-postfix
smtpd_tls_auth_only = no
broken_sasl_auth_clients = no
$tls_main
# Fast retries and no throttling: tests poll for arrival.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
in_flow_delay = 0
message_size_limit = 52428800
mailbox_size_limit = 0
virtual_mailbox_limit = 0
default_process_limit = 200
smtpd_client_connection_count_limit = 1000
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
smtpd_client_event_limit_exceptions =
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_recipient_limit = 10000
lmtp_destination_concurrency_limit = 20
EOF
  cat >"$STATE/postfix/transport" <<EOF
/^bounce[^@]*@$(sed 's/\./\\./g' <<<"$DOMAIN")\$/ bouncer:
EOF
  cat >"$STATE/postfix/master.cf" <<EOF
# Generated by scripts/mailstack.sh. No chroot; no pickup (nothing uses sendmail).
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
$smtps_line
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
# bounce*@$DOMAIN: accepted by smtpd, then fails permanently (EX_NOUSER): a real DSN.
bouncer   unix  - n n - - pipe
  user=nobody argv=/bin/sh -c "echo mailbox unavailable, test stack bounce address; exit 67"
EOF
  # Postfix naps while a config file is younger than ~2 s ("cool down"): backdate them.
  touch -d "@$(($(date +%s) - 60))" "$STATE/postfix/main.cf" "$STATE/postfix/master.cf" \
    "$STATE/postfix/transport"
}

# Under libfaketime (scripts/faketime.sh runs the date-sensitive tests at a far date), the
# servers must live at the same fake date as the bot: a mail's INTERNALDATE is its received
# time. Dovecot and Postfix clear their children's environment, so the preload and its
# offset are passed on by name; without libfaketime the servers' defaults stay untouched.
faketime_vars() {
  [[ ${LD_PRELOAD:-} == *faketime* ]] || return 0
  local v
  for v in LD_PRELOAD FAKETIME FAKETIME_SHARED DONT_FAKE_MONOTONIC FAKETIME_DONT_FAKE_MONOTONIC; do
    [[ -n ${!v:-} ]] && printf ' %s' "$v"
  done
}

dovecot_environment() {
  local vars
  vars=$(faketime_vars)
  [[ -n $vars ]] && echo "import_environment = TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID LISTEN_FDS$vars"
  return 0
}

postfix_environment() {
  local vars
  vars=$(faketime_vars)
  [[ -n $vars ]] &&
    echo "import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME$vars"
  return 0
}

make_dirs() {
  local q=$STATE/postfix/queue d
  mkdir -p "$STATE/log" "$STATE/dovecot/run" "$STATE/dovecot/lib" "$STATE/postfix/data" "$q"
  mkdir -p "$STATE/mail"
  chmod 755 "$STATE" "$STATE/log" "$STATE/postfix" "$STATE/dovecot"
  chown nobody:nogroup "$STATE/mail"
  chown postfix "$STATE/postfix/data"
  chmod 700 "$STATE/postfix/data"
  chown root:root "$q"
  chmod 755 "$q"
  # Pre-create the queue directories with Postfix's owners and modes (postfix-files),
  # or the first start spends seconds on checks.
  for d in active bounce corrupt defer deferred flush hold incoming private saved trace; do
    mkdir -p "$q/$d"
    chown postfix:root "$q/$d"
    chmod 700 "$q/$d"
  done
  mkdir -p "$q/maildrop" "$q/public" "$q/pid"
  chown postfix:postdrop "$q/maildrop" "$q/public"
  chmod 730 "$q/maildrop"
  chmod 710 "$q/public"
  chown root:root "$q/pid"
  chmod 755 "$q/pid"
  # postfix, nobody and dovenull must be able to enter every parent of the state dir.
  d=$STATE
  while [[ $d != / ]]; do
    d=$(dirname "$d")
    ((8#$(stat -c '%a' "$d") & 1)) ||
      die "$d is not enterable by other users (postfix, nobody, dovenull); use a state dir under /tmp"
  done
}

# start_master NAME PID_FILE PORT TLS_PORT COMMAND...: start a daemon's master with COMMAND
# unless it runs already (its output appended to log/NAME.stderr, never the caller's: the
# master may keep it open forever), then wait until PORT (and TLS_PORT with --tls) accept.
start_master() {
  local name=$1 pid_file=$2 port=$3 tls_port=$4 pid
  shift 4
  pid=$(read_pid "$pid_file")
  if alive "$pid"; then return 0; fi
  rm -f "$pid_file"
  if ! "$@" </dev/null >>"$STATE/log/$name.stderr" 2>&1; then
    tail -n 5 "$STATE/log/$name.stderr" "$STATE/log/$name.log" >&2 2>/dev/null || true
    note "$name failed to start (ports $port${tls_port:+/$tls_port} in use?)"
    return 1
  fi
  pid=$(read_pid "$pid_file")
  local ports=("$port")
  [[ $TLS == 1 ]] && ports+=("$tls_port")
  wait_ports "$name" "$pid" "${ports[@]}" || {
    tail -n 5 "$STATE/log/$name.log" >&2 2>/dev/null || true
    note "$name did not come up"
    return 1
  }
}

start_dovecot() {
  start_master dovecot "$STATE/dovecot/run/master.pid" "$IMAP_PORT" "${IMAPS_PORT:-}" \
    dovecot -c "$STATE/dovecot/dovecot.conf"
}

start_postfix() {
  # -w: return only once the real master has initialised (non-zero when it failed).
  start_master postfix "$STATE/postfix/queue/pid/master.pid" "$SMTP_PORT" "${SMTPS_PORT:-}" \
    "$POSTFIX_LIBEXEC/master" -c "$STATE/postfix" -w
}

stop_dovecot() { stop_pid "$(dovecot_pid)" log; }
stop_postfix() { stop_pid "$(postfix_pid)"; }

# ---------------------------------------------------------------------------------------
# Commands

cmd_start() {
  [[ $(id -u) == 0 ]] || die "Postfix needs root; run as root"
  cmd_install
  if alive "$(dovecot_pid)" || alive "$(postfix_pid)"; then
    die "a stack is already running in $STATE; stop it first"
  fi
  IMAPS_PORT="" SMTPS_PORT="" CA_FILE="" CERT_FILE="" KEY_FILE=""
  if [[ $TLS == 1 ]]; then
    IMAPS_PORT=$((IMAP_PORT + 1)) SMTPS_PORT=$((SMTP_PORT + 1))
    CA_FILE=$STATE/tls/ca.pem CERT_FILE=$STATE/tls/cert.pem KEY_FILE=$STATE/tls/key.pem
  fi
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd -P)
  make_dirs
  [[ $TLS == 1 ]] && make_tls
  write_dovecot_conf
  write_postfix_conf
  write_env
  # Dovecot first: Postfix's SASL and LMTP sockets live in Dovecot's base_dir.
  if ! start_dovecot; then
    stop_dovecot
    exit 1
  fi
  if ! start_postfix; then
    stop_postfix
    stop_dovecot
    exit 1
  fi
  echo "mailstack: IMAP 127.0.0.1:$IMAP_PORT SMTP 127.0.0.1:$SMTP_PORT${IMAPS_PORT:+ IMAPS :$IMAPS_PORT SMTPS :$SMTPS_PORT} (state $STATE)"
}

cmd_stop() {
  [[ -d $STATE ]] || return 0
  # Both at once: each master takes a while to wind down its children.
  stop_postfix &
  local bg=$!
  stop_dovecot
  wait "$bg" || true
}

cmd_status() {
  local d p rc=0
  d=$(dovecot_pid)
  p=$(postfix_pid)
  if alive "$d"; then echo "dovecot running (pid $d)"; else echo "dovecot stopped"; rc=3; fi
  if alive "$p"; then echo "postfix running (pid $p)"; else echo "postfix stopped"; rc=3; fi
  [[ -r $STATE/stack.env ]] && grep -E '^(IMAP|SMTP|IMAPS|SMTPS)_PORT=|^CA_FILE=' "$STATE/stack.env"
  return $rc
}

cmd_pids() {
  local m
  for m in "$(dovecot_pid)" "$(postfix_pid)"; do
    alive "$m" || continue
    echo "$m"
    descendants "$m"
  done
}

# Stop and remove the stacks of test processes that died without cleaning up: directories
# /tmp/privacy-inbox-test-* whose owner.pid names a process that is gone.
cmd_reap() {
  local d owner
  for d in /tmp/privacy-inbox-test-*/; do
    [[ -d $d && -r $d/owner.pid ]] || continue
    owner=$(read_pid "$d/owner.pid")
    [[ -n $owner ]] && alive "$owner" && continue
    STATE=${d%/}
    cmd_stop
    rm -rf "$STATE"
  done
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  shift
  TLS=0
  local args=() a
  for a in "$@"; do
    case $a in
      --tls) TLS=1 ;;
      -h | --help) usage ;;
      -*) die "unknown option $a" ;;
      *) args+=("$a") ;;
    esac
  done
  STATE=${args[0]:-$DEFAULT_STATE}
  [[ $STATE == /* ]] || STATE=$PWD/$STATE
  case $cmd in
    install) cmd_install ;;
    start)
      IMAP_PORT=${args[1]:-10143}
      SMTP_PORT=${args[2]:-10025}
      [[ $IMAP_PORT =~ ^[0-9]+$ && $SMTP_PORT =~ ^[0-9]+$ ]] || die "ports must be numbers"
      cmd_start
      ;;
    stop) cmd_stop ;;
    stop-smtp) stop_postfix ;;
    start-smtp)
      load_env
      start_postfix || { stop_postfix; exit 1; }
      ;;
    restart-imap)
      load_env
      stop_dovecot
      start_dovecot || { stop_dovecot; exit 1; }
      ;;
    status) cmd_status ;;
    pids) cmd_pids ;;
    reap) cmd_reap ;;
    help | -h | --help) usage ;;
    *) die "unknown command $cmd (try --help)" ;;
  esac
}

main "$@"
