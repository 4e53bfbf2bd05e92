//! The SMTP edge: a pooled lettre transport over rustls, and error classification
//! (transient vs permanent) for the outbox.

use crate::config::{Auth, Endpoint, Secret, Security, SmtpSettings};
use anyhow::{anyhow, Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::smtp_tls::describe;
pub use super::smtp_tls::SMTP_TIMEOUT;

/// Why a send failed, as the outbox needs to know it.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Try again later: 4xx, connection refused, timeout, TLS hiccup.
    #[error("transient: {0}")]
    Transient(String),
    /// Never retry: 5xx (bad recipient, policy rejection) or a message we cannot send.
    #[error("permanent: {0}")]
    Permanent(String),
    /// The connection broke or went silent mid-exchange: the server may or may not have
    /// taken the message. Resending blindly could answer twice, so the outbox leaves the
    /// row unconfirmed and lets the Bcc-copy lookup decide.
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// What a successful [`Smtp::send`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The server refused the transaction with our Bcc copy (this error), and then took the
    /// message without it: sent, but no copy of it is in our mailbox.
    pub copy_refused: Option<String>,
}

/// How long a transport built with a token or a password from `password-env` /
/// `password-command` is used before the secret is fetched again: OAuth2 access tokens
/// (Gmail, Microsoft 365) expire after about an hour, and a rotated password must be picked up.
pub const CREDENTIAL_REFRESH: Duration = Duration::from_secs(10 * 60);

/// A connected (lazily, pooled) SMTP client.
#[derive(Clone)]
pub struct Smtp {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Endpoint,
    connections: u32,
    /// The pooled transport and when its credentials were resolved; `None` = rebuild.
    transport: Mutex<Option<(AsyncSmtpTransport<Tokio1Executor>, Instant)>>,
    envelope_from: Address,
    copy_to: Option<Address>,
    /// With `smtp.ca-file`: connections with our own TLS, so a certificate in it is trusted
    /// as for IMAP (pinned, or as a CA); lettre's TLS cannot take our verifier.
    own_tls: Option<super::smtp_tls::Pool>,
}

impl Smtp {
    /// Builds the transport from settings. Credentials are resolved now (env/command), so a
    /// broken secret source is reported at start, and again every [`CREDENTIAL_REFRESH`].
    pub fn new(s: &SmtpSettings) -> Result<Smtp> {
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
        let transport = build_transport(&s.endpoint, s.connections)?;
        let own_tls = match (&s.endpoint.ca_file, s.endpoint.security) {
            (Some(_), Security::Starttls | Security::Tls) => {
                Some(super::smtp_tls::Pool::new(&s.endpoint, s.connections)?)
            }
            _ => None,
        };
        Ok(Smtp {
            inner: Arc::new(Inner {
                endpoint: s.endpoint.clone(),
                connections: s.connections,
                transport: Mutex::new(Some((transport, Instant::now()))),
                envelope_from,
                copy_to,
                own_tls,
            }),
        })
    }

    /// The current transport, rebuilt (secret fetched again) when due.
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
        let mut slot = match self.inner.transport.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let dynamic = !matches!(
            self.inner.endpoint.auth,
            Auth::None
                | Auth::Password {
                    secret: Secret::Literal(_),
                    ..
                }
        );
        if let Some((t, at)) = slot.as_ref() {
            if !dynamic || at.elapsed() < CREDENTIAL_REFRESH {
                return Ok(t.clone());
            }
        }
        let t = build_transport(&self.inner.endpoint, self.inner.connections)?;
        *slot = Some((t.clone(), Instant::now()));
        Ok(t)
    }

    /// Forgets the transport so the next send fetches the secret again (after an error,
    /// e.g. an expired token).
    fn invalidate(&self) {
        if let Ok(mut g) = self.inner.transport.lock() {
            *g = None;
        }
    }

    /// Sends one message to `recipient` (plus our own copy, in the same transaction).
    ///
    /// When the server refuses that transaction for good and we asked for a copy, the
    /// message is sent once more without the copy: SMTP takes a transaction whole or not at
    /// all, so nothing was delivered yet, and a refusal of the copy address alone (our own
    /// mailbox full, 552 at RCPT) must not cost the consumer their mail. If the second
    /// attempt is accepted, [`Delivery::copy_refused`] says why the copy is missing; if it
    /// is refused too, its own error is returned (the recipient was the problem).
    ///
    /// The trade-off: a mail sent without its copy has no copy for crash recovery to find,
    /// so a crash in the instant between the server's 250 and the outbox recording it
    /// would send it once more. That is only possible while our copy address refuses mail,
    /// and staff are told about that (once a day).
    pub async fn send(&self, recipient: &str, raw: &[u8]) -> Result<Delivery, SendError> {
        let to: Address = recipient
            .parse()
            .map_err(|e| SendError::Permanent(format!("invalid recipient {recipient}: {e}")))?;
        let Some(copy) = self.inner.copy_to.clone() else {
            self.send_to(vec![to], raw).await?;
            return Ok(Delivery::default());
        };
        match self.send_to(vec![to.clone(), copy], raw).await {
            Ok(()) => Ok(Delivery::default()),
            Err(SendError::Permanent(first)) => {
                self.send_to(vec![to], raw).await?;
                Ok(Delivery {
                    copy_refused: Some(first),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// One SMTP transaction to `rcpts`.
    async fn send_to(&self, rcpts: Vec<Address>, raw: &[u8]) -> Result<(), SendError> {
        let env = Envelope::new(Some(self.inner.envelope_from.clone()), rcpts)
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        if let Some(pool) = &self.inner.own_tls {
            return match tokio::time::timeout(SMTP_TIMEOUT * 4, pool.send(&env, raw)).await {
                Err(_) => Err(SendError::Unknown("SMTP exchange timed out".into())),
                Ok(Ok(())) => Ok(()),
                // No connection: the server has not seen the mail.
                Ok(Err(Ok(e))) => Err(SendError::Transient(format!("{e:#}"))),
                Ok(Err(Err(e))) => Err(classify(&e, &self.inner.endpoint.auth)),
            };
        }
        let transport = self
            .transport()
            .map_err(|e| SendError::Transient(format!("{e:#}")))?;
        // lettre's own timeout covers each command; this one bounds the whole exchange.
        match tokio::time::timeout(SMTP_TIMEOUT * 4, transport.send_raw(&env, raw)).await {
            Err(_) => Err(SendError::Unknown("SMTP exchange timed out".into())),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                self.invalidate();
                Err(classify(&e, &self.inner.endpoint.auth))
            }
        }
    }

    /// Checks that the server answers and accepts our login.
    pub async fn test_connection(&self) -> Result<()> {
        if let Some(pool) = &self.inner.own_tls {
            return match tokio::time::timeout(SMTP_TIMEOUT * 3, pool.test_connection()).await {
                Err(_) => Err(anyhow!(
                    "SMTP server did not answer in {:?}",
                    SMTP_TIMEOUT * 3
                )),
                Ok(r) => r,
            };
        }
        let transport = self.transport()?;
        match tokio::time::timeout(SMTP_TIMEOUT, transport.test_connection()).await {
            Err(_) => Err(anyhow!("SMTP server did not answer in {SMTP_TIMEOUT:?}")),
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(anyhow!("SMTP server did not accept NOOP")),
            Ok(Err(e)) => {
                self.invalidate();
                Err(anyhow!("{}", describe(&e, &self.inner.endpoint.auth)))
            }
        }
    }
}

fn build_transport(ep: &Endpoint, connections: u32) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ep.host.clone())
        .port(ep.port)
        .timeout(Some(SMTP_TIMEOUT))
        // lettre parks a connection from a spawned task after each send, so the next send
        // often finds none parked and opens another; with room for only `connections`
        // parked ones, the extras were then closed again (profiled: a new SMTP session
        // every ~25 mails). Twice the room keeps them for reuse; the outbox still runs at
        // most `connections` sends at once.
        .pool_config(
            PoolConfig::new()
                .max_size(connections.saturating_mul(2))
                .min_idle(0),
        );
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
            let pw = secret.resolve().context("SMTP password")?;
            b = b
                .credentials(Credentials::new(username.clone(), pw))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Auth::OAuth2 {
            username,
            token_command,
        } => {
            let token = crate::config::run_secret_command(token_command)
                .context("SMTP oauth2-token-command")?;
            b = b
                .credentials(Credentials::new(username.clone(), token))
                .authentication(vec![Mechanism::Xoauth2]);
        }
    }
    Ok(b.build())
}

/// 5xx: permanent. 4xx, no connection at all, TLS set-up or our own checks: transient (the
/// server did not take it). A broken or silent connection mid-exchange: unknown.
fn classify(e: &lettre::transport::smtp::Error, auth: &Auth) -> SendError {
    let text = describe(e, auth);
    if e.is_permanent() {
        SendError::Permanent(text)
    } else if e.is_response() || e.is_timeout() || e.to_string().starts_with("network error") {
        SendError::Unknown(text)
    } else {
        SendError::Transient(text)
    }
}
