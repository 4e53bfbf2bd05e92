#!/usr/bin/env python3
"""Latency probe: delivers mails one by one at a steady pace to privacy@ over SMTP and
watches the consumers' INBOX for the acknowledgement threaded to each (In-Reply-To).

    latency.py IMAP_PORT SMTP_PORT MAIL_DIR INTERVAL_S TIMEOUT_S [STORE]

Senders are lat+<i>@example.test (see gen_mails.py --sender-prefix lat+), so every reply
lands in lat@example.test's INBOX and one IMAP connection sees them all. Delivery time is
when Postfix accepted the mail (end of DATA); arrival is when the reply is visible over
IMAP (polled every 10 ms). Prints one line per mail to stderr and the summary to stdout.
With STORE (the bot's SQLite file), a mail without an acknowledgement is excused when the
bot queued no consumer reply for it (it escalated the letter to staff instead); any other
missing acknowledgement is a failure.
"""
import email
import math
import imaplib
import os
import re
import smtplib
import sqlite3
import sys
import threading
import time

imap_port, smtp_port = int(sys.argv[1]), int(sys.argv[2])
folder, interval, timeout = sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
store = sys.argv[6] if len(sys.argv) > 6 else None

files = sorted(f for f in os.listdir(folder) if f.endswith(".eml") and f != "floor.eml")
sent = {}  # Message-ID -> delivery time
arrived = {}  # Message-ID -> arrival time
senders = {}  # Message-ID -> envelope sender
lock = threading.Lock()
done = threading.Event()


def message_id(raw):
    m = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.I | re.M)
    return m.group(1).decode() if m else None


def watch():
    m = imaplib.IMAP4("127.0.0.1", imap_port)
    m.login("lat@example.test", "secret")
    m.select("INBOX", readonly=True)
    next_uid = 1
    while not done.is_set():
        m.noop()
        typ, data = m.uid("SEARCH", None, f"UID {next_uid}:*")
        uids = [int(u) for u in (data[0] or b"").split() if int(u) >= next_uid]
        if uids:
            seen_at = time.monotonic()
            for uid in uids:
                typ, d = m.uid("FETCH", str(uid), "(BODY.PEEK[HEADER.FIELDS (IN-REPLY-TO)])")
                for part in d:
                    if isinstance(part, tuple):
                        h = email.message_from_bytes(part[1])
                        irt = (h.get("In-Reply-To") or "").strip().strip("<>")
                        with lock:
                            if irt and irt not in arrived:
                                arrived[irt] = seen_at
            next_uid = max(uids) + 1
        else:
            time.sleep(0.01)
    m.logout()


watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
time.sleep(0.5)
start = time.monotonic()
for i, name in enumerate(files):
    due = start + i * interval
    pause = due - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    with open(os.path.join(folder, name), "rb") as f:
        raw = f.read()
    mid = message_id(raw)
    senders[mid] = None
    sender = re.search(rb"^Return-Path:\s*<([^>]*)>", raw, re.I | re.M)
    env_from = sender.group(1).decode() if sender else ""
    senders[mid] = env_from
    with smtplib.SMTP("127.0.0.1", smtp_port) as s:
        s.sendmail(env_from, ["privacy@example.test"], raw)
        with lock:
            sent[mid] = time.monotonic()



def expected(mid):
    """False when the bot queued no consumer reply for this mail (escalated to staff)."""
    if not store:
        return True
    db = sqlite3.connect(store)
    n = db.execute(
        "SELECT count(*) FROM outbox WHERE recipient = ? AND audience = 'consumer'",
        (senders.get(mid) or "",),
    ).fetchone()[0]
    db.close()
    return n > 0


deadline = time.monotonic() + timeout
excused = set()
while time.monotonic() < deadline:
    with lock:
        waiting = [k for k in sent if k not in arrived and k not in excused]
    if not waiting:
        break
    # Give the bot a few seconds before deciding a mail was escalated rather than answered.
    if time.monotonic() - start > len(files) * interval + 5:
        excused.update(k for k in waiting if not expected(k))
    time.sleep(0.05)
done.set()
watcher.join(timeout=5)

lat = []
missing = []
for mid, t in sent.items():
    if mid in arrived:
        lat.append(arrived[mid] - t)
        print(f"latency: {mid} {arrived[mid] - t:.3f} s", file=sys.stderr)
    elif mid in excused:
        print(f"latency: {mid} escalated to staff, no acknowledgement expected", file=sys.stderr)
    else:
        missing.append(mid)
lat.sort()


def pct(p):
    if not lat:
        return float("nan")
    # Nearest rank.
    k = max(0, min(len(lat) - 1, math.ceil(p / 100 * len(lat)) - 1))
    return lat[k]


print(
    f"mails {len(sent)}  acknowledged {len(lat)}  escalated {len(excused)}  p50 {pct(50):.3f} s  p99 {pct(99):.3f} s  "
    f"max {lat[-1] if lat else float('nan'):.3f} s  interval {interval} s"
)
if missing:
    print(f"latency: {len(missing)} mails got no acknowledgement within {timeout} s: "
          + ", ".join(missing[:5]), file=sys.stderr)
    sys.exit(1)
