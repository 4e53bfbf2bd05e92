//! Hostile input never panics: truncated, bit-flipped and spliced corpus mails, odd MIME, and
//! huge bodies all parse (or fail cleanly) and classify.

use privacy_inbox::classify::Classifier;
use std::path::Path;

fn check(c: &Classifier, raw: &[u8]) {
    if let Ok(mail) = privacy_inbox::mail::parse(raw) {
        let got = c.classify(&mail);
        assert!((0.0..=1.0).contains(&got.confidence));
    }
}

#[test]
fn mangled_mail_never_panics() {
    let c = Classifier::builtin().expect("rules");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/classify");
    for e in std::fs::read_dir(&fixtures)
        .expect("fixtures dir")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "eml") {
            seeds.push(std::fs::read(e.path()).expect("read"));
        }
    }
    assert!(!seeds.is_empty());
    // A tiny deterministic PRNG (xorshift) so failures reproduce.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in &seeds {
        for cut in [
            0,
            1,
            10,
            seed.len() / 3,
            seed.len() / 2,
            seed.len().saturating_sub(1),
        ] {
            check(&c, seed.get(..cut).unwrap_or(seed));
        }
        for _ in 0..30 {
            let mut m = seed.clone();
            for _ in 0..8 {
                let len = m.len().max(1) as u64;
                let i = (next() % len) as usize;
                let b = (next() & 0xff) as u8;
                if let Some(x) = m.get_mut(i) {
                    *x = b;
                }
            }
            check(&c, &m);
        }
    }
    let big_line = format!(
        "From: a@b.c\r\nSubject: x\r\n\r\n{}",
        "delete my data, not ".repeat(200_000)
    );
    check(&c, big_line.as_bytes());
    let deep = format!(
        "From: a@b.c\r\nContent-Type: text/html\r\n\r\n{}please unsubscribe me{}",
        "<blockquote>".repeat(5000),
        "</blockquote>".repeat(5000)
    );
    check(&c, deep.as_bytes());
    let utf = "From: a@b.c\r\nSubject: ¿ß?\r\n\r\nÜñíçødé 🙂 ".repeat(3) + &"é".repeat(100_000);
    check(&c, utf.as_bytes());
    let nested = "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n".repeat(50);
    check(&c, nested.as_bytes());
}
