//! SMTP connections whose TLS is ours: used when `smtp.ca-file` is set, so a certificate in
//! it is trusted exactly as for IMAP ([`crate::tls`]: pinned or as a CA). lettre's own TLS
//! set-up cannot take a custom verifier, so this opens the TCP connection, does implicit TLS
//! or STARTTLS itself, and hands the encrypted stream to lettre's SMTP client; a small pool
//! keeps connections for reuse as lettre's pool does.

use crate::config::{Auth, Endpoint, Security};
use anyhow::{anyhow, bail, Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::extension::ClientId;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;

/// Per-command timeout for SMTP: a server that stops answering must not hang the outbox.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Per step of the set-up (TCP connect, each reply before TLS, the TLS handshake).
const STEP_TIMEOUT: Duration = SMTP_TIMEOUT;
/// A parked connection older than this is closed rather than reused: servers drop idle
/// SMTP sessions (Postfix after 300 s), and a NOOP on a dead one costs a round trip.
const IDLE_MAX: Duration = Duration::from_secs(60);
/// The longest SMTP reply read before TLS (a hostile server must not fill memory).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// The TLS stream lettre's client reads and writes. After STARTTLS the server sends no new
/// greeting but lettre's client waits for one, so `greeting` is served first.
#[derive(Debug)]
struct Stream {
    greeting: &'static [u8],
    inner: tokio_rustls::client::TlsStream<TcpStream>,
    peer: SocketAddr,
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.greeting.is_empty() {
            let n = self.greeting.len().min(buf.remaining());
            let (now, rest) = self.greeting.split_at(n);
            buf.put_slice(now);
            self.greeting = rest;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Stream {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

async fn step<T>(
    what: &str,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Err(_) => bail!("SMTP {what} timed out after {STEP_TIMEOUT:?}"),
        Ok(r) => r.with_context(|| format!("SMTP {what} failed")),
    }
}

/// Reads one (possibly multi-line) SMTP reply; its lines.
async fn reply(r: &mut BufReader<TcpStream>, what: &str) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let n = step(what, r.read_line(&mut line)).await?;
        if n == 0 {
            bail!("SMTP server closed the connection during {what}");
        }
        total += n;
        if total > MAX_REPLY_BYTES {
            bail!("SMTP reply to {what} is too long");
        }
        let line = line.trim_end().to_string();
        let last = line.as_bytes().get(3) != Some(&b'-');
        lines.push(line);
        if last {
            return Ok(lines);
        }
    }
}

fn expect(lines: &[String], code: &str, what: &str) -> Result<()> {
    match lines.last() {
        Some(l) if l.starts_with(code) => Ok(()),
        _ => bail!("SMTP server answered {what} with: {}", lines.join(" / ")),
    }
}

/// A pool of SMTP connections over our own TLS.
pub struct Pool {
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

impl Pool {
    /// A pool for `endpoint` (TLS or STARTTLS, with a `ca-file`).
    pub fn new(endpoint: &Endpoint, connections: u32) -> Result<Pool> {
        if endpoint.security == Security::None {
            bail!("smtp: our own TLS needs security = \"tls\" or \"starttls\"");
        }
        Ok(Pool {
            endpoint: endpoint.clone(),
            tls: crate::tls::client_config("smtp", endpoint.ca_file.as_deref())?,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            max_idle: connections as usize * 2,
        })
    }

    /// A connection ready for a transaction: a parked one that still answers NOOP, or a
    /// new one (TLS, EHLO, AUTH).
    pub async fn take(&self) -> Result<AsyncSmtpConnection> {
        loop {
            let parked = {
                let mut idle = match self.idle.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                idle.retain(|(_, at)| at.elapsed() < IDLE_MAX);
                idle.pop()
            };
            match parked {
                Some((mut c, _)) => {
                    if tokio::time::timeout(STEP_TIMEOUT, c.test_connected())
                        .await
                        .unwrap_or(false)
                    {
                        return Ok(c);
                    }
                }
                None => return self.connect().await,
            }
        }
    }

    /// Parks a connection after a good transaction.
    pub fn put_back(&self, c: AsyncSmtpConnection) {
        if c.has_broken() {
            return;
        }
        let mut idle = match self.idle.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if idle.len() < self.max_idle {
            idle.push((c, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection> {
        let ep = &self.endpoint;
        let tcp = step("connect", TcpStream::connect((ep.host.as_str(), ep.port))).await?;
        let peer = tcp.peer_addr().context("SMTP peer address")?;
        let (tcp, greeting): (TcpStream, &'static [u8]) = match ep.security {
            Security::Starttls => (self.starttls(tcp).await?, b"220 STARTTLS done\r\n"),
            _ => (tcp, b""),
        };
        let name = rustls::pki_types::ServerName::try_from(ep.host.clone())
            .map_err(|e| anyhow!("Bad TLS server name {}: {e}", ep.host))?;
        let inner = step(
            "TLS handshake",
            tokio_rustls::TlsConnector::from(self.tls.clone()).connect(name, tcp),
        )
        .await
        .with_context(|| {
            format!(
                "No TLS with SMTP server {}:{} (smtp.ca-file is set: the server's certificate \
                 must be in it, or be signed by a CA in it)",
                ep.host, ep.port
            )
        })?;
        let stream = Stream {
            greeting,
            inner,
            peer,
        };
        let mut conn = match tokio::time::timeout(
            STEP_TIMEOUT,
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
        )
        .await
        {
            Err(_) => bail!("SMTP greeting and EHLO timed out after {STEP_TIMEOUT:?}"),
            Ok(r) => r.map_err(|e| anyhow!("{}", describe(&e, &ep.auth)))?,
        };
        let login = match &ep.auth {
            Auth::None => None,
            Auth::Password { username, secret } => Some((
                vec![Mechanism::Plain, Mechanism::Login],
                Credentials::new(username.clone(), secret.resolve().context("SMTP password")?),
            )),
            Auth::OAuth2 {
                username,
                token_command,
            } => Some((
                vec![Mechanism::Xoauth2],
                Credentials::new(
                    username.clone(),
                    crate::config::run_secret_command(token_command)
                        .context("SMTP oauth2-token-command")?,
                ),
            )),
        };
        if let Some((mechanisms, credentials)) = login {
            match tokio::time::timeout(STEP_TIMEOUT, conn.auth(&mechanisms, &credentials)).await {
                Err(_) => bail!("SMTP AUTH timed out after {STEP_TIMEOUT:?}"),
                Ok(Err(e)) => bail!("{}", describe(&e, &ep.auth)),
                Ok(Ok(_)) => {}
            }
        }
        Ok(conn)
    }

    /// Greeting, EHLO and STARTTLS in plain text; returns the socket ready for TLS.
    async fn starttls(&self, tcp: TcpStream) -> Result<TcpStream> {
        let mut r = BufReader::new(tcp);
        expect(
            &reply(&mut r, "the greeting").await?,
            "220",
            "the connection",
        )?;
        let ehlo = format!("EHLO {}\r\n", self.hello);
        step("EHLO", r.get_mut().write_all(ehlo.as_bytes())).await?;
        let lines = reply(&mut r, "EHLO").await?;
        expect(&lines, "250", "EHLO")?;
        if !lines.iter().any(|l| {
            l.get(4..)
                .is_some_and(|x| x.eq_ignore_ascii_case("STARTTLS"))
        }) {
            bail!(
                "SMTP server {}:{} does not offer STARTTLS",
                self.endpoint.host,
                self.endpoint.port
            );
        }
        step("STARTTLS", r.get_mut().write_all(b"STARTTLS\r\n")).await?;
        expect(&reply(&mut r, "STARTTLS").await?, "220", "STARTTLS")?;
        // Anything sent after the 220 before the handshake would be read as if it came
        // over TLS (STARTTLS command injection): refuse it.
        if !r.buffer().is_empty() {
            bail!("SMTP server sent data after STARTTLS before the TLS handshake");
        }
        Ok(r.into_inner())
    }

    /// One transaction: MAIL, RCPT (each), DATA. Errors are lettre's, for the caller to
    /// classify; a connection that could not be opened is `Err(Ok(reason))`.
    pub async fn send(
        &self,
        envelope: &Envelope,
        raw: &[u8],
    ) -> std::result::Result<(), std::result::Result<anyhow::Error, lettre::transport::smtp::Error>>
    {
        let mut conn = match tokio::time::timeout(STEP_TIMEOUT * 3, self.take()).await {
            Err(_) => return Err(Ok(anyhow!("SMTP connection set-up timed out"))),
            Ok(Err(e)) => return Err(Ok(e)),
            Ok(Ok(c)) => c,
        };
        match conn.send(envelope, raw).await {
            Ok(_) => {
                self.put_back(conn);
                Ok(())
            }
            Err(e) => Err(Err(e)),
        }
    }

    /// Opens a connection (TLS, EHLO, AUTH), sends NOOP and QUIT.
    pub async fn test_connection(&self) -> Result<()> {
        let mut c = self.connect().await?;
        if !c.test_connected().await {
            bail!("SMTP server did not accept NOOP");
        }
        let _ = c.quit().await;
        Ok(())
    }
}

/// A readable account of a lettre error: lettre answers an XOAUTH2 error challenge (334)
/// with "does not expect a challenge", which means the server rejected the token.
pub(crate) fn describe(e: &lettre::transport::smtp::Error, auth: &Auth) -> String {
    let text = e.to_string();
    if matches!(auth, Auth::OAuth2 { .. }) && text.contains("does not expect a challenge") {
        return format!(
            "SMTP server rejected the XOAUTH2 access token (error challenge); check \
             oauth2-token-command and the token's scope ({text})"
        );
    }
    // lettre's Display already includes the first source; add the deeper ones.
    let mut out = format!("SMTP: {text}");
    let mut src = std::error::Error::source(e).and_then(|s| s.source());
    while let Some(s) = src {
        out.push_str(&format!(": {s}"));
        src = s.source();
    }
    out
}
