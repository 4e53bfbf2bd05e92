//! Hostile values into every shipped template (every language), then into a composed
//! message: rendering never panics, a subject never carries CR/LF, and no value can add a
//! header to the message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privacy_inbox::outbound::catalog::{self, Sample};
use privacy_inbox::outbound::compose::{AutoKind, Composer, Outgoing};
use privacy_inbox::outbound::templates::Templates;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

static TEMPLATES: OnceLock<Templates> = OnceLock::new();
static COMPOSER: OnceLock<Composer> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let templates = TEMPLATES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        Templates::load(&dir).expect("the shipped templates load")
    });
    let composer = COMPOSER.get_or_init(|| {
        Composer::new("Acme Privacy Team <privacy@example.test>", "example.test").expect("composer")
    });
    // Up to 8 hostile strings, split on 0xFF; the rest are fixed hostile values.
    let text = String::from_utf8_lossy(data);
    let mut parts: Vec<String> = text.split('\u{FFFD}').map(str::to_string).collect();
    let fixed = [
        "x\r\nBcc: evil@attacker.test",
        "{{request_id}}",
        "<script>alert(1)</script>",
        "\u{0}\u{7f}\u{202e}",
    ];
    for f in fixed {
        parts.push(f.to_string());
    }
    let v = |i: usize| parts[i % parts.len()].clone();
    for lang in templates.languages() {
        for name in templates.names(&lang) {
            // Every variable the catalog gives this message; every string in it hostile.
            let Some(entry) = catalog::entry(&name) else {
                continue;
            };
            let mut n = 0;
            let data = hostile(entry.data(Sample::Typical), &mut n, &v);
            let r = templates
                .render(&name, &lang, &data)
                .unwrap_or_else(|e| panic!("{lang}/{name}: {e}"));
            assert!(
                !r.subject.contains(['\r', '\n']),
                "{lang}/{name}: CR/LF in the subject {:?}",
                r.subject
            );
            let refs = vec![v(0), v(1)];
            let out = Outgoing {
                to: "consumer@example.test",
                rendered: &r,
                tag: Some("PRIV-2026-00001"),
                in_reply_to: Some(&parts[0]),
                references: &refs,
                auto: AutoKind::Replied,
                attach_rfc822: Some(data_bytes(&parts)),
                reply_to: None,
            };
            if let Ok(raw) = composer.build("fuzz.1@example.test", &out) {
                let text = String::from_utf8_lossy(&raw);
                let head = text.split("\r\n\r\n").next().unwrap_or("");
                for line in head.split("\r\n") {
                    let lower = line.to_ascii_lowercase();
                    assert!(
                        !lower.starts_with("bcc:") && !lower.starts_with("cc:"),
                        "{lang}/{name}: injected header {line:?}"
                    );
                }
            }
        }
    }
});

/// Every string in a sample value replaced by the next fuzzed one; other values kept, so the
/// template's branches stay reachable.
fn hostile(value: Value, n: &mut usize, v: &dyn Fn(usize) -> String) -> Value {
    match value {
        Value::String(_) => {
            *n += 1;
            Value::String(v(*n))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|i| hostile(i, n, v)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, i)| (k, hostile(i, n, v)))
                .collect(),
        ),
        other => other,
    }
}

fn data_bytes(parts: &[String]) -> &[u8] {
    parts.first().map(|s| s.as_bytes()).unwrap_or(b"")
}
