//! DKIM signing of outgoing mail (RFC 6376; ed25519-sha256 per RFC 8463) with lettre's
//! `dkim` module. The key is read once, where the daemon starts ([`load`]), and by
//! `privacy-inbox check`; a bad key is reported as a problem of the config file's
//! `dkim.key-file`.

use crate::config::{ConfigError, DkimAlgorithm, DkimSettings, Settings};
use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;

/// Headers covered by the signature. A listed header that a message lacks is signed as
/// absent, so adding it later (e.g. a Reply-To) breaks the signature, as it should.
/// `Content-Type` is left out: lettre emits it with the MIME body, not as a message header.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Auto-Submitted",
    "MIME-Version",
];

/// DER prefix of a PKCS#8 Ed25519 private key (RFC 8410); the 32-byte seed follows.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The signing config of `[dkim]`, or `None` without it. A key that cannot be read or used
/// is a [`ConfigError`] naming the config file, the key `dkim.key-file` and the key file,
/// worded as when the config file itself is wrong.
pub fn load(settings: &Settings) -> Result<Option<DkimConfig>> {
    let Some(d) = &settings.dkim else {
        return Ok(None);
    };
    match load_config(d) {
        Ok(c) => Ok(Some(c)),
        Err(e) => Err(ConfigError::one(&settings.source, "dkim.key-file", format!("{e:#}")).into()),
    }
}

/// Reads the key and builds the signing config (relaxed/relaxed canonicalization).
pub fn load_config(s: &DkimSettings) -> Result<DkimConfig> {
    let text = std::fs::read_to_string(&s.key_file)
        .with_context(|| format!("Cannot read DKIM key {}", s.key_file.display()))?;
    let key = signing_key(&text, s.algorithm)
        .with_context(|| format!("Unusable DKIM key {}", s.key_file.display()))?;
    let headers = SIGNED_HEADERS
        .iter()
        .map(|h| HeaderName::new_from_ascii_str(h))
        .collect();
    Ok(DkimConfig::new(
        s.selector.clone(),
        s.domain.clone(),
        key,
        headers,
        DkimCanonicalization {
            header: DkimCanonicalizationType::Relaxed,
            body: DkimCanonicalizationType::Relaxed,
        },
    ))
}

fn signing_key(text: &str, algorithm: DkimAlgorithm) -> Result<DkimSigningKey> {
    match algorithm {
        DkimAlgorithm::Rsa => {
            let pkcs1 = if text.contains("BEGIN RSA PRIVATE KEY") {
                text.to_string()
            } else if text.contains("BEGIN PRIVATE KEY") {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                use rsa::pkcs8::DecodePrivateKey as _;
                let key = rsa::RsaPrivateKey::from_pkcs8_pem(text)
                    .map_err(|e| anyhow!("not an RSA PKCS#8 key: {e}"))?;
                key.to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                    .map_err(|e| anyhow!("cannot re-encode the RSA key: {e}"))?
                    .to_string()
            } else {
                bail!(
                    "expected a PEM RSA private key (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)"
                );
            };
            DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
                .map_err(|e| anyhow!("bad RSA key: {e}"))
        }
        DkimAlgorithm::Ed25519 => {
            let seed = if text.contains("BEGIN PRIVATE KEY") {
                let der = pem_body(text, "PRIVATE KEY")?;
                match der.strip_prefix(&ED25519_PKCS8_PREFIX[..]) {
                    Some(seed) if seed.len() == 32 => seed.to_vec(),
                    _ => bail!("not an Ed25519 PKCS#8 key (openssl genpkey -algorithm ed25519)"),
                }
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .context("expected a PKCS#8 PEM or the base64 32-byte seed")?
            };
            if seed.len() != 32 {
                bail!("an Ed25519 seed is 32 bytes, got {}", seed.len());
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(&seed);
            DkimSigningKey::new(&b64, DkimSigningAlgorithm::Ed25519)
                .map_err(|e| anyhow!("bad Ed25519 key: {e}"))
        }
    }
}

/// The DER bytes of the first `-----BEGIN {label}-----` block.
fn pem_body(text: &str, label: &str) -> Result<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| anyhow!("no {begin} line"))?
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .ok_or_else(|| anyhow!("no {end} line"))?
        + start;
    let b64: String = text[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .context("bad base64 in the PEM block")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path, text: &str, algorithm: DkimAlgorithm) -> DkimSettings {
        let key_file = dir.join("key.pem");
        std::fs::write(&key_file, text).expect("write key");
        DkimSettings {
            selector: "s1".into(),
            domain: "example.test".into(),
            key_file,
            algorithm,
        }
    }

    #[test]
    fn keys_of_the_wrong_kind_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = settings(dir.path(), "hello", DkimAlgorithm::Rsa);
        let err = format!("{:#}", load_config(&s).expect_err("not a key"));
        assert!(err.contains("key.pem") && err.contains("PEM RSA"), "{err}");
        let s = settings(dir.path(), "c2hvcnQ=", DkimAlgorithm::Ed25519);
        let err = format!("{:#}", load_config(&s).expect_err("short seed"));
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn an_ed25519_seed_in_base64_is_accepted() {
        let dir = tempfile::tempdir().expect("tmp");
        let seed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let s = settings(dir.path(), &seed, DkimAlgorithm::Ed25519);
        load_config(&s).expect("valid seed");
    }
}
