#!/usr/bin/env bash
# The demo: start the local mail stack, drop a few sample requests into privacy@, run the
# bot, show the requests it opened and the mails that arrived (with the texts a consumer
# and staff read), and leave the daemon running with the stack so you can go on using it.
#
#   scripts/demo.sh              run it (state in /tmp/privacy-inbox-demo; stack on 10143/10025,
#                                download page on 10080); the daemon and the stack keep running
#   scripts/demo.sh send FROM "SUBJECT" "TEXT"
#                                mail privacy@example.test as FROM (any address at example.test
#                                has a mailbox) and wait for the running daemon's answer in
#                                FROM's INBOX, printed whole
#   scripts/demo.sh read USER    print every mail in USER@example.test's INBOX of the demo
#                                stack, whole texts (USER: consumer, consumer2, staff, privacy…)
#   scripts/demo.sh stop         stop the demo's daemon and its mail stack
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
demo=${DEMO_DIR:-/tmp/privacy-inbox-demo}
stack=$demo/stack
imap_port=${IMAP_PORT:-10143}
smtp_port=${SMTP_PORT:-10025}
portal_port=${PORTAL_PORT:-10080}
daemon_pid=$demo/daemon.pid

# read_mail USER [SUBJECT_PART [MAX [SKIP]]]: the mails of USER's INBOX (their subject
# containing SUBJECT_PART, at most MAX of them, after the first SKIP), each with its main
# headers and its plain-text body.
read_mail() {
  python3 - "$imap_port" "$@" <<'PY'
import imaplib, sys, email, email.policy
port, user = int(sys.argv[1]), sys.argv[2]
part = sys.argv[3] if len(sys.argv) > 3 else ""
most = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
skip = int(sys.argv[5]) if len(sys.argv) > 5 else 0
address = user if "@" in user else f"{user}@example.test"
m = imaplib.IMAP4("127.0.0.1", port)
m.login(address, "secret")
m.select("INBOX", readonly=True)
_, data = m.search(None, "ALL")
shown = 0
for i in data[0].split()[skip:]:
    _, d = m.fetch(i, "(BODY.PEEK[])")
    msg = email.message_from_bytes(d[0][1], policy=email.policy.default)
    subject = " ".join(str(msg["Subject"] or "").split())
    if part not in subject or shown >= most:
        continue
    shown += 1
    print(f"  ┌─ {address}, mail {shown + skip}")
    for h in ["From", "To", "Reply-To", "Subject", "Auto-Submitted"]:
        if msg[h]:
            print(f"  │ {h}: {' '.join(str(msg[h]).split())}")
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body else "(no text part)"
    print("  │")
    for line in text.rstrip().splitlines():
        print(f"  │ {line}".rstrip())
    print("  └─")
if shown == 0:
    print(f"  ({address}: no mail{' with ' + repr(part) + ' in the subject' if part else ''})")
m.logout()
PY
}

# count_mail USER: how many mails USER's INBOX holds.
count_mail() {
  python3 - "$imap_port" "$1" <<'PY'
import imaplib, sys
port, user = int(sys.argv[1]), sys.argv[2]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(user, "secret")
m.select("INBOX", readonly=True)
_, data = m.search(None, "ALL")
print(len(data[0].split()))
m.logout()
PY
}

# send FROM SUBJECT BODY [EXTRA_HEADER]: one mail to privacy@example.test over the stack's SMTP.
send() {
  python3 - "$smtp_port" "$@" <<'PY'
import smtplib, sys, email.utils
port, sender, subject, body = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
extra = sys.argv[5] if len(sys.argv) > 5 else ""
msg = (f"From: {sender}\r\nTo: privacy@example.test\r\nSubject: {subject}\r\n"
       f"Message-ID: {email.utils.make_msgid(domain='example.test')}\r\n"
       f"Date: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n"
       f"Content-Type: text/plain; charset=utf-8\r\n{extra}\r\n{body}\r\n")
with smtplib.SMTP("127.0.0.1", int(port)) as s:
    s.sendmail(sender.split("<")[-1].rstrip(">"), ["privacy@example.test"], msg.encode())
PY
  echo "  sent: From $1, Subject \"$2\""
}

# stop_daemon: stops the daemon the last demo left running, if any (its PID file).
stop_daemon() {
  if [[ -f $daemon_pid ]]; then
    local pid
    pid=$(cat "$daemon_pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      echo "stopped the demo's daemon (PID $pid)"
    fi
    rm -f "$daemon_pid"
  fi
}

case ${1:-run} in
  read)
    [[ $# -ge 2 ]] || { echo "usage: scripts/demo.sh read USER" >&2; exit 2; }
    read_mail "$2"
    exit 0
    ;;
  send)
    [[ $# -eq 4 ]] || { echo "usage: scripts/demo.sh send FROM \"SUBJECT\" \"TEXT\"" >&2; exit 2; }
    if [[ ! -f $daemon_pid ]] || ! kill -0 "$(cat "$daemon_pid")" 2>/dev/null; then
      echo "demo: the demo's daemon is not running: run scripts/demo.sh first" >&2
      exit 1
    fi
    from=$2
    address=${from##*<}
    address=${address%>}
    [[ $address == *@example.test ]] || address=${address}@example.test
    [[ $from == *@* ]] || from=$address
    before=$(count_mail "$address")
    send "$from" "$3" "$4"
    echo "  waiting for the daemon's answer in $address's INBOX (up to 60 s)..."
    for _ in $(seq 120); do
      [[ $(count_mail "$address") -gt $before ]] && break
      sleep 0.5
    done
    sleep 1
    if [[ $(count_mail "$address") -gt $before ]]; then
      read_mail "$address" "" 1000 "$before"
    else
      echo "  no answer yet: a mail the bot does not answer (an out-of-office, a mail for" \
        "staff to decide on) gets none; see $demo/daemon.log and scripts/demo.sh read staff"
      exit 1
    fi
    exit 0
    ;;
  stop)
    stop_daemon
    scripts/mailstack.sh stop "$stack"
    exit 0
    ;;
  run) ;;
  *) echo "usage: scripts/demo.sh [run | send FROM SUBJECT TEXT | read USER | stop]" >&2; exit 2 ;;
esac

start=$SECONDS
say() { printf '\n== [%3ss] %s\n' "$((SECONDS - start))" "$*"; }

command -v cargo >/dev/null || { echo "demo: cargo is needed (https://rustup.rs)" >&2; exit 1; }
say "Installing the mail stack (Debian's Dovecot and Postfix) if it is not there yet"
scripts/mailstack.sh install

say "Building privacy-inbox (the debug build the tests use: scripts/test.sh reuses it;" \
  "the first build compiles every dependency, a few minutes on 2 cores)"
bin=$(dev_bin)

say "Starting the mail stack: Dovecot (IMAP 127.0.0.1:$imap_port) and Postfix" \
  "(SMTP 127.0.0.1:$smtp_port), state in $stack"
stop_daemon
scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
rm -rf "$demo"
mkdir -p "$demo"
chmod 755 "$demo"
scripts/mailstack.sh start "$stack" "$imap_port" "$smtp_port"
stack_config "$imap_port" "$smtp_port" "$demo/privacy-inbox.sqlite3" >"$demo/privacy-inbox.toml"
# A small sample company: its CRM is a SQLite file the bot reads, exports from and erases in.
python3 - "$demo/company.sqlite3" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript("""
CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, city TEXT,
                        do_not_sell INTEGER NOT NULL DEFAULT 0);
CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT NOT NULL, item TEXT, total TEXT);
INSERT INTO customers (email, name, city) VALUES
  ('consumer@example.test', 'Jane Consumer', 'Sacramento'),
  ('consumer2@example.test', 'Sam Second', 'Fresno'),
  ('consumer3@example.test', 'Lucía', 'San Diego'),
  ('bob@example.test', 'Bob (another customer)', 'Oakland');
INSERT INTO orders (email, item, total) VALUES
  ('consumer@example.test', 'Blue kettle', '39.90'),
  ('consumer2@example.test', 'Reading lamp', '24.50'),
  ('consumer2@example.test', 'Desk', '189.00'),
  ('bob@example.test', 'Chair', '75.00');
""")
c.commit()
PY
cat >>"$demo/privacy-inbox.toml" <<TOML

[[sources]]
name = "crm"
kind = "sqlite"
url = "$demo/company.sqlite3"
lookup = { customers = "SELECT count(*) FROM customers WHERE lower(email) = :email", orders = "SELECT count(*) FROM orders WHERE lower(email) = :email" }
export = { customers = "SELECT name, city, do_not_sell FROM customers WHERE lower(email) = :email", orders = "SELECT item, total FROM orders WHERE lower(email) = :email" }
erase = ["DELETE FROM orders WHERE lower(email) = :email", "DELETE FROM customers WHERE lower(email) = :email"]
opt-out = "UPDATE customers SET do_not_sell = 1 WHERE lower(email) = :email"

[portal]
listen = "127.0.0.1:$portal_port"
public-url = "http://127.0.0.1:$portal_port"
TOML
echo "config: $demo/privacy-inbox.toml (with the sample company's CRM, $demo/company.sqlite3)"

say "Sending 4 mails to privacy@example.test"
send "Jane Consumer <consumer@example.test>" "Delete my data" \
  "Hi, please delete my account and all the personal data you have about me. Thanks, Jane"
send "consumer2@example.test" "What do you have on me?" \
  "I would like a copy of all personal information you hold about me."
send "Lucía <consumer3@example.test>" "Privacidad" \
  "Hola, no vendan ni compartan mi información personal, por favor."
send "consumer4@example.test" "Automatic reply: Out of office" \
  "I am out of the office until Monday." "Auto-Submitted: auto-replied"$'\r\n'
sleep 1

pi() { "$bin" --config "$demo/privacy-inbox.toml" "$@"; }
say "privacy-inbox check: config, templates, rules, then a real login to IMAP and SMTP"
pi check

say "privacy-inbox run --once: read the mailbox, classify, record, answer, then exit"
pi run --once

say "privacy-inbox requests list: what the bot opened (the out-of-office reply opened nothing)"
pi requests list

# A staff member completes the Spanish opt-out (the same as replying "/complete ..." to the
# escalation mail); the consumer's completion mail goes out on the next pass.
optout=$(pi requests list --json | python3 -c \
  'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["requester"] == "consumer3@example.test"))')
say "The Spanish opt-out $optout needed no verification (CCPA §7060(b)): the bot set the" \
  "flag in the CRM at once and completed it; Lucía's row:"
python3 - "$demo/company.sqlite3" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print("  ", c.execute("SELECT email, do_not_sell FROM customers WHERE email = 'consumer3@example.test'").fetchone())
PY

# The access request ("What do you have on me?") was read as a question, so a person looks
# first: the consumer already has a receipt; a staff member puts it back on the automatic
# track (the same as replying "/handle access" to the escalation mail), and the next pass
# sends the acknowledgement with its verification code.
access=$(pi requests list --json | python3 -c \
  'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["requester"] == "consumer2@example.test"))')
say "What consumer2 reads now: the receipt of the escalated access request $access"
read_mail consumer2 "We received" 1
say "A staff member reads it and hands $access back to the bot: /handle access"
pi requests handle "$access" access --by demo
pi run --once
say "What consumer2 reads next: the acknowledgement, with the code to confirm by reply"
read_mail consumer2 "VERIFY-" 1

# Fulfilment: both consumers confirm by replying; the bot looks them up in the company's
# CRM, builds consumer2's access package, and staff approve the erasure and the link.
reply_verify() { # USER: reply to the newest mail with VERIFY- in its subject, as USER
  python3 - "$imap_port" "$smtp_port" "$1" <<'PY'
import imaplib, smtplib, sys, email, email.policy, email.utils
port, sport, user = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
addr = f"{user}@example.test"
m = imaplib.IMAP4("127.0.0.1", port); m.login(addr, "secret"); m.select("INBOX", readonly=True)
_, data = m.search(None, "ALL")
ack = None
for i in data[0].split():
    _, d = m.fetch(i, "(BODY.PEEK[])")
    msg = email.message_from_bytes(d[0][1], policy=email.policy.default)
    if "VERIFY-" in str(msg["Subject"]):
        ack = msg
m.logout()
if ack is None:
    sys.exit(f"no acknowledgement with a code for {addr}")
to = email.utils.parseaddr(str(ack["Reply-To"] or "privacy@example.test"))[1]
subject = " ".join(str(ack["Subject"]).split())
reply = (f"From: {addr}\r\nTo: {to}\r\nSubject: Re: {subject}\r\n"
         f"Message-ID: {email.utils.make_msgid(domain='example.test')}\r\n"
         f"In-Reply-To: {ack['Message-ID']}\r\nReferences: {ack['Message-ID']}\r\n"
         f"Date: {email.utils.formatdate()}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
         "Yes, that was me.\r\n")
with smtplib.SMTP("127.0.0.1", sport) as s:
    s.sendmail(addr, [to], reply.encode())
print(f"  {addr} replied to: {subject}")
PY
}
jane=$(pi requests list --json | python3 -c \
  'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["requester"] == "consumer@example.test"))')
say "Jane and consumer2 confirm their requests by replying to the acknowledgement"
reply_verify consumer
reply_verify consumer2
sleep 1
say "Two passes: the replies verify both requests, the bot looks them up in the CRM" \
  "and builds consumer2's access package (encrypted, never mailed)"
pi run --once
pi run --once
say "What staff read: the deletion plan for Jane's request $jane"
read_mail staff "Deletion plan" 1
say "A staff member approves both (the same as replying /approve): the erasure runs," \
  "the download link goes out"
pi requests approve "$jane" --by demo
pi requests approve "$access" --by demo
pi run --once
say "The CRM after the erasure: Jane's rows are gone, the others' are untouched"
python3 - "$demo/company.sqlite3" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for t in ["customers", "orders"]:
    rows = c.execute(f"SELECT email, count(*) FROM {t} GROUP BY email ORDER BY email").fetchall()
    print(f"  {t}: " + ", ".join(f"{e} {n}" for e, n in rows))
PY
say "What consumer2 reads: the link to their data (single use, 7 days)"
read_mail consumer2 "ready to download" 1
say "The daemon starts (privacy-inbox run: IMAP IDLE, the outbox, the download page) and" \
  "keeps running after the demo. The download page of consumer2's link: GET shows a" \
  "button, only its POST downloads, once"
# A short housekeeping interval, so a command given on the server (requests resend, approve)
# goes out within seconds instead of a minute; new mail wakes the daemon at once (IDLE).
PRIVACY_INBOX_HOUSEKEEPING_SECONDS=5 nohup "$bin" --config "$demo/privacy-inbox.toml" run \
  >"$demo/daemon.log" 2>&1 &
echo $! >"$daemon_pid"
# newest_link USER: the newest download link in USER's INBOX.
newest_link() {
  python3 - "$imap_port" "$1" <<'PY'
import imaplib, sys, email, email.policy, re
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); m.login(f"{sys.argv[2]}@example.test", "secret")
m.select("INBOX", readonly=True)
_, data = m.search(None, "ALL")
link = ""
for i in data[0].split():
    _, d = m.fetch(i, "(BODY.PEEK[])")
    msg = email.message_from_bytes(d[0][1], policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain",))
    found = re.search(r"http://127\.0\.0\.1:\d+/d/\S+", body.get_content() if body else "")
    if found:
        link = found.group(0)
print(link)
PY
}
link=$(newest_link consumer2)
for _ in $(seq 50); do curl -s -o /dev/null "$link" && break; sleep 0.2; done
page=$(curl -s "$link")
echo "  GET $link"
echo "$page" | python3 -c 'import re,sys; t=re.sub(r"(?s)<style.*?</style>|<[^>]+>", " ", sys.stdin.read()); print("  " + " ".join(t.split())[:400])'
echo "  (the download itself is yours: open the link in a browser after the demo and press" \
  "the button; the zip downloads once, and the link is void after that)"

say "privacy-inbox requests show $optout: the record, its clocks and its timeline"
pi requests show "$optout"

say "privacy-inbox report: this year's CCPA §7102 metrics"
pi report

sleep 1
say "What Jane (consumer@example.test) reads: the acknowledgement of her deletion request"
read_mail consumer "We received" 1

say "What staff (staff@example.test) read: one mail about a request that needs a person"
read_mail staff "Needs a person" 1

say "Every mailbox, by subject"
python3 - "$imap_port" <<'PY'
import imaplib, sys, email, email.policy
port = int(sys.argv[1])
for user in ["consumer", "consumer2", "consumer3", "consumer4", "staff", "privacy"]:
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(f"{user}@example.test", "secret")
    m.select("INBOX", readonly=True)
    _, data = m.search(None, "ALL")
    ids = data[0].split()
    print(f"{user}@example.test INBOX: {len(ids)} mail(s)")
    for i in ids:
        _, d = m.fetch(i, "(BODY.PEEK[HEADER])")
        h = email.message_from_bytes(d[0][1], policy=email.policy.default)
        print(f"   {' '.join(str(h['Subject'] or '').split())}")
    m.logout()
PY

pid=$(cat "$daemon_pid")
say "Done in $((SECONDS - start)) s. Still running, for you to go on: the daemon (PID $pid," \
  "log $demo/daemon.log) and the mail stack"
cat <<EOF
  binary:   $bin
  config:   $demo/privacy-inbox.toml
  mail:     every address at example.test is a mailbox, password "secret"
            (IMAP 127.0.0.1:$imap_port, SMTP 127.0.0.1:$smtp_port)
  download: $link
            (consumer2's link: open it in a browser and press the button; it downloads once)
  try:
    $bin --config $demo/privacy-inbox.toml requests list
    $bin --config $demo/privacy-inbox.toml requests show $access
    scripts/demo.sh send "Ann <ann@example.test>" "Delete my data" "Please delete all my data."
  then: scripts/demo.sh read ann (or consumer, staff, ...); scripts/demo.sh stop ends it all
EOF
