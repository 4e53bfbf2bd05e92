#!/usr/bin/env bash
# The demo: start the local mail stack, drop a few sample requests into privacy@, run the
# bot once, and show the requests it opened and the mails that arrived (with the texts a
# consumer and staff read).
#
#   scripts/demo.sh              run it (state in /tmp/privacy-inbox-demo; stack on 10143/10025)
#   scripts/demo.sh read USER    print every mail in USER@example.test's INBOX of the demo
#                                stack, whole texts (USER: consumer, consumer2, staff, privacy…)
#   scripts/demo.sh stop         stop the demo's mail stack
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
demo=${DEMO_DIR:-/tmp/privacy-inbox-demo}
stack=$demo/stack
imap_port=${IMAP_PORT:-10143}
smtp_port=${SMTP_PORT:-10025}

# read_mail USER [SUBJECT_PART [MAX]]: the mails of USER's INBOX (their subject containing
# SUBJECT_PART, at most MAX of them), each with its main headers and its plain-text body.
read_mail() {
  python3 - "$imap_port" "$@" <<'PY'
import imaplib, sys, email, email.policy
port, user = int(sys.argv[1]), sys.argv[2]
part = sys.argv[3] if len(sys.argv) > 3 else ""
most = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
address = user if "@" in user else f"{user}@example.test"
m = imaplib.IMAP4("127.0.0.1", port)
m.login(address, "secret")
m.select("INBOX", readonly=True)
_, data = m.search(None, "ALL")
shown = 0
for i in data[0].split():
    _, d = m.fetch(i, "(BODY.PEEK[])")
    msg = email.message_from_bytes(d[0][1], policy=email.policy.default)
    subject = " ".join(str(msg["Subject"] or "").split())
    if part not in subject or shown >= most:
        continue
    shown += 1
    print(f"  ┌─ {address}, mail {shown}")
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

case ${1:-run} in
  read)
    [[ $# -ge 2 ]] || { echo "usage: scripts/demo.sh read USER" >&2; exit 2; }
    read_mail "$2"
    exit 0
    ;;
  stop)
    scripts/mailstack.sh stop "$stack"
    exit 0
    ;;
  run) ;;
  *) echo "usage: scripts/demo.sh [run | read USER | stop]" >&2; exit 2 ;;
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
scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
rm -rf "$demo"
mkdir -p "$demo"
chmod 755 "$demo"
scripts/mailstack.sh start "$stack" "$imap_port" "$smtp_port"
stack_config "$imap_port" "$smtp_port" "$demo/privacy-inbox.sqlite3" >"$demo/privacy-inbox.toml"
echo "config: $demo/privacy-inbox.toml"

send() { # from subject body [extra header]
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
say "A staff member completes the opt-out $optout at the command line" \
  "(the same as replying \"/complete …\" to staff's mail), then one more pass sends the consumer's notice"
pi requests complete "$optout" "flag set in the ad platform" --by demo
pi run --once

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

say "Done in $((SECONDS - start)) s. The stack keeps running; read any mailbox whole with" \
  "'scripts/demo.sh read consumer' (or consumer2, consumer3, consumer4, staff, privacy)," \
  "stop it with 'scripts/demo.sh stop'."
