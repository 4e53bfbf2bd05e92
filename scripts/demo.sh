#!/usr/bin/env bash
# The demo: start the local mail stack, drop a few sample requests into privacy@, run the
# bot once, and show the requests it opened and the replies that arrived.
#
#   scripts/demo.sh            (state in /tmp/privacy-inbox-demo; stack on ports 10143/10025)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
demo=${DEMO_DIR:-/tmp/privacy-inbox-demo}
stack=$demo/stack
imap_port=${IMAP_PORT:-10143}
smtp_port=${SMTP_PORT:-10025}

command -v cargo >/dev/null || { echo "demo: cargo is needed (https://rustup.rs)" >&2; exit 1; }
scripts/mailstack.sh install
scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
rm -rf "$demo"
mkdir -p "$demo"
chmod 755 "$demo"
scripts/mailstack.sh start "$stack" "$imap_port" "$smtp_port"
echo "demo: mail stack up (IMAP 127.0.0.1:$imap_port, SMTP 127.0.0.1:$smtp_port)"

bin=$(release_bin)

stack_config "$imap_port" "$smtp_port" "$demo/privacy-inbox.sqlite3" >"$demo/privacy-inbox.toml"

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
}
send "Jane Consumer <consumer@example.test>" "Delete my data" \
  "Hi, please delete my account and all the personal data you have about me. Thanks, Jane"
send "consumer2@example.test" "What do you have on me?" \
  "I would like a copy of all personal information you hold about me."
send "Lucía <consumer3@example.test>" "Privacidad" \
  "Hola, no vendan ni compartan mi información personal, por favor."
send "consumer4@example.test" "Automatic reply: Out of office" \
  "I am out of the office until Monday." "Auto-Submitted: auto-replied"$'\r\n'
echo "demo: 4 mails sent to privacy@example.test (one is an out-of-office reply)"
sleep 1

pi() { "$bin" --config "$demo/privacy-inbox.toml" "$@"; }
echo "== privacy-inbox check"
pi check
echo
pi run --once
echo
echo "== privacy-inbox requests list"
pi requests list
echo
# A staff member completes the Spanish opt-out (the same as replying "/complete ..." to the
# escalation mail); the consumer's completion mail goes out on the next pass.
optout=$(pi requests list --json | python3 -c \
  'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["requester"] == "consumer3@example.test"))')
echo "== privacy-inbox requests complete $optout \"flag set in the ad platform\" --by demo"
pi requests complete "$optout" "flag set in the ad platform" --by demo
pi run --once
echo
echo "== privacy-inbox requests show $optout"
pi requests show "$optout"
echo
echo "== privacy-inbox report --year $(date +%Y)"
pi report --year "$(date +%Y)"
echo
echo "== replies that arrived"
sleep 1
python3 - "$imap_port" <<'PY'
import imaplib, sys, email, email.policy
port = int(sys.argv[1])
def decode(v):
    # The modern policy decodes RFC 2047 words and unfolds, keeping the space between an
    # encoded word and plain text (email.header.decode_header drops it).
    return " ".join(str(v or "").split())
for user in ["consumer", "consumer2", "consumer3", "consumer4", "staff"]:
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(f"{user}@example.test", "secret")
    m.select("INBOX", readonly=True)
    _, data = m.search(None, "ALL")
    ids = data[0].split()
    print(f"{user}@example.test: {len(ids)} mail(s)")
    for i in ids:
        _, d = m.fetch(i, "(BODY.PEEK[HEADER])")
        h = email.message_from_bytes(d[0][1], policy=email.policy.default)
        print(f"   Subject: {decode(h['Subject'])}")
        print(f"   In-Reply-To: {h['In-Reply-To']}   Auto-Submitted: {h['Auto-Submitted']}")
    m.logout()
PY
echo
echo "demo: done. The stack keeps running; stop it with: scripts/mailstack.sh stop $stack"
