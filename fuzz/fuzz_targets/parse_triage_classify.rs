//! Raw bytes → parse → triage → classify, plus the other pure functions intake runs on
//! what a mail says. Calls `mail::parse` directly (not the panic-isolating wrapper) so a
//! panic is found here instead of being quarantined in production.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privacy_inbox::classify::Classifier;
use std::sync::OnceLock;

static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let classifier =
        CLASSIFIER.get_or_init(|| Classifier::load(None, 0.6).expect("the shipped rules load"));
    let Ok(mail) = privacy_inbox::mail::parse(data) else {
        return;
    };
    let _ = privacy_inbox::mail::triage::automated(&mail);
    let c = classifier.classify(&mail);
    assert!(
        (0.0..=1.0).contains(&c.confidence),
        "confidence {}",
        c.confidence
    );
    let _ = privacy_inbox::mail::auth::verdict(&mail.headers, Some("mx.example.test"));
    let _ = privacy_inbox::mail::keys::subject_tag(&mail.subject);
    let _ = privacy_inbox::outbound::facts::excerpt(&mail.new_text, 1500);
    if let Some(from) = &mail.from {
        let _ = privacy_inbox::address::bare_address(from);
        let _ = privacy_inbox::address::base_address(from);
        let masked = privacy_inbox::address::mask(from);
        assert!(masked.contains("***"));
    }
    // Bounce matching runs on every machine-made mail.
    if let Some(b) = privacy_inbox::mail::dsn::bounce(data) {
        assert!(
            !b.original_ids.is_empty() && b.original_ids.len() <= privacy_inbox::mail::dsn::MAX_IDS
        );
        assert!(b.original_ids.iter().all(|id| !id.is_empty()));
    }
    let text = String::from_utf8_lossy(data);
    let _ = privacy_inbox::address::redact(&text);
});
