//! The SMTP edge: a pooled lettre transport over rustls, and error classification
//! (transient vs permanent) for the outbox.

use crate::config::{Auth, Endpoint, Security, SmtpSettings};
use anyhow::{anyhow, Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;

/// Per-command timeout for SMTP: a server that stops answering must not hang the outbox.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a send failed, as the outbox needs to know it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Try again later: 4xx, connection refused, timeout, TLS hiccup.
    #[error("transient: {0}")]
    Transient(String),
    /// Never retry: 5xx (bad recipient, policy rejection) or a message we cannot send.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A connected (lazily, pooled) SMTP client.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    envelope_from: Address,
    copy_to: Option<Address>,
}

impl Smtp {
    /// Builds the transport from settings. Credentials are resolved now (env/command).
    pub fn new(s: &SmtpSettings) -> Result<Smtp> {
        let ep: &Endpoint = &s.endpoint;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ep.host.clone())
            .port(ep.port)
            .timeout(Some(SMTP_TIMEOUT))
            .pool_config(PoolConfig::new().max_size(s.connections).min_idle(0));
        if ep.security != Security::None {
            let mut tp = TlsParameters::builder(ep.host.clone());
            if let Some(ca) = &ep.ca_file {
                let pem = std::fs::read(ca)
                    .with_context(|| format!("Cannot read smtp.ca-file {}", ca.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| anyhow!("smtp.ca-file {}: {e}", ca.display()))?;
                tp = tp.add_root_certificate(cert);
            }
            let params = tp
                .build_rustls()
                .map_err(|e| anyhow!("Cannot set up TLS for SMTP: {e}"))?;
            b = b.tls(match ep.security {
                Security::Starttls => Tls::Required(params),
                _ => Tls::Wrapper(params),
            });
        }
        match &ep.auth {
            Auth::None => {}
            Auth::Password { username, secret } => {
                b = b
                    .credentials(Credentials::new(username.clone(), secret.resolve()?))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            Auth::OAuth2 {
                username,
                token_command,
            } => {
                let token = crate::config::run_secret_command(token_command)?;
                b = b
                    .credentials(Credentials::new(username.clone(), token))
                    .authentication(vec![Mechanism::Xoauth2]);
            }
        }
        let envelope_from: Address = s
            .from_address
            .parse()
            .map_err(|e| anyhow!("smtp.from address: {e}"))?;
        let copy_to = match &s.copy_to {
            Some(c) => Some(
                c.parse::<Address>()
                    .map_err(|e| anyhow!("smtp.copy-to: {e}"))?,
            ),
            None => None,
        };
        Ok(Smtp {
            transport: b.build(),
            envelope_from,
            copy_to,
        })
    }

    /// Sends one message to `recipient` (plus our own copy, in the same transaction).
    pub async fn send(&self, recipient: &str, raw: &[u8]) -> Result<(), SendError> {
        let to: Address = recipient
            .parse()
            .map_err(|e| SendError::Permanent(format!("invalid recipient {recipient}: {e}")))?;
        let mut rcpts = vec![to];
        if let Some(c) = &self.copy_to {
            rcpts.push(c.clone());
        }
        let env = Envelope::new(Some(self.envelope_from.clone()), rcpts)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        // lettre's own timeout covers each command; this one bounds the whole exchange.
        match tokio::time::timeout(SMTP_TIMEOUT * 4, self.transport.send_raw(&env, raw)).await {
            Err(_) => Err(SendError::Transient("SMTP exchange timed out".into())),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
        }
    }

    /// Checks that the server answers and accepts our login.
    pub async fn test_connection(&self) -> Result<()> {
        match tokio::time::timeout(SMTP_TIMEOUT, self.transport.test_connection()).await {
            Err(_) => Err(anyhow!("SMTP server did not answer in {SMTP_TIMEOUT:?}")),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(anyhow!("SMTP server did not accept NOOP")),
            Ok(Err(e)) => Err(anyhow!("SMTP: {e}")),
        }
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = e.to_string();
    if e.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}
