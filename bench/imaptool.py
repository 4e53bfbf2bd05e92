#!/usr/bin/env python3
"""Small IMAP helpers for the benchmarks (the local stack: any user, password "secret").

    imaptool.py count  PORT USER [MAILBOX]          print the number of messages
    imaptool.py wait   PORT USER N TIMEOUT_S        wait until INBOX holds >= N messages
    imaptool.py clear  PORT USER                    expunge everything in INBOX
    imaptool.py append PORT USER DIR [CONNECTIONS]  APPEND every DIR/*.eml but floor.eml
"""
import imaplib
import os
import sys
import threading
import time

PASSWORD = "secret"


def login(port, user):
    m = imaplib.IMAP4("127.0.0.1", int(port))
    m.login(user, PASSWORD)
    return m


def count(m, mailbox="INBOX"):
    typ, data = m.status(mailbox, "(MESSAGES)")
    if typ != "OK":
        raise SystemExit(f"imaptool: STATUS {mailbox} failed: {data}")
    text = data[0].decode()
    return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))


def main():
    cmd, port, user = sys.argv[1], sys.argv[2], sys.argv[3]
    m = login(port, user)
    if cmd == "count":
        print(count(m, sys.argv[4] if len(sys.argv) > 4 else "INBOX"))
    elif cmd == "wait":
        want, limit = int(sys.argv[4]), float(sys.argv[5])
        start = time.monotonic()
        while True:
            n = count(m)
            if n >= want:
                break
            if time.monotonic() - start > limit:
                raise SystemExit(f"imaptool: only {n} of {want} mails after {limit} s")
            time.sleep(0.05)
    elif cmd == "clear":
        m.select("INBOX")
        typ, data = m.search(None, "ALL")
        if data and data[0]:
            m.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
            m.expunge()
    elif cmd == "append":
        folder = sys.argv[4]
        conns = int(sys.argv[5]) if len(sys.argv) > 5 else 4
        files = sorted(
            os.path.join(folder, f)
            for f in os.listdir(folder)
            if f.endswith(".eml") and f != "floor.eml"
        )
        errors = []

        def worker(part):
            c = login(port, user)
            for path in part:
                with open(path, "rb") as f:
                    raw = f.read()
                typ, data = c.append("INBOX", None, None, raw)
                if typ != "OK":
                    errors.append(f"{path}: {data}")
            c.logout()

        # Contiguous slices keep UID order close to file order within each connection.
        size = (len(files) + conns - 1) // max(conns, 1)
        threads = [
            threading.Thread(target=worker, args=(files[i : i + size],))
            for i in range(0, len(files), max(size, 1))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise SystemExit("imaptool: APPEND failed: " + "; ".join(errors[:3]))
    else:
        raise SystemExit(__doc__)
    m.logout()


if __name__ == "__main__":
    main()
