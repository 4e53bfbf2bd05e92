#!/usr/bin/env python3
"""Generates N realistic, varied request mails for the benchmarks.

    bench/gen_mails.py N OUT_DIR [--corpus DIR] [--sender-prefix P] [--only-handle]

Sources: the project's fixtures (fixtures/classify/*.eml) plus, when it exists, the shared
corpus of real letters (../shared/corpus/eml/*.eml; its automated/ folder is not used: the
backlog is request mail). Mails are taken round-robin, so every source letter is used about
equally often. Each generated mail gets a distinct sender (P<i>@example.test, so the stack
can deliver the reply), a distinct Message-ID and To: privacy@example.test; the body is kept
byte for byte. Writes OUT_DIR/00000001.eml ... and OUT_DIR/floor.eml (the mail closest to
the average size, for the smtp-source floor run), and prints one summary line.
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def handled(labels_path):
    """Files whose expected action is `handle` (first two columns of a labels file)."""
    out = set()
    with open(labels_path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) >= 2 and cols[1] == "handle":
                out.add(cols[0])
    return out


def emls(folder, labels_path, only_handle):
    """The .eml files in `folder`, sorted; with `only_handle`, those labelled `handle`."""
    keep = handled(labels_path) if only_handle else None
    return sorted(
        os.path.join(folder, f)
        for f in os.listdir(folder)
        if f.endswith(".eml") and (keep is None or f in keep)
    )


def sources(corpus, only_handle=False):
    fixtures = os.path.join(ROOT, "fixtures", "classify")
    files = emls(fixtures, os.path.join(fixtures, "expected.tsv"), only_handle)
    used_corpus = False
    eml = os.path.join(corpus, "eml")
    if os.path.isdir(eml):
        files += emls(eml, os.path.join(corpus, "labels.tsv"), only_handle)
        used_corpus = True
    else:
        print(
            f"gen_mails: notice: corpus {corpus} not found; using the project's fixtures only",
            file=sys.stderr,
        )
    out = []
    for path in files:
        with open(path, "rb") as f:
            raw = f.read()
        head, sep, body = split_head(raw)
        if not sep:
            continue
        out.append((os.path.basename(path), head, body))
    return out, used_corpus


def split_head(raw):
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = raw.find(sep)
        if i >= 0:
            return raw[:i], sep, raw[i + len(sep):]
    return raw, b"", b""


DROP = re.compile(rb"^(from|to|cc|message-id|return-path|delivered-to|date):", re.I)


def headers(head):
    """Header fields (each with its folded continuation lines), in order."""
    fields = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    return fields


def display_name(fields):
    for f in fields:
        if f.lower().startswith(b"from:"):
            value = f[5:].strip()
            m = re.match(rb'^"?([^"<]*?)"?\s*<', value)
            if m and m.group(1).strip():
                name = m.group(1).strip()
                if all(32 <= b < 127 for b in name) and b"@" not in name:
                    return name
    return None


def make(i, src, prefix):
    name, head, body = src
    fields = headers(head)
    sender = f"{prefix}{i}@example.test".encode()
    dn = display_name(fields)
    from_line = b"From: " + (b'"' + dn + b'" <' + sender + b">" if dn else sender)
    kept = [f for f in fields if not DROP.match(f)]
    top = [
        b"Return-Path: <" + sender + b">",
        from_line,
        b"To: privacy@example.test",
        b"Date: Mon, 02 Nov 2026 10:00:00 +0000",
        f"Message-ID: <bench-{i}-{prefix}@example.test>".encode(),
    ]
    # Keep a null return path (a bounce) as it was: it is part of what the mail says.
    if any(re.match(rb"^return-path:\s*<>", f, re.I) for f in fields):
        top[0] = b"Return-Path: <>"
    body = re.sub(rb"\r?\n", b"\r\n", body)
    return b"\r\n".join(top + kept) + b"\r\n\r\n" + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus"))
    ap.add_argument("--sender-prefix", default="user")
    ap.add_argument(
        "--only-handle",
        action="store_true",
        help="only letters the bot acknowledges by itself (expected action `handle`)",
    )
    a = ap.parse_args()
    srcs, used_corpus = sources(a.corpus, a.only_handle)
    if not srcs:
        sys.exit("gen_mails: no source mails found")
    os.makedirs(a.out, exist_ok=True)
    sizes = []
    for i in range(1, a.n + 1):
        raw = make(i, srcs[(i - 1) % len(srcs)], a.sender_prefix)
        sizes.append((len(raw), i))
        with open(os.path.join(a.out, f"{i:08d}.eml"), "wb") as f:
            f.write(raw)
    total = sum(s for s, _ in sizes)
    avg = total // max(a.n, 1)
    typical = min(sizes, key=lambda s: abs(s[0] - avg))[1]
    with open(os.path.join(a.out, f"{typical:08d}.eml"), "rb") as f:
        floor = f.read()
    # smtp-source -F appends CRLF to each line itself: write LF line ends.
    with open(os.path.join(a.out, "floor.eml"), "wb") as f:
        f.write(floor.replace(b"\r\n", b"\n"))
    print(
        f"gen_mails: {a.n} mails from {len(srcs)} source letters "
        f"({'fixtures + corpus' if used_corpus else 'fixtures only'}), "
        f"avg {avg} bytes; floor.eml {len(floor)} bytes"
    )


if __name__ == "__main__":
    main()
