//! TLS for both mail protocols: one server-certificate verifier, so IMAP and SMTP trust a
//! `ca-file` the same way, and `check` can say which certificate was trusted and why.
//!
//! A certificate in `ca-file` is trusted in two ways:
//! - **pinned**: a server that presents exactly that certificate is trusted (its name must
//!   match the host). Self-hosted servers often use a self-signed certificate made with
//!   `openssl req -x509`, which marks it as a CA; webpki refuses a CA certificate as a
//!   server's own (`CaUsedAsEndEntity`), so without the pin such a server could not be used.
//! - **as a CA**: a chain to it is checked the usual way (dates, name, signatures).
//!
//! Otherwise the built-in web roots decide.

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What the last handshake of each protocol trusted (`imap`, `smtp`), for `check`.
static TRUSTED: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// What the last TLS handshake for `proto` (`imap`, `smtp`) trusted, e.g.
/// `certificate SHA-256 AB:…:12 pinned in imap.ca-file`.
pub fn last_trusted(proto: &str) -> Option<String> {
    match TRUSTED.lock() {
        Ok(g) => g.get(proto).cloned(),
        Err(p) => p.into_inner().get(proto).cloned(),
    }
}

fn record(proto: &str, what: String) {
    let mut g = match TRUSTED.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    g.insert(proto.to_string(), what);
}

/// The SHA-256 fingerprint of a certificate as `openssl x509 -fingerprint -sha256` prints it.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The certificates of a PEM file, in order.
pub fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("Cannot read CA file {}", path.display()))?;
    let mut out = Vec::new();
    for c in certs {
        out.push(c.with_context(|| format!("Bad certificate in {}", path.display()))?);
    }
    if out.is_empty() {
        bail!("No certificate found in CA file {}", path.display());
    }
    Ok(out)
}

/// The verifier behind [`client_config`].
#[derive(Debug)]
pub struct Verifier {
    /// `imap` or `smtp`: names the config key in what it records and says.
    proto: String,
    /// Every certificate of `ca-file` (DER): trusted as a server's own certificate.
    pinned: Vec<Vec<u8>>,
    /// Chains to a `ca-file` certificate, when it holds any usable as a trust anchor.
    private: Option<Arc<WebPkiServerVerifier>>,
    /// Chains to the built-in web roots.
    public: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    /// A verifier trusting `ca_file` (pinned and as CAs) and the built-in web roots.
    pub fn new(proto: &str, ca_file: Option<&Path>, provider: Arc<CryptoProvider>) -> Result<Self> {
        let mut web = rustls::RootCertStore::empty();
        web.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let public = WebPkiServerVerifier::builder_with_provider(Arc::new(web), provider.clone())
            .build()
            .map_err(|e| anyhow!("TLS verifier: {e}"))?;
        let mut pinned = Vec::new();
        let mut private = None;
        if let Some(path) = ca_file {
            let certs = read_pem(path)?;
            let mut roots = rustls::RootCertStore::empty();
            for c in &certs {
                pinned.push(c.as_ref().to_vec());
                // A certificate that cannot be a trust anchor can still be pinned.
                let _ = roots.add(c.clone());
            }
            if !roots.is_empty() {
                private = Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| anyhow!("TLS verifier for {}: {e}", path.display()))?,
                );
            }
        }
        Ok(Verifier {
            proto: proto.to_string(),
            pinned,
            private,
            public,
            provider,
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint(end_entity.as_ref());
        if self
            .pinned
            .iter()
            .any(|p| p.as_slice() == end_entity.as_ref())
        {
            // Exactly the certificate the admin pinned: trusted as itself. It must still
            // name the server, and the handshake signatures are still checked (below).
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_name(&cert, server_name)?;
            record(
                &self.proto,
                format!("certificate SHA-256 {fp} pinned in {}.ca-file", self.proto),
            );
            return Ok(ServerCertVerified::assertion());
        }
        let mut private_error = None;
        if let Some(private) = &self.private {
            match private.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(v) => {
                    record(
                        &self.proto,
                        format!(
                            "certificate SHA-256 {fp} signed by a CA in {}.ca-file",
                            self.proto
                        ),
                    );
                    return Ok(v);
                }
                Err(e) => private_error = Some(e),
            }
        }
        match self.public.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => {
                record(
                    &self.proto,
                    format!("certificate SHA-256 {fp} signed by a built-in web root"),
                );
                Ok(v)
            }
            // With a ca-file, its verdict is the one that explains the failure.
            Err(e) => Err(private_error.unwrap_or(e)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A rustls client config for `proto` (`imap`, `smtp`) with the [`Verifier`] of `ca_file`.
pub fn client_config(proto: &str, ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier::new(proto, ca_file, provider.clone())?;
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_read_as_openssl_prints_them() {
        let fp = fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "nothing here\n").expect("write");
        let err = client_config("imap", Some(&p)).expect_err("no certificate");
        assert!(
            format!("{err:#}").contains("No certificate found"),
            "{err:#}"
        );
    }
}
