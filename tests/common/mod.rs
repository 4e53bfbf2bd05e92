//! Test harness: a real Dovecot + Postfix stack on loopback, and helpers to drive it.
//!
//! Use it from an integration test with `mod common;`. Everything that talks to a server is
//! `async` (tokio), for `#[tokio::test]`; starting and stopping a stack is blocking (it runs
//! `scripts/mailstack.sh`, ~0.2 s to start and ~0.15 s to stop).
//!
//! ```ignore
//! mod common;
//! use common::{MailStack, PRIVACY, CONSUMER};
//!
//! #[tokio::test]
//! async fn a_request_is_acknowledged() {
//!     let stack = MailStack::start();
//!     stack.send(common::mail(CONSUMER, PRIVACY, "Delete my data", "Please."), CONSUMER, PRIVACY).await;
//!     let inbox = stack.wait_for(PRIVACY, "INBOX", 1, common::WAIT).await;
//!     assert_eq!(inbox.len(), 1);
//! }
//! ```
//!
//! Facts worth knowing:
//! - Every local part at `example.test` is a mailbox (password [`PASSWORD`]); user names
//!   without `@` get `@example.test` added. `user+tag@example.test` lands in `user`'s INBOX.
//!   `bounce…@example.test` is accepted by SMTP and then bounced with a DSN to the sender.
//!   Other domains are refused at RCPT: nothing leaves the machine.
//! - `250` from Postfix means queued, not delivered: poll with [`MailStack::wait_for`].
//! - The read helpers use `EXAMINE` and `BODY.PEEK[]`, so they never change flags or
//!   `\Recent` for the code under test.
//! - Stacks pick free ports in 20000–31999 (outside Linux's ephemeral range), reserved
//!   across processes with lock files, so parallel test binaries and nextest are safe.
//! - A stack's state dir is `/tmp/privacy-inbox-test-*`; logs are in its `log/` directory
//!   and their tails are printed when a test panics while the stack is alive. Set
//!   `PRIVACY_INBOX_KEEP_STACK=1` to keep the directory after the test.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use futures::TryStreamExt as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The mail domain every stack serves.
pub const DOMAIN: &str = "example.test";
/// The password of every mailbox.
pub const PASSWORD: &str = "secret";
/// The mailbox the daemon runs.
pub const PRIVACY: &str = "privacy@example.test";
/// A consumer writing in; `consumer2@`, `consumer3@`… (any local part) work as well.
pub const CONSUMER: &str = "consumer@example.test";
/// The staff address escalations go to.
pub const STAFF: &str = "staff@example.test";
/// An agent writing on a consumer's behalf.
pub const AGENT: &str = "agent@example.test";
/// A reasonable default for [`MailStack::wait_for`].
pub const WAIT: Duration = Duration::from_secs(20);

/// Every network step of a helper gives up after this long: a wedged server should fail a
/// test with a message, not hang the suite.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`MailStack::wait_for`] asks the server again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Port blocks of four (IMAP, IMAPS, SMTP, SMTPS) are taken from `PORT_LOW..PORT_HIGH`,
/// below Linux's ephemeral range (32768+) so outgoing connections never hold them.
const PORT_LOW: u16 = 20000;
const PORT_HIGH: u16 = 32000;
/// Cross-process port reservations: one file per port block, holding the owner's PID.
const PORT_LOCK_DIR: &str = "/tmp/privacy-inbox-test-ports";
/// How many port blocks to try before giving up on starting a stack.
const START_ATTEMPTS: usize = 6;
/// Longest [`run_bin`] waits for the binary.
pub const BIN_TIMEOUT: Duration = Duration::from_secs(120);

/// `user` as a full address: names without `@` get `@example.test`.
pub fn address(user: &str) -> String {
    if user.contains('@') {
        user.to_string()
    } else {
        format!("{user}@{DOMAIN}")
    }
}

/// The repository root (where `Cargo.toml` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    repo_root().join("scripts/mailstack.sh")
}

/// TLS side of a stack started with [`MailStack::start_tls`].
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// Implicit-TLS IMAP port (IMAP port + 1).
    pub imaps_port: u16,
    /// Implicit-TLS SMTP port, "smtps"/wrapper mode (SMTP port + 1).
    pub smtps_port: u16,
    /// PEM file of the CA that signed the servers' certificate (for 127.0.0.1 and localhost).
    pub ca_file: PathBuf,
}

/// Transport security of one side of a generated config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// Plain TCP on the IMAP/SMTP port.
    #[default]
    None,
    /// STARTTLS on the IMAP/SMTP port (needs [`MailStack::start_tls`]).
    Starttls,
    /// Implicit TLS on the IMAPS/SMTPS port (needs [`MailStack::start_tls`]).
    Tls,
}

impl Security {
    fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::Starttls => "starttls",
            Security::Tls => "tls",
        }
    }
}

/// Knobs for [`MailStack::write_config_with`]. The `*_extra` strings are TOML lines added
/// at the end of that table; `extra` is appended after the last table (new tables only).
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions<'a> {
    /// `[imap] security`; `Tls` also switches the port to IMAPS.
    pub imap_security: Security,
    /// `[smtp] security`; `Tls` also switches the port to SMTPS.
    pub smtp_security: Security,
    /// Extra lines inside `[imap]`.
    pub imap_extra: &'a str,
    /// Extra lines inside `[smtp]`.
    pub smtp_extra: &'a str,
    /// Extra TOML after the generated tables.
    pub extra: &'a str,
}

/// One message as [`MailStack::messages`] returns it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The message's UID in its mailbox.
    pub uid: u32,
    /// Its flags, e.g. `\Seen`, as the server spells them.
    pub flags: Vec<String>,
    /// The raw RFC 5322 bytes (`BODY.PEEK[]`).
    pub raw: Vec<u8>,
}

/// An IMAP session on a stack (plain TCP).
pub type ImapSession = async_imap::Session<TcpStream>;

/// A running Dovecot + Postfix pair in a throw-away directory under /tmp. Dropping it
/// stops both daemons and removes the directory.
#[derive(Debug)]
pub struct MailStack {
    dir: Option<tempfile::TempDir>,
    state: PathBuf,
    imap_port: u16,
    smtp_port: u16,
    tls: Option<TlsInfo>,
    _ports: PortReservation,
    stopped: bool,
}

impl MailStack {
    /// Start a stack with plain IMAP and SMTP on free loopback ports. Panics with the
    /// script's output when it cannot start.
    pub fn start() -> MailStack {
        Self::start_inner(false)
    }

    /// Start a stack that also speaks TLS: STARTTLS on the IMAP and SMTP ports, implicit
    /// TLS on IMAPS (IMAP + 1) and SMTPS (SMTP + 1), certificate signed by [`Self::ca_file`].
    pub fn start_tls() -> MailStack {
        Self::start_inner(true)
    }

    fn start_inner(tls: bool) -> MailStack {
        static REAP: Once = Once::new();
        // Stacks left behind by test processes that were killed: stop and remove them.
        REAP.call_once(|| {
            let _ = Command::new(script())
                .arg("reap")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        });
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let ports = PortReservation::take();
            let (imap_port, smtp_port) = (ports.base, ports.base + 2);
            let dir = tempfile::Builder::new()
                .prefix("privacy-inbox-test-")
                .tempdir_in("/tmp")
                .expect("Create the stack's state dir under /tmp");
            let state = dir.path().to_path_buf();
            // Postfix, nobody and dovenull must enter it.
            fs::set_permissions(&state, fs::Permissions::from_mode(0o755))
                .expect("Make the state dir enterable");
            fs::write(state.join("owner.pid"), format!("{}\n", std::process::id()))
                .expect("Write owner.pid");
            let out_path = state.join("mailstack.out");
            // A file, not a pipe: Dovecot would keep a pipe open forever.
            let out = fs::File::create(&out_path).expect("Create mailstack.out");
            let mut cmd = Command::new(script());
            cmd.arg("start")
                .arg(&state)
                .arg(imap_port.to_string())
                .arg(smtp_port.to_string());
            if tls {
                cmd.arg("--tls");
            }
            let status = cmd
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("Clone file handle"))
                .stderr(out)
                .status()
                .expect("Run scripts/mailstack.sh");
            if status.success() {
                let tls = tls.then(|| TlsInfo {
                    imaps_port: imap_port + 1,
                    smtps_port: smtp_port + 1,
                    ca_file: state.join("tls/ca.pem"),
                });
                return MailStack {
                    dir: Some(dir),
                    state,
                    imap_port,
                    smtp_port,
                    tls,
                    _ports: ports,
                    stopped: false,
                };
            }
            let output = fs::read_to_string(&out_path).unwrap_or_default();
            failures.push(format!("ports {imap_port}/{smtp_port}: {status}\n{output}"));
            // The script stopped whatever it had started; `dir` is removed here.
        }
        panic!(
            "The mail stack did not start after {START_ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// Plain IMAP port (STARTTLS offered when started with TLS).
    pub fn imap_port(&self) -> u16 {
        self.imap_port
    }

    /// Plain SMTP port (STARTTLS offered when started with TLS).
    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
    }

    /// Host to connect to: always `127.0.0.1` (not `localhost`).
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The stack's state directory (configs, mail, `log/`, `stack.env`).
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The directory with `dovecot.log`, `postfix.log` and the daemons' stderr.
    pub fn log_dir(&self) -> PathBuf {
        self.state.join("log")
    }

    /// TLS ports and CA, when started with [`Self::start_tls`].
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    fn tls_or_panic(&self) -> &TlsInfo {
        self.tls
            .as_ref()
            .expect("This stack has no TLS: start it with MailStack::start_tls()")
    }

    /// Implicit-TLS IMAP port. Panics unless started with TLS.
    pub fn imaps_port(&self) -> u16 {
        self.tls_or_panic().imaps_port
    }

    /// Implicit-TLS SMTP port. Panics unless started with TLS.
    pub fn smtps_port(&self) -> u16 {
        self.tls_or_panic().smtps_port
    }

    /// The CA certificate (PEM file) to trust. Panics unless started with TLS.
    pub fn ca_file(&self) -> &Path {
        &self.tls_or_panic().ca_file
    }

    /// A rustls client config that trusts only this stack's CA. Panics unless started with TLS.
    pub fn tls_client_config(&self) -> Arc<rustls::ClientConfig> {
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(self.ca_file())
            .expect("Open the stack's CA file")
        {
            roots
                .add(cert.expect("Parse the stack's CA file"))
                .expect("Add the stack's CA");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    // ---- daemons -----------------------------------------------------------------------

    fn run_script(&self, cmd: &str) -> String {
        let out_path = self.state.join("mailstack.out");
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .expect("Open mailstack.out");
        let status = Command::new(script())
            .arg(cmd)
            .arg(&self.state)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(out)
            .output()
            .expect("Run scripts/mailstack.sh");
        let stdout = String::from_utf8_lossy(&status.stdout).into_owned();
        if !status.status.success() && cmd != "status" {
            panic!(
                "scripts/mailstack.sh {cmd} failed ({}):\n{}",
                status.status,
                fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        stdout
    }

    /// Stop Postfix only (SMTP outage); Dovecot keeps running.
    pub fn stop_smtp(&self) {
        self.run_script("stop-smtp");
    }

    /// Start Postfix again after [`Self::stop_smtp`], same port; mail queued before is kept.
    pub fn start_smtp(&self) {
        self.run_script("start-smtp");
    }

    /// Restart Dovecot (drops every IMAP connection); mail is kept.
    pub fn restart_imap(&self) {
        self.run_script("restart-imap");
    }

    /// PIDs of every process of the stack (both masters and their children).
    pub fn pids(&self) -> Vec<u32> {
        self.run_script("pids")
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Stop both daemons now (the directory stays until drop). Idempotent.
    pub fn stop(&mut self) {
        if !self.stopped {
            self.stopped = true;
            self.run_script("stop");
        }
    }

    /// The last `n` lines of `log/<name>` (e.g. `postfix.log`, `dovecot.log`).
    pub fn log_tail(&self, name: &str, n: usize) -> String {
        let text = fs::read_to_string(self.log_dir().join(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    // ---- SMTP --------------------------------------------------------------------------

    /// Deliver a raw RFC 5322 message by SMTP to one recipient. Returns Postfix's final
    /// reply (`250 2.0.0 Ok: queued as …`). Queued is not delivered: use [`Self::wait_for`].
    pub async fn send(&self, raw: impl AsRef<[u8]>, from: &str, to: &str) -> String {
        self.send_to(raw, from, &[to]).await
    }

    /// [`Self::send`] to several envelope recipients in one transaction.
    pub async fn send_to(&self, raw: impl AsRef<[u8]>, from: &str, to: &[&str]) -> String {
        match self.try_send(raw.as_ref(), from, to).await {
            Ok(reply) => reply,
            Err(err) => panic!(
                "SMTP send from {from} to {to:?} failed: {err:#}\npostfix.log:\n{}",
                self.log_tail("postfix.log", 15)
            ),
        }
    }

    /// Like [`Self::send_to`], but a refusal (or any failure) is an `Err` with the server's
    /// reply, for tests that expect one.
    pub async fn try_send(&self, raw: &[u8], from: &str, to: &[&str]) -> anyhow::Result<String> {
        tokio::time::timeout(IO_TIMEOUT, smtp_send(self.smtp_port, raw, from, to))
            .await
            .context("SMTP conversation timed out")?
    }

    // ---- IMAP --------------------------------------------------------------------------

    /// A logged-in IMAP session for `user` (password [`PASSWORD`]), plain TCP.
    pub async fn imap(&self, user: &str) -> ImapSession {
        let user = address(user);
        tokio::time::timeout(IO_TIMEOUT, async {
            let stream = TcpStream::connect(("127.0.0.1", self.imap_port))
                .await
                .with_context(|| format!("Connect to IMAP port {}", self.imap_port))?;
            let mut client = async_imap::Client::new(stream);
            client
                .read_response()
                .await
                .context("Read the IMAP greeting")?
                .context("IMAP server closed before its greeting")?;
            let session = client
                .login(&user, PASSWORD)
                .await
                .map_err(|(err, _)| err)
                .with_context(|| format!("IMAP LOGIN as {user}"))?;
            anyhow::Ok(session)
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("IMAP login timed out")))
        .unwrap_or_else(|err| panic!("IMAP session for {user}: {err:#}"))
    }

    /// IMAP APPEND `raw` to `user`'s `mailbox` (created when missing). Fast test setup.
    pub async fn append(&self, user: &str, mailbox: &str, raw: impl AsRef<[u8]>) {
        let raw = crlf(raw.as_ref());
        let mut session = self.imap(user).await;
        timed("IMAP APPEND", async {
            if let Err(first) = session.append(mailbox, None, None, &raw).await {
                session
                    .create(mailbox)
                    .await
                    .with_context(|| format!("APPEND failed ({first}); CREATE {mailbox}"))?;
                session.append(mailbox, None, None, &raw).await?;
            }
            session.logout().await?;
            anyhow::Ok(())
        })
        .await
        .unwrap_or_else(|err| panic!("Append to {user} {mailbox}: {err:#}"));
    }

    /// IMAP APPEND `raw` to `user`'s `mailbox` with the server's INTERNALDATE set to `date`
    /// (RFC 3501 `date-time`, e.g. `"27-Nov-2026 10:00:00 +0000"`). A request's clocks run
    /// from INTERNALDATE, so a test that asserts a received date delivers this way: mail
    /// delivered by SMTP is stamped with the day the test runs.
    pub async fn append_dated(&self, user: &str, mailbox: &str, raw: impl AsRef<[u8]>, date: &str) {
        let raw = crlf(raw.as_ref());
        let mut session = self.imap(user).await;
        timed("IMAP APPEND", async {
            // async-imap writes the argument as it is: the quotes are ours (RFC 3501).
            let quoted = format!("\"{date}\"");
            session.append(mailbox, None, Some(&quoted), &raw).await?;
            session.logout().await?;
            anyhow::Ok(())
        })
        .await
        .unwrap_or_else(|err| panic!("Append to {user} {mailbox} dated {date}: {err:#}"));
    }

    /// Every message in `user`'s `mailbox`, in mailbox order, with UID and flags.
    /// Read-only (`EXAMINE`, `BODY.PEEK[]`). A missing mailbox panics.
    pub async fn messages(&self, user: &str, mailbox: &str) -> Vec<Fetched> {
        let mut session = self.imap(user).await;
        let result = timed("IMAP FETCH", async {
            let selected = session.examine(mailbox).await?;
            let mut out = Vec::new();
            if selected.exists > 0 {
                let mut fetches: Vec<_> = session
                    .fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                    .await?
                    .try_collect()
                    .await?;
                fetches.sort_by_key(|f| f.message);
                for f in &fetches {
                    out.push(Fetched {
                        uid: f.uid.context("FETCH without UID")?,
                        flags: f.flags().map(|fl| flag_name(&fl)).collect(),
                        raw: f.body().context("FETCH without BODY[]")?.to_vec(),
                    });
                }
            }
            session.logout().await?;
            anyhow::Ok(out)
        })
        .await;
        result.unwrap_or_else(|err| panic!("Fetch {user} {mailbox}: {err:#}"))
    }

    /// The raw bytes of every message in `user`'s `mailbox` (`BODY.PEEK[]`), in order.
    pub async fn fetch_all(&self, user: &str, mailbox: &str) -> Vec<Vec<u8>> {
        self.messages(user, mailbox)
            .await
            .into_iter()
            .map(|m| m.raw)
            .collect()
    }

    /// How many messages `user`'s `mailbox` holds (`STATUS`); 0 when it does not exist.
    pub async fn count(&self, user: &str, mailbox: &str) -> usize {
        let mut session = self.imap(user).await;
        let n = status_count(&mut session, mailbox)
            .await
            .unwrap_or_else(|err| panic!("STATUS {user} {mailbox}: {err:#}"));
        let _ = timed("IMAP LOGOUT", async { Ok(session.logout().await?) }).await;
        n
    }

    /// Poll until `user`'s `mailbox` holds at least `count` messages, then return them all.
    /// On timeout, panics listing what did arrive and the tail of Postfix's log.
    pub async fn wait_for(
        &self,
        user: &str,
        mailbox: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut session = self.imap(user).await;
        let seen = loop {
            let seen = status_count(&mut session, mailbox)
                .await
                .unwrap_or_else(|err| panic!("STATUS {user} {mailbox}: {err:#}"));
            if seen >= count || Instant::now() >= deadline {
                break seen;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        };
        let _ = timed("IMAP LOGOUT", async { Ok(session.logout().await?) }).await;
        if seen >= count {
            return self.fetch_all(user, mailbox).await;
        }
        let arrived = if seen > 0 {
            self.fetch_all(user, mailbox)
                .await
                .iter()
                .map(|raw| format!("  - {}", summary(raw)))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            "  (nothing)".to_string()
        };
        panic!(
            "Waited {timeout:?} for {count} message(s) in {} {mailbox}, found {seen}:\n{arrived}\n\
             postfix.log (tail):\n{}\nstate dir: {}",
            address(user),
            self.log_tail("postfix.log", 15),
            self.state.display()
        );
    }

    /// Poll until the messages in `user`'s `mailbox` satisfy `done`, then return them all.
    /// Use this rather than [`wait_for`](Self::wait_for) when other mail (a staff digest, a
    /// notice from an earlier step) may arrive in the same mailbox: a bare count is then
    /// reached by the wrong messages. `what` names the condition for the timeout panic.
    pub async fn wait_until(
        &self,
        user: &str,
        mailbox: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Vec<u8>]) -> bool,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut checked = usize::MAX;
        loop {
            let seen = self.count(user, mailbox).await;
            if seen != checked {
                let all = self.fetch_all(user, mailbox).await;
                if done(&all) {
                    return all;
                }
                checked = seen;
            }
            if Instant::now() >= deadline {
                let arrived = self
                    .fetch_all(user, mailbox)
                    .await
                    .iter()
                    .map(|raw| format!("  - {}", summary(raw)))
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!(
                    "Waited {timeout:?} in {} {mailbox} for {what}; found:\n{arrived}\n\
                     postfix.log (tail):\n{}\nstate dir: {}",
                    address(user),
                    self.log_tail("postfix.log", 15),
                    self.state.display()
                );
            }
            tokio::time::sleep(POLL_INTERVAL * 4).await;
        }
    }

    /// Poll until `user`'s `mailbox` holds a message with each Message-ID in `ids` (as the
    /// header has it, with angle brackets), then return them all: for a mailbox that other
    /// mail (the bot's own Bcc copies, a digest) reaches as well.
    pub async fn wait_for_ids(
        &self,
        user: &str,
        mailbox: &str,
        ids: &[&str],
        timeout: Duration,
    ) -> Vec<Vec<u8>> {
        self.wait_until(
            user,
            mailbox,
            &format!("the mails {ids:?}"),
            timeout,
            |mails| {
                ids.iter().all(|id| {
                    mails
                        .iter()
                        .any(|m| header(m, "Message-ID").as_deref() == Some(*id))
                })
            },
        )
        .await
    }

    /// Poll until a message in `user`'s INBOX has a Subject containing `needle`, and return
    /// the first such message as text (other mail may be there as well).
    pub async fn wait_for_subject(&self, user: &str, needle: &str, timeout: Duration) -> String {
        let mails = self
            .wait_until(
                user,
                "INBOX",
                &format!("a mail with {needle:?} in its Subject"),
                timeout,
                |mails| with_subject(mails, needle) > 0,
            )
            .await;
        mails_with_subject(&mails, needle)
            .into_iter()
            .next()
            .expect("wait_until returned once such a mail was there")
    }

    /// Names of `user`'s mailboxes (`LIST "" *`), sorted.
    pub async fn mailboxes(&self, user: &str) -> Vec<String> {
        let mut session = self.imap(user).await;
        let names = timed("IMAP LIST", async {
            let names: Vec<_> = session
                .list(Some(""), Some("*"))
                .await?
                .try_collect()
                .await?;
            let mut names: Vec<String> = names.iter().map(|n| n.name().to_string()).collect();
            names.sort();
            session.logout().await?;
            anyhow::Ok(names)
        })
        .await;
        names.unwrap_or_else(|err| panic!("LIST for {user}: {err:#}"))
    }

    /// Create `mailbox` for `user` (no error when it exists).
    pub async fn create_mailbox(&self, user: &str, mailbox: &str) {
        let mut session = self.imap(user).await;
        let _ = timed("IMAP CREATE", async {
            let _ = session.create(mailbox).await;
            Ok(session.logout().await?)
        })
        .await;
    }

    // ---- config ------------------------------------------------------------------------

    /// The privacy-inbox TOML config for this stack (plain IMAP and SMTP), with `extra`
    /// appended after the last table. Store and templates are absolute paths.
    pub fn config_toml(&self, dir: &Path, extra: &str) -> String {
        self.config_toml_with(
            dir,
            &ConfigOptions {
                extra,
                ..ConfigOptions::default()
            },
        )
    }

    /// [`Self::config_toml`] with security and per-table extras.
    pub fn config_toml_with(&self, dir: &Path, opts: &ConfigOptions<'_>) -> String {
        let imap_port = match opts.imap_security {
            Security::Tls => self.imaps_port(),
            Security::Starttls => {
                self.tls_or_panic();
                self.imap_port
            }
            Security::None => self.imap_port,
        };
        let smtp_port = match opts.smtp_security {
            Security::Tls => self.smtps_port(),
            Security::Starttls => {
                self.tls_or_panic();
                self.smtp_port
            }
            Security::None => self.smtp_port,
        };
        let store = toml_str(&dir.join("privacy-inbox.sqlite3").to_string_lossy());
        let templates = toml_str(&repo_root().join("templates").to_string_lossy());
        let mut text = format!(
            r#"[imap]
host = "127.0.0.1"
port = {imap_port}
security = "{imap_security}"
username = "{PRIVACY}"
password = "{PASSWORD}"
mailbox = "INBOX"
processed-mailbox = "Processed"
{imap_extra}
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "{smtp_security}"
from = "Acme Privacy Team <{PRIVACY}>"
{smtp_extra}
[staff]
escalation-to = ["{STAFF}"]

[store]
path = {store}

[templates]
dir = {templates}
"#,
            imap_security = opts.imap_security.as_str(),
            smtp_security = opts.smtp_security.as_str(),
            imap_extra = with_newline(opts.imap_extra),
            smtp_extra = with_newline(opts.smtp_extra),
        );
        if !opts.extra.is_empty() {
            text.push('\n');
            text.push_str(&with_newline(opts.extra));
        }
        text
    }

    /// Write [`Self::config_toml`] to `dir/privacy-inbox.toml` and return its path.
    pub fn write_config(&self, dir: &Path, extra: &str) -> PathBuf {
        let path = dir.join("privacy-inbox.toml");
        fs::write(&path, self.config_toml(dir, extra)).expect("Write privacy-inbox.toml");
        path
    }

    /// Write [`Self::config_toml_with`] to `dir/privacy-inbox.toml` and return its path.
    pub fn write_config_with(&self, dir: &Path, opts: &ConfigOptions<'_>) -> PathBuf {
        let path = dir.join("privacy-inbox.toml");
        fs::write(&path, self.config_toml_with(dir, opts)).expect("Write privacy-inbox.toml");
        path
    }
}

impl Drop for MailStack {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.stopped {
            eprintln!(
                "--- mail stack {} (test panicked) ---\npostfix.log:\n{}\ndovecot.log:\n{}\n---",
                self.state.display(),
                self.log_tail("postfix.log", 20),
                self.log_tail("dovecot.log", 20)
            );
        }
        if !self.stopped {
            self.stopped = true;
            // Never panic in drop: report and carry on.
            let result = Command::new(script())
                .arg("stop")
                .arg(&self.state)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(result, Ok(s) if s.success()) {
                eprintln!(
                    "mailstack.sh stop {} failed: {result:?}",
                    self.state.display()
                );
            }
        }
        if std::env::var_os("PRIVACY_INBOX_KEEP_STACK").is_some() {
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                let _ = fs::remove_file(kept.join("owner.pid"));
                eprintln!("Kept the mail stack's state dir {}", kept.display());
            }
        }
    }
}

// ---- ports -----------------------------------------------------------------------------

/// A block of four ports (IMAP, IMAPS, SMTP, SMTPS) reserved for this process by a lock
/// file; released on drop. Lock files of dead processes are taken over.
#[derive(Debug)]
struct PortReservation {
    base: u16,
    lock: PathBuf,
}

impl PortReservation {
    fn take() -> PortReservation {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        fs::create_dir_all(PORT_LOCK_DIR).expect("Create the port lock dir");
        let _ = fs::set_permissions(PORT_LOCK_DIR, fs::Permissions::from_mode(0o1777));
        let blocks = u64::from((PORT_HIGH - PORT_LOW) / 4);
        let pid = u64::from(std::process::id());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        for _ in 0..10_000 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            // Spread processes (pid) and stacks within one (counter) over the range.
            let mix = (pid.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(nanos))
                .wrapping_add(n.wrapping_mul(7919));
            let base = PORT_LOW + 4 * u16::try_from(mix % blocks).expect("block fits");
            let lock = Path::new(PORT_LOCK_DIR).join(base.to_string());
            if !claim(&lock) {
                continue;
            }
            let free = (base..base + 4).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
            if free {
                return PortReservation { base, lock };
            }
            let _ = fs::remove_file(&lock);
        }
        panic!("No free block of 4 loopback ports in {PORT_LOW}..{PORT_HIGH}");
    }
}

impl Drop for PortReservation {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// Create `lock` holding our PID; take it over when its owner is dead.
fn claim(lock: &Path) -> bool {
    for _ in 0..2 {
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{}", std::process::id());
                return true;
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(lock).unwrap_or_default();
                let owner = owner.trim();
                let alive = !owner.is_empty() && Path::new("/proc").join(owner).exists();
                // A file being written right now has no PID yet: leave it to its owner.
                let fresh = fs::metadata(lock)
                    .and_then(|m| m.modified())
                    .map(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(5))
                    .unwrap_or(false);
                if alive || (owner.is_empty() && fresh) {
                    return false;
                }
                let _ = fs::remove_file(lock);
            }
            Err(_) => return false,
        }
    }
    false
}

// ---- running the binary ----------------------------------------------------------------

/// Path of the built `privacy-inbox` binary.
pub fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_privacy-inbox"))
}

/// A config path as a command-line argument; panics unless it is UTF-8.
pub fn cfg_str(config: &Path) -> &str {
    config.to_str().expect("a UTF-8 config path")
}

/// `privacy-inbox --config CONFIG ARGS…` (no extra environment); the output, whatever the
/// exit status, for tests that check a failure too.
pub fn cli(config: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--config", cfg_str(config)];
    all.extend_from_slice(args);
    run_bin(&all, &[])
}

/// [`cli`] on tokio's blocking pool, so that servers running in the test's own runtime
/// (test doubles) keep answering while the binary talks to them.
pub async fn cli_async(config: &Path, args: &[&str]) -> Output {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&config, &args)
    })
    .await
    .expect("Join the blocking task running privacy-inbox")
}

/// `privacy-inbox --config CONFIG run --once` with extra environment `envs` (e.g.
/// `PRIVACY_INBOX_NOW`); panics with its log unless it succeeds. Returns its stderr.
pub fn run_once_with(config: &Path, envs: &[(&str, &str)]) -> String {
    let out = run_bin(&["--config", cfg_str(config), "run", "--once"], envs);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "run --once failed:\n{err}");
    err
}

/// [`run_once_with`] without extra environment. Returns its stderr.
pub fn run_once(config: &Path) -> String {
    run_once_with(config, &[])
}

/// `requests list --json`: every request as the CLI prints it (a JSON array); panics
/// unless the command succeeds and prints JSON.
pub fn requests(config: &Path) -> serde_json::Value {
    let out = cli(config, &["requests", "list", "--json"]);
    assert!(
        out.status.success(),
        "requests list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("requests list --json prints JSON")
}

/// The request of `requester` from [`requests`]; panics, listing them all, when there is
/// none.
pub fn request(config: &Path, requester: &str) -> serde_json::Value {
    let list = requests(config);
    list.as_array()
        .expect("requests list --json prints an array")
        .iter()
        .find(|r| r["requester"] == requester)
        .cloned()
        .unwrap_or_else(|| panic!("no request from {requester}: {list:#}"))
}

/// Replace the first `from` in the config file at `config` by `to`; panics when `from` is
/// not in it (an edit that silently did nothing would make a test pass for nothing).
pub fn edit_config(config: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(config).expect("Read the config");
    assert!(
        text.contains(from),
        "{from:?} is not in the config:\n{text}"
    );
    fs::write(config, text.replacen(from, to, 1)).expect("Write the config");
}

/// Copy the shipped `templates/` (the README and the language folders with their files)
/// into `to/templates` and return that path, for tests that edit templates.
pub fn copy_templates(to: &Path) -> PathBuf {
    let from = repo_root().join("templates");
    let dest = to.join("templates");
    fs::create_dir_all(&dest).expect("Create the templates copy");
    for entry in fs::read_dir(&from).expect("Read templates/") {
        let path = entry.expect("Read a templates/ entry").path();
        let target = dest.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            fs::create_dir_all(&target).expect("Create a language folder");
            for f in fs::read_dir(&path).expect("Read a language folder") {
                let f = f.expect("Read a language folder entry").path();
                fs::copy(&f, target.join(f.file_name().expect("a file name")))
                    .expect("Copy a template");
            }
        } else {
            fs::copy(&path, &target).expect("Copy a file");
        }
    }
    dest
}

/// The SQLite store a config written by [`MailStack::write_config`] in `dir` uses.
pub fn store(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("privacy-inbox.sqlite3")).expect("open the store")
}

/// The single integer `sql` returns.
pub fn scalar(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Run the built `privacy-inbox` binary with `args` and extra environment `envs`, stdin
/// empty, and return its output. Blocking; output goes through temp files (never pipes
/// a child could inherit); panics after [`BIN_TIMEOUT`].
pub fn run_bin(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let tmp = tempfile::tempdir().expect("Temp dir for the binary's output");
    let out_path = tmp.path().join("stdout");
    let err_path = tmp.path().join("stderr");
    let mut child = Command::new(bin_path())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).expect("Create stdout file"))
        .stderr(fs::File::create(&err_path).expect("Create stderr file"))
        .spawn()
        .expect("Start the privacy-inbox binary");
    let deadline = Instant::now() + BIN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("Wait for privacy-inbox") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "privacy-inbox {args:?} still running after {BIN_TIMEOUT:?}; stderr:\n{}",
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
    }
}

/// A `privacy-inbox` process running in the background (e.g. the daemon), its output in
/// a log file. Dropping it kills the process.
#[derive(Debug)]
pub struct BinProcess {
    child: std::process::Child,
    log: PathBuf,
}

/// Start the built binary in the background with `args` and `envs`; stdout and stderr go
/// to `log` (a file).
pub fn spawn_bin(args: &[&str], envs: &[(&str, &str)], log: &Path) -> BinProcess {
    let file = fs::File::create(log).expect("Create the binary's log file");
    let child = Command::new(bin_path())
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("Clone file handle"))
        .stderr(file)
        .spawn()
        .expect("Start the privacy-inbox binary");
    BinProcess {
        child,
        log: log.to_path_buf(),
    }
}

impl BinProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far.
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// Send a signal by name (`TERM`, `INT`, `KILL`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("Run kill");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// Wait up to `timeout` for the process to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("Wait for privacy-inbox") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then wait up to `timeout` for a graceful exit; panics (with the log) if the
    /// process does not stop.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.signal("TERM");
        match self.wait_timeout(timeout) {
            Some(status) => status,
            None => panic!(
                "privacy-inbox did not exit within {timeout:?} of SIGTERM; log:\n{}",
                self.log_text()
            ),
        }
    }
}

impl Drop for BinProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- messages --------------------------------------------------------------------------

/// A simple text/plain RFC 5322 message with a fresh Date and a unique Message-ID.
pub fn mail(from: &str, to: &str, subject: &str, body: &str) -> String {
    mail_with_headers(from, to, subject, body, &[])
}

/// [`mail`] with extra header lines, e.g. `("In-Reply-To", "<id@x>")`.
pub fn mail_with_headers(
    from: &str,
    to: &str,
    subject: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> String {
    let mut text = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: {}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n",
        chrono::Utc::now().to_rfc2822(),
        message_id()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(&body.replace("\r\n", "\n").replace('\n', "\r\n"));
    if !text.ends_with("\r\n") {
        text.push_str("\r\n");
    }
    text
}

/// A consumer's mail to privacy@ with a fixed Date and the Message-ID `<message_id>`;
/// `extra_headers` are whole CRLF-terminated header lines (or empty).
pub fn dated_mail(
    from: &str,
    message_id: &str,
    subject: &str,
    extra_headers: &str,
    body: &str,
) -> String {
    format!(
        "From: {from}\r\nTo: {PRIVACY}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n{extra_headers}\r\n{body}\r\n"
    )
}

/// A consumer's first mail to privacy@ as a mail client writes it: Subject "Privacy
/// request", Message-ID `<message_id>`, no Date.
pub fn privacy_request(from: &str, message_id: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {PRIVACY}\r\nSubject: Privacy request\r\nMessage-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// A reply to `original` as a mail client writes it: "Re:" subject, In-Reply-To and
/// References on its Message-ID, addressed to its Reply-To (else privacy@), Message-ID
/// `<message_id>`, `extra_headers` (whole CRLF-terminated lines, or empty), then `body` and
/// a quoted line. Returns the mail and the address to send it to.
pub fn reply(
    original: &str,
    from: &str,
    message_id: &str,
    extra_headers: &str,
    body: &str,
) -> (String, String) {
    let subject = header(original, "Subject").expect("the mail replied to has a Subject");
    let their_id = header(original, "Message-ID").expect("the mail replied to has a Message-ID");
    let to = header(original, "Reply-To").unwrap_or_else(|| PRIVACY.to_string());
    let to_addr = to
        .rsplit_once('<')
        .map(|(_, a)| a.trim_end_matches('>').to_string())
        .unwrap_or(to.clone());
    let raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         In-Reply-To: {their_id}\r\nReferences: {their_id}\r\n{extra_headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\r\n> (quoted)\r\n"
    );
    (raw, to_addr)
}

/// A unique `<…@test.example.test>` Message-ID.
pub fn message_id() -> String {
    format!("<{}@test.{DOMAIN}>", unique())
}

/// A token no other call in any test process returns (time, PID, counter): for Message-IDs
/// and local parts that must not repeat.
pub fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos}.{}.{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The value of the first header `name` in `raw` (bytes or text; unfolded), if any.
pub fn header(raw: impl AsRef<[u8]>, name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw.as_ref());
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let head = head.split("\n\n").next().unwrap_or("");
    let mut value: Option<String> = None;
    for line in head.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.trim().eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_string());
            }
        }
    }
    value
}

/// How many of `mails` have a Subject containing `needle`.
pub fn with_subject(mails: &[Vec<u8>], needle: &str) -> usize {
    mails
        .iter()
        .filter(|raw| header(raw, "Subject").is_some_and(|s| s.contains(needle)))
        .count()
}

/// The text of each of `mails` whose Subject contains `needle`, in order.
pub fn mails_with_subject(mails: &[Vec<u8>], needle: &str) -> Vec<String> {
    mails
        .iter()
        .filter(|raw| header(raw, "Subject").is_some_and(|s| s.contains(needle)))
        .map(|raw| String::from_utf8_lossy(raw).into_owned())
        .collect()
}

/// "From → Subject" of a raw message, for failure messages.
pub fn summary(raw: &[u8]) -> String {
    format!(
        "From: {} | Subject: {} | {} bytes",
        header(raw, "From").unwrap_or_default(),
        header(raw, "Subject").unwrap_or_default(),
        raw.len()
    )
}

// ---- internals -------------------------------------------------------------------------

async fn timed<T>(
    what: &str,
    fut: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(IO_TIMEOUT, fut).await {
        Ok(result) => result,
        Err(_) => bail!("{what} timed out after {IO_TIMEOUT:?}"),
    }
}

/// `STATUS mailbox (MESSAGES)`; a mailbox that does not exist (NO) counts 0.
async fn status_count(session: &mut ImapSession, mailbox: &str) -> anyhow::Result<usize> {
    match timed("IMAP STATUS", async {
        Ok(session.status(mailbox, "(MESSAGES)").await)
    })
    .await?
    {
        Ok(mb) => Ok(usize::try_from(mb.exists).unwrap_or(usize::MAX)),
        Err(async_imap::error::Error::No(_)) => Ok(0),
        Err(err) => Err(err).context("STATUS"),
    }
}

fn flag_name(flag: &async_imap::types::Flag<'_>) -> String {
    use async_imap::types::Flag;
    match flag {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(name) => name.to_string(),
    }
}

fn with_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n")
    }
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Normalise line ends to CRLF (bare LF becomes CRLF) and end with CRLF.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40 + 2);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One SMTP transaction: EHLO, MAIL, RCPT…, DATA (dot-stuffed, CRLF), QUIT.
async fn smtp_send(port: u16, raw: &[u8], from: &str, to: &[&str]) -> anyhow::Result<String> {
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("Connect to SMTP port {port}"))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect_reply(&mut read, 220, "greeting").await?;
    write.write_all(b"EHLO test.example.test\r\n").await?;
    expect_reply(&mut read, 250, "EHLO").await?;
    write
        .write_all(format!("MAIL FROM:<{from}>\r\n").as_bytes())
        .await?;
    expect_reply(&mut read, 250, "MAIL FROM").await?;
    for rcpt in to {
        write
            .write_all(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
            .await?;
        expect_reply(&mut read, 250, &format!("RCPT TO:<{rcpt}>")).await?;
    }
    write.write_all(b"DATA\r\n").await?;
    expect_reply(&mut read, 354, "DATA").await?;
    let mut data = Vec::with_capacity(raw.len() + 16);
    for line in crlf(raw).split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    data.extend_from_slice(b".\r\n");
    write.write_all(&data).await?;
    let reply = expect_reply(&mut read, 250, "end of DATA").await?;
    write.write_all(b"QUIT\r\n").await?;
    let _ = expect_reply(&mut read, 221, "QUIT").await;
    Ok(reply)
}

/// Read one (possibly multi-line) SMTP reply; error unless its code is `code`.
async fn expect_reply(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: u16,
    what: &str,
) -> anyhow::Result<String> {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        let n = read.read_line(&mut line).await?;
        if n == 0 {
            bail!("SMTP server closed the connection after {what} (so far: {reply:?})");
        }
        reply.push_str(&line);
        // "250-..." continues, "250 ..." ends.
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            break;
        }
    }
    let got: u16 = reply.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
    if got != code {
        bail!("SMTP {what}: expected {code}, got {}", reply.trim_end());
    }
    Ok(reply.lines().last().unwrap_or("").to_string())
}

/// A first mail to the privacy address with this From header value (a plain text body).
#[allow(dead_code)]
pub fn first_mail(from_header: &str, id: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from_header}\r\nTo: {PRIVACY}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Fri, 27 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// Sends a [`first_mail`] from `from` and waits until it is in the privacy INBOX; returns its
/// Message-ID (without brackets).
#[allow(dead_code)]
pub async fn send_first(stack: &MailStack, from: &str, subject: &str, body: &str) -> String {
    let id = format!("first-{}@c.example.test", unique());
    stack
        .send(first_mail(from, &id, subject, body), from, PRIVACY)
        .await;
    stack
        .wait_for_ids(
            "privacy",
            "INBOX",
            &[&format!("<{id}>")],
            Duration::from_secs(30),
        )
        .await;
    id
}

/// The text body of a mail (after its header), soft line breaks joined and whitespace runs
/// folded, so that wrapped lines read as one.
#[allow(dead_code)]
pub fn folded_body(raw: &str) -> String {
    let b = raw.split_once("\r\n\r\n").map_or(raw, |(_, b)| b);
    b.replace("=\r\n", "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
