//! The IMAP edge: connect (plain, STARTTLS or TLS with rustls; LOGIN or XOAUTH2), and the
//! few operations intake needs, each bounded by a timeout because async-imap has none.

use crate::config::{Auth, Endpoint, ImapSettings, Security};
use crate::shutdown::Shutdown;
use anyhow::{anyhow, bail, Context, Result};
use async_imap::types::Fetch;
use futures::TryStreamExt;
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Timeout for one IMAP command: async-imap has no timeouts of its own, and a server or NAT
/// that silently drops the connection would otherwise hang the daemon forever.
pub const IMAP_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout for a large `UID FETCH` of bodies (a batch can be many megabytes).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(300);
/// Timeout for starting IDLE: the server answers `+ idling` at once, and a connection that
/// died during the pass (server restart) should be noticed in seconds, not a minute.
pub const IDLE_START_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout for the TCP connect and TLS handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A byte stream, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}

/// A logged-in IMAP session.
pub type Session = async_imap::Session<Box<dyn Stream>>;

async fn timed<T, E: Into<anyhow::Error>>(
    what: &str,
    limit: Duration,
    fut: impl std::future::Future<Output = std::result::Result<T, E>>,
) -> Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Err(_) => Err(anyhow!("IMAP {what} timed out after {limit:?}")),
        Ok(r) => r.map_err(|e| e.into().context(format!("IMAP {what} failed"))),
    }
}

/// A rustls client config trusting the built-in web roots plus an optional CA file, whose
/// certificates are also pinned ([`crate::tls`], the same for SMTP).
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>> {
    crate::tls::client_config("imap", ca_file)
}

async fn tls_wrap(tcp: TcpStream, ep: &Endpoint) -> Result<Box<dyn Stream>> {
    let cfg = tls_config(ep.ca_file.as_deref())?;
    let name = rustls_pki_types::ServerName::try_from(ep.host.clone())
        .map_err(|e| anyhow!("Bad TLS server name {}: {e}", ep.host))?;
    let conn = tokio_rustls::TlsConnector::from(cfg);
    let tls = timed("TLS handshake", CONNECT_TIMEOUT, conn.connect(name, tcp))
        .await
        .with_context(|| {
            format!(
                "No TLS with IMAP server {}:{} (for a private CA, set imap.ca-file)",
                ep.host, ep.port
            )
        })?;
    Ok(Box::new(tls))
}

/// SASL XOAUTH2 (Gmail, Microsoft 365): the first continuation gets the initial client
/// response; a second one is the server's error (a base64 JSON status), which is kept for
/// the error message and answered with an empty line so the server can send its NO.
struct XOAuth2 {
    user: String,
    token: String,
    sent: bool,
    error: Arc<std::sync::Mutex<Option<String>>>,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, challenge: &[u8]) -> String {
        if self.sent {
            if let Ok(mut e) = self.error.lock() {
                *e = Some(String::from_utf8_lossy(challenge).into_owned());
            }
            return String::new();
        }
        self.sent = true;
        xoauth2_response(&self.user, &self.token)
    }
}

/// The XOAUTH2 initial client response (before base64).
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// Connects, upgrades to TLS as configured and logs in.
pub async fn connect(ep: &Endpoint) -> Result<Session> {
    let addr = (ep.host.as_str(), ep.port);
    let tcp = timed("connect", CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .with_context(|| format!("Cannot reach IMAP server {}:{}", ep.host, ep.port))?;
    tcp.set_nodelay(true).ok();
    let stream: Box<dyn Stream> = match ep.security {
        Security::Tls => tls_wrap(tcp, ep).await?,
        Security::None => Box::new(tcp),
        Security::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            timed(
                "STARTTLS",
                IMAP_TIMEOUT,
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await
            .context("The server refused STARTTLS")?;
            tls_wrap(client.into_inner(), ep).await?
        }
    };
    let mut client = async_imap::Client::new(stream);
    if ep.security != Security::Starttls {
        greeting(&mut client).await?;
    }
    let session = match &ep.auth {
        Auth::Password { username, secret } => {
            let pw = secret.resolve().context("IMAP password")?;
            match tokio::time::timeout(IMAP_TIMEOUT, client.login(username, pw)).await {
                Err(_) => bail!("IMAP login timed out"),
                Ok(Err((async_imap::error::Error::No(said), _))) => {
                    return Err(LoginRefused {
                        user: username.clone(),
                        said: server_words(&said),
                    }
                    .into())
                }
                Ok(Err((e, _))) => bail!("IMAP login as {username} failed: {e}"),
                Ok(Ok(s)) => s,
            }
        }
        Auth::OAuth2 {
            username,
            token_command,
        } => {
            let token = crate::config::run_secret_command(token_command)
                .context("IMAP oauth2-token-command")?;
            let error = Arc::new(std::sync::Mutex::new(None));
            let auth = XOAuth2 {
                user: username.clone(),
                token,
                sent: false,
                error: error.clone(),
            };
            match tokio::time::timeout(IMAP_TIMEOUT, client.authenticate("XOAUTH2", auth)).await {
                Err(_) => bail!("IMAP XOAUTH2 authentication timed out"),
                Ok(Err((e, _))) => {
                    let detail = error
                        .lock()
                        .ok()
                        .and_then(|g| g.clone())
                        .map(|d| format!(" (server said: {d})"))
                        .unwrap_or_default();
                    if let async_imap::error::Error::No(said) = &e {
                        return Err(LoginRefused {
                            user: format!("{username} (XOAUTH2)"),
                            said: format!("{}{detail}", server_words(said)),
                        }
                        .into());
                    }
                    bail!("IMAP XOAUTH2 authentication as {username} failed: {e}{detail}")
                }
                Ok(Ok(s)) => s,
            }
        }
        Auth::None => bail!("IMAP needs credentials"),
    };
    Ok(session)
}

/// The server answered our login with NO: the username, password or token is wrong (or the
/// account is locked). Trying again does not help until a person fixes it, so `run` stops
/// on it at start ([`is_login_refused`]); later, mid-run, it is retried with backoff.
#[derive(Debug, thiserror::Error)]
#[error("IMAP: the server refused the login for {user}: {said}")]
pub struct LoginRefused {
    /// The username we logged in as.
    pub user: String,
    /// The server's own words, e.g. `[AUTHENTICATIONFAILED] Authentication failed.`
    pub said: String,
}

/// True when `e` (or what it wraps) is a [`LoginRefused`].
pub fn is_login_refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.is::<LoginRefused>())
}

/// The server's words in a NO as async-imap reports them (`code: Some(Alert), info:
/// Some("...")` or `outcome: ...`), as the server wrote them: `[ALERT] ...`. The response
/// codes async-imap does not parse (`[AUTHENTICATIONFAILED]`) are already in the text.
pub fn server_words(no: &str) -> String {
    let code = no
        .strip_prefix("code: Some(")
        .and_then(|r| r.split(|c: char| !c.is_ascii_alphanumeric()).next())
        .filter(|c| !c.is_empty())
        .map(|c| format!("[{}] ", c.to_ascii_uppercase()));
    let info = no.find("info: Some(\"").map(|at| {
        let quoted = &no[at + "info: Some(\"".len()..];
        let mut text = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = chars.next() {
                        text.push(next);
                    }
                }
                c => text.push(c),
            }
        }
        text
    });
    match (code, info) {
        (code, Some(info)) => format!("{}{}", code.unwrap_or_default(), info.trim()),
        (Some(code), None) => code.trim_end().to_string(),
        (None, None) if no.contains("info: None") => "no reason given".to_string(),
        (None, None) => no.trim().to_string(),
    }
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
) -> Result<()> {
    match tokio::time::timeout(IMAP_TIMEOUT, client.read_response()).await {
        Err(_) => bail!("IMAP server sent no greeting"),
        Ok(Err(e)) => Err(anyhow!("IMAP greeting: {e}")),
        Ok(Ok(None)) => bail!("IMAP server closed the connection before its greeting"),
        Ok(Ok(Some(_))) => Ok(()),
    }
}

/// What SELECT told us.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    /// UIDVALIDITY of the mailbox.
    pub uidvalidity: u32,
    /// UIDNEXT, when the server says.
    pub uid_next: Option<u32>,
    /// Messages in the mailbox.
    pub exists: u32,
}

/// Selects a mailbox (read-write).
pub async fn select(s: &mut Session, mailbox: &str) -> Result<Selected> {
    let mb = timed("SELECT", IMAP_TIMEOUT, s.select(mailbox)).await?;
    drain(s);
    Ok(Selected {
        uidvalidity: mb
            .uid_validity
            .ok_or_else(|| anyhow!("The server reported no UIDVALIDITY for {mailbox}"))?,
        uid_next: mb.uid_next,
        exists: mb.exists,
    })
}

/// True when the selected mailbox holds a message with a UID above `last_uid`: mail that
/// arrived after the last fetch, whose EXISTS a later SELECT may have absorbed.
pub async fn has_uids_after(s: &mut Session, last_uid: u32) -> Result<bool> {
    let query = format!("UID {}:*", last_uid.saturating_add(1));
    let hits = timed("UID SEARCH", IMAP_TIMEOUT, s.uid_search(&query)).await?;
    drain(s);
    // `n:*` always matches the highest UID, even below n.
    Ok(hits.iter().any(|u| *u > last_uid))
}

/// Drops queued unsolicited responses (the channel is bounded and we do not use them).
pub fn drain(s: &mut Session) {
    while s.unsolicited_responses.try_recv().is_ok() {}
}

/// Creates each mailbox that does not exist yet.
pub async fn ensure_mailboxes(s: &mut Session, names: &[&str]) -> Result<()> {
    let existing: Vec<String> = {
        let list = timed("LIST", IMAP_TIMEOUT, s.list(Some(""), Some("*"))).await?;
        timed("LIST", IMAP_TIMEOUT, list.try_collect::<Vec<_>>())
            .await?
            .iter()
            .map(|n| n.name().to_string())
            .collect()
    };
    for name in names {
        if !existing.iter().any(|e| e == name) {
            if let Err(e) = timed("CREATE", IMAP_TIMEOUT, s.create(name)).await {
                // Another process may have created it in between.
                tracing::debug!(mailbox = name, error = %format!("{e:#}"), "CREATE failed");
            }
        }
    }
    drain(s);
    Ok(())
}

/// Metadata of one message.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// UID.
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u32,
}

/// UIDs and sizes of messages with UID > `after` (one `UID FETCH` for the whole range).
pub async fn list_new(s: &mut Session, after: u32) -> Result<Vec<Meta>> {
    let range = format!("{}:*", after.saturating_add(1));
    let mut out: Vec<Meta> = Vec::new();
    {
        let mut stream = timed(
            "UID FETCH",
            IMAP_TIMEOUT,
            s.uid_fetch(&range, "(UID RFC822.SIZE)"),
        )
        .await?;
        // Each response is turned into a Meta as it arrives: a `Fetch` keeps its whole
        // response buffer, and collecting a backlog's worth first cost kilobytes per mail
        // (profiled: peak RSS 84 MB at 10,000 waiting mails).
        let read = async {
            loop {
                let f = match stream.try_next().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    // Expunged by another client meanwhile: what was listed stands.
                    Err(e) if expunge_issued(&e) => break,
                    Err(e) => return Err(e),
                };
                // `n:*` also returns the last message when none is newer than n.
                if let Some(uid) = f.uid.filter(|u| *u > after) {
                    out.push(Meta {
                        uid,
                        size: f.size.unwrap_or(0),
                    });
                }
            }
            Ok::<(), async_imap::error::Error>(())
        };
        timed("UID FETCH", FETCH_TIMEOUT, read).await?;
    }
    drain(s);
    out.sort_by_key(|m| m.uid);
    out.dedup_by_key(|m| m.uid);
    Ok(out)
}

pub use crate::mail::Fetched;

/// True for the server's answer that some messages asked for were expunged meanwhile
/// (`[EXPUNGEISSUED]`, RFC 5530): on a shared mailbox another client moved or deleted them
/// first. Normal, not a failure: they are simply no longer ours to process.
pub fn expunge_issued(e: &async_imap::error::Error) -> bool {
    match e {
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
            text.to_ascii_uppercase().contains("EXPUNGEISSUED")
        }
        _ => false,
    }
}

/// Fetches the given UIDs (one `UID FETCH` per call); `header_only` fetches headers only.
///
/// A message another client moved or deleted after we listed it is left out (Dovecot
/// answers `BODY[] NIL` and `OK [EXPUNGEISSUED]`, other servers `NO [EXPUNGEISSUED]`): it
/// is not ours to record any more, and an empty "mail" must not be recorded in its place.
pub async fn fetch(s: &mut Session, uids: &[u32], header_only: bool) -> Result<Vec<Fetched>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let set = uid_set(uids);
    let items = if header_only {
        "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER])"
    } else {
        "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[])"
    };
    let fetches: Vec<Fetch> = {
        let mut stream = timed("UID FETCH", IMAP_TIMEOUT, s.uid_fetch(&set, items)).await?;
        let read = async {
            let mut got = Vec::new();
            loop {
                match stream.try_next().await {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => break,
                    Err(e) if expunge_issued(&e) => {
                        tracing::info!(
                            "Some mails were moved or deleted by another client before we fetched them"
                        );
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok::<_, async_imap::error::Error>(got)
        };
        timed("UID FETCH", FETCH_TIMEOUT, read).await?
    };
    drain(s);
    let wanted: HashSet<u32> = uids.iter().copied().collect();
    let mut out = Vec::with_capacity(fetches.len());
    for f in fetches {
        let Some(uid) = f.uid else { continue };
        if !wanted.contains(&uid) {
            continue;
        }
        let raw = if header_only { f.header() } else { f.body() };
        let Some(raw) = raw else {
            // `BODY[] NIL`: expunged by another client since we listed it.
            tracing::info!(
                uid,
                "Mail moved or deleted by another client before we fetched it: skipped"
            );
            continue;
        };
        out.push(Fetched {
            uid,
            size: f.size.unwrap_or(0),
            internal_date: f.internal_date().map(|d| d.with_timezone(&chrono::Utc)),
            raw: raw.to_vec(),
            header_only,
        });
    }
    out.sort_by_key(|f| f.uid);
    Ok(out)
}

/// Moves UIDs to another mailbox: UID MOVE, or COPY + \Deleted + UID EXPUNGE without MOVE.
pub async fn move_uids(s: &mut Session, uids: &[u32], target: &str, has_move: bool) -> Result<()> {
    if uids.is_empty() {
        return Ok(());
    }
    for chunk in uids.chunks(1000) {
        let set = uid_set(chunk);
        if has_move {
            let mut tries = 0;
            loop {
                match tokio::time::timeout(IMAP_TIMEOUT, s.uid_mv(&set, target)).await {
                    Err(_) => bail!("IMAP UID MOVE timed out after {IMAP_TIMEOUT:?}"),
                    Ok(Err(e)) if expunge_issued(&e) && tries == 0 => {
                        // Some were moved by another client first; the server has told us
                        // which now, and a second MOVE takes the rest.
                        tracing::info!(
                            "Some mails were moved by another client before we moved them"
                        );
                        tries += 1;
                    }
                    Ok(Err(e)) if expunge_issued(&e) => {
                        tracing::info!("The mails left to move were moved by another client");
                        break;
                    }
                    Ok(r) => {
                        r.context("IMAP UID MOVE failed")?;
                        break;
                    }
                }
            }
        } else {
            // COPY refuses the whole set when one of it was expunged by another client
            // (`NO [EXPUNGEISSUED]`, nothing copied; the EXPUNGEs come with it): copy again,
            // and only then flag and expunge, so no mail is deleted uncopied.
            match tokio::time::timeout(IMAP_TIMEOUT, s.uid_copy(&set, target)).await {
                Err(_) => bail!("IMAP UID COPY timed out after {IMAP_TIMEOUT:?}"),
                Ok(Err(e)) if expunge_issued(&e) => {
                    tracing::info!("Some mails were moved by another client before we copied them");
                    timed("UID COPY", IMAP_TIMEOUT, s.uid_copy(&set, target)).await?;
                }
                Ok(r) => r.context("IMAP UID COPY failed")?,
            }
            {
                let st = timed(
                    "UID STORE",
                    IMAP_TIMEOUT,
                    s.uid_store(&set, "+FLAGS.SILENT (\\Deleted)"),
                )
                .await?;
                timed("UID STORE", IMAP_TIMEOUT, st.try_collect::<Vec<_>>()).await?;
            }
            let ex = timed("UID EXPUNGE", IMAP_TIMEOUT, s.uid_expunge(&set)).await?;
            timed("UID EXPUNGE", IMAP_TIMEOUT, ex.try_collect::<Vec<_>>()).await?;
        }
        drain(s);
    }
    Ok(())
}

/// Whether the server advertises a capability.
pub async fn has_capability(s: &mut Session, cap: &str) -> Result<bool> {
    let caps = timed("CAPABILITY", IMAP_TIMEOUT, s.capabilities()).await?;
    drain(s);
    Ok(caps.has_str(cap))
}

/// Searches the selected mailbox for messages with one of these Message-IDs.
pub async fn find_message_ids(s: &mut Session, ids: &[String]) -> Result<HashSet<String>> {
    let mut found = HashSet::new();
    for id in ids {
        let clean: String = id
            .chars()
            .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
            .collect();
        let q = format!("HEADER Message-ID \"{clean}\"");
        let hits = timed("UID SEARCH", IMAP_TIMEOUT, s.uid_search(&q)).await?;
        if !hits.is_empty() {
            found.insert(id.clone());
        }
    }
    drain(s);
    Ok(found)
}

/// Logs out politely (errors ignored: the connection is going away anyway).
pub async fn logout(mut s: Session) {
    let _ = tokio::time::timeout(Duration::from_secs(5), s.logout()).await;
}

/// Waits in IDLE until the server reports something or `limit` passes, or `shutdown` fires.
/// Returns the session for further use.
pub async fn idle(s: Session, limit: Duration, shutdown: &mut Shutdown) -> Result<Session> {
    // New mail reported while IDLE starts (before the server's "+ idling") goes to the
    // unsolicited channel, not to the IDLE stream: look there too, or it waits for the timeout.
    let unsolicited = s.unsolicited_responses.clone();
    let mut handle = s.idle();
    timed("IDLE", IDLE_START_TIMEOUT, handle.init()).await?;
    let mut news = false;
    while let Ok(r) = unsolicited.try_recv() {
        news |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    if !news {
        let (fut, interrupt) = handle.wait_with_timeout(limit);
        tokio::select! {
            r = fut => { r.context("IMAP IDLE failed")?; }
            _ = shutdown.recv() => { drop(interrupt); }
        }
    }
    let s = timed("IDLE DONE", IMAP_TIMEOUT, handle.done()).await?;
    Ok(s)
}

/// Settings-level convenience: connect and make sure our mailboxes exist.
pub async fn open(settings: &ImapSettings) -> Result<Session> {
    let mut s = connect(&settings.endpoint).await?;
    ensure_mailboxes(
        &mut s,
        &[
            settings.mailbox.as_str(),
            settings.processed_mailbox.as_str(),
            settings.quarantine_mailbox.as_str(),
        ],
    )
    .await?;
    Ok(s)
}

/// A compact UID set: `1:5,7,9:12`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted: Vec<u32> = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[5, 1, 2, 3, 7, 9, 10]), "1:3,5,7,9:10");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn a_refused_login_reads_as_the_server_wrote_it() {
        // What async-imap 0.12 puts in its `Error::No` for Dovecot's refusal, and for a
        // response code it parses itself.
        assert_eq!(
            server_words(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            server_words(r#"code: Some(Alert), info: Some("Account \"locked\"")"#),
            "[ALERT] Account \"locked\""
        );
        assert_eq!(server_words("code: None, info: None"), "no reason given");
        let e: anyhow::Error = LoginRefused {
            user: "privacy@example.test".into(),
            said: "[AUTHENTICATIONFAILED] Authentication failed.".into(),
        }
        .into();
        let e = e.context("Cannot start");
        assert!(is_login_refused(&e));
        assert_eq!(
            format!("{:#}", e),
            "Cannot start: IMAP: the server refused the login for privacy@example.test: \
             [AUTHENTICATIONFAILED] Authentication failed."
        );
        assert!(!is_login_refused(&anyhow::anyhow!(
            "Cannot reach IMAP server"
        )));
    }
}
