//! Our own Bcc copies over IMAP: every reply goes out with a copy to ourselves in the same
//! SMTP transaction, so its copy in the mailbox proves the server took it. Crash recovery
//! looks an unconfirmed reply's copy up before sending it again ([`find`]); the end of a
//! `run --once` pass waits for this pass's copies and takes them in ([`take_in`]).

use super::{App, PassStats, COPY_GRACE, FINISH_ROUNDS};
use crate::config::{Auth, Settings};
use crate::imap::{self, Session};
use crate::outbound::outbox::{self, lock};
use crate::store::inbox;
use anyhow::Result;
use std::collections::HashSet;
use std::time::Duration;

/// Looks up the Message-IDs of unconfirmed outbox rows in the watched and the processed
/// mailbox (our Bcc copy proves the server took the mail), retrying until all are found or
/// `grace` has passed. Returns the ones found; leaves the watched mailbox selected.
pub(super) async fn find(
    app: &App,
    s: &mut Session,
    ids: &[String],
    grace: Duration,
) -> Result<HashSet<String>> {
    let boxes = [
        app.settings.imap.mailbox.clone(),
        app.settings.imap.processed_mailbox.clone(),
    ];
    let deadline = tokio::time::Instant::now() + grace;
    let mut found = HashSet::new();
    loop {
        for b in &boxes {
            imap::select(s, b).await?;
            let missing: Vec<String> = ids
                .iter()
                .filter(|i| !found.contains(*i))
                .cloned()
                .collect();
            found.extend(imap::find_message_ids(s, &missing).await?);
        }
        if found.len() == ids.len() || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    imap::select(s, &app.settings.imap.mailbox).await?;
    tracing::info!(
        unknown = ids.len(),
        found = found.len(),
        "Checked unconfirmed mails for our own copies"
    );
    Ok(found)
}

/// The end of a `run --once` pass: the Bcc copies of what it sent are on their way to
/// the mailbox it reads (`privacy+sent@` lands in privacy@'s INBOX). It waits for them
/// (at most [`COPY_GRACE`]) and takes them in like any mail (recorded as our own copy,
/// moved to the processed mailbox), so the pass ends with the mailbox holding only mail
/// it has not handled, and staff reading it do not see the bot's copies. Mail that came
/// in meanwhile is handled too and its replies sent, at most [`FINISH_ROUNDS`] times.
pub(super) async fn take_in(app: &App, mut s: Session, stats: &mut PassStats) -> Result<Session> {
    if !come_here(&app.settings) {
        return Ok(s);
    }
    // A mail sent without its copy (the copy address refused it) has none on the way.
    let with_copy = |o: &outbox::Round| o.sent.saturating_sub(o.copy_refused.len());
    let mut sent = with_copy(&stats.outbox);
    for _ in 0..FINISH_ROUNDS {
        if sent == 0 {
            break;
        }
        let arrived = wait_for_new_mail(app, &mut s, sent, COPY_GRACE).await?;
        if arrived < sent {
            tracing::info!(
                expected = sent,
                arrived,
                "Not every copy of this pass's mail has arrived yet; the next pass takes in the rest"
            );
        }
        let mut more = PassStats::default();
        s = app.intake_pass(s, &mut more).await?;
        app.drain_outbox(&mut s, &mut more, true).await?;
        stats.fetched += more.fetched;
        stats.intake.add(more.intake);
        stats.outbox.sent += more.outbox.sent;
        stats.outbox.confirmed += more.outbox.confirmed;
        stats.outbox.deferred += more.outbox.deferred;
        sent = with_copy(&more.outbox);
        stats.outbox.failed.extend(more.outbox.failed);
        stats.outbox.copy_refused.extend(more.outbox.copy_refused);
        stats.outbox.taken += more.outbox.taken;
    }
    Ok(s)
}

/// Does our Bcc copy land in the mailbox we read? It does for the default
/// `privacy+sent@` (the From address or the IMAP login with a `+detail`); a `copy-to`
/// elsewhere (an archive) is never waited for.
fn come_here(settings: &Settings) -> bool {
    let base = |a: &str| -> String {
        let a = a.to_ascii_lowercase();
        match a.rsplit_once('@') {
            Some((local, domain)) => {
                let local = local.split_once('+').map_or(local, |(l, _)| l);
                format!("{local}@{domain}")
            }
            None => a,
        }
    };
    let Some(copy) = &settings.smtp.copy_to else {
        return false;
    };
    let login = match &settings.imap.endpoint.auth {
        Auth::Password { username, .. } | Auth::OAuth2 { username, .. } => username.clone(),
        Auth::None => String::new(),
    };
    let copy = base(copy);
    copy == base(&settings.smtp.from_address) || copy == base(&login)
}

/// Waits until at least `n` mails newer than the intake cursor are in the watched
/// mailbox, or `grace` has passed. Returns how many there are.
async fn wait_for_new_mail(app: &App, s: &mut Session, n: usize, grace: Duration) -> Result<usize> {
    let mailbox = &app.settings.imap.mailbox;
    let deadline = tokio::time::Instant::now() + grace;
    loop {
        // SELECT again: a server shows new mail to a session only when it says so.
        let sel = imap::select(s, mailbox).await?;
        let after = {
            let st = lock(&app.store);
            inbox::cursor(st.reader(), mailbox)?
                .filter(|c| c.uidvalidity == sel.uidvalidity)
                .map(|c| c.last_uid)
                .unwrap_or(0)
        };
        let arrived = imap::list_new(s, after).await?.len();
        if arrived >= n || tokio::time::Instant::now() >= deadline {
            return Ok(arrived);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn settings(copy_to: &str, username: &str) -> Settings {
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\nport = 10143\nsecurity = \"none\"\n\
             username = \"{username}\"\npassword = \"pw\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = 10025\nsecurity = \"none\"\n\
             from = \"Acme <Privacy@Example.test>\"\ncopy-to = \"{copy_to}\"\n\
             [staff]\nescalation-to = [\"staff@example.test\"]\n\
             [store]\npath = \"s.sqlite3\"\n[templates]\ndir = \".\"\n"
        );
        crate::config::parse(&text, Path::new("p.toml")).expect("valid config")
    }

    #[test]
    fn copies_come_back_to_our_mailbox_only_at_our_own_address_or_login() {
        for (copy_to, login, here) in [
            ("privacy+sent@example.test", "privacy@example.test", true),
            ("PRIVACY+copies@example.test", "someone-else", true),
            ("bot+sent@mail.example.test", "bot@mail.example.test", true),
            ("archive@example.test", "privacy@example.test", false),
            ("privacy@other.example", "privacy@example.test", false),
            ("", "privacy@example.test", false),
        ] {
            assert_eq!(
                come_here(&settings(copy_to, login)),
                here,
                "{copy_to} / {login}"
            );
        }
    }
}
