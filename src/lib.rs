//! # privacy-inbox
//!
//! A daemon that runs a company's `privacy@` mailbox: it reads the mailbox over IMAP, works
//! out which privacy request each message makes, answers by SMTP with templated replies,
//! tracks the legal deadlines and hands humans what a machine should not decide.
//!
//! # Layout
//!
//! The data flow, and where each step lives:
//!
//! ```text
//! IMAP mailbox ─fetch─▶ imap::fetch ─▶ intake::Intake::record_batch        [one SQLite transaction]
//!                         │  mail::parse (owned Inbound), store::inbox (dedupe, cursor)
//!                         │  mail::triage::automated ─▶ recorded as ignored, never answered
//!                         │  intake::thread_of (references, subject tag) ─▶ event on the request
//!                         │  classify::Classifier ─▶ handle | escalate | ignore
//!                         └─ store::requests + request::deadlines + outbound::queue (outbox rows)
//! outbound::outbox::send_due ─SMTP (outbound::smtp)─▶ consumer / staff (+ Bcc copy to ourselves)
//! daemon::App::apply_moves ─▶ processed / quarantine mailbox
//! ```
//!
//! - [`config`]: TOML → validated settings, every error at once.
//! - [`clock`]: the current time, fixed by `PRIVACY_INBOX_NOW` for drills and tests.
//! - [`daemon`]: one pass (`run --once`) and the IDLE loop with reconnects.
//! - [`store`]: SQLite schema, migrations, queries; the append-only audit log.
//! - [`request`]: business-day calendar, legal clocks, lifecycle, verification tokens.
//! - [`outbound`]: templates, composition, the outbox and SMTP. Every template value is
//!   cleaned in one place first ([`outbound::clean`]); outbox rows are claimed by one process
//!   ([`store::outbox::claim`]); `run` holds the store's single-instance lock
//!   ([`daemon::lock_store`]).
//! - [`templates_cli`]: `templates check|preview`, and the daemon's template hot reload
//!   (the catalog of messages and variables is [`outbound::catalog`]).
//! - [`sweep`]: due-soon/overdue/extension-window notices, verification reminders and expiry,
//!   the daily digest.
//! - [`staff`]: staff commands by mail and CLI ([`staff::command`], [`staff::actions`]), the
//!   CCPA §7102 report and §7101 records ([`staff::report`]); status changes go through
//!   [`store::transitions`], which checks them with [`request::lifecycle`].
//! - [`mail`]: raw bytes → [`mail::Inbound`] ([`mail::parse`]), machine-made mail
//!   ([`mail::triage::automated`]), new text vs quotes/signatures ([`mail::text`]), which
//!   `Authentication-Results` to trust ([`mail::auth`]), what a verification reply says
//!   ([`mail::confirm`]: confirmation, disavowal, machine text), dedupe keys and subject tags
//!   ([`mail::keys`]).
//! - Trust: a mail's failure is its own (a savepoint per mail in `record_batch`); staff
//!   commands by mail need [`request::staff_token`] (key in [`store::secrets`]); a second bot
//!   with another store is noticed by its Bcc copies (`other_instance`).
//! - [`classify`]: pure `Inbound` → [`classify::Classification`] (action, kinds, language,
//!   agent, question, confidence, reasons); rules are data in `rules/*.toml`.
//! - [`kind`]: the shared request [`kind::Kind`].
//! - [`check`]: `privacy-inbox check`, PASS/FAIL lines for config, templates, rules and
//!   a real login to both servers.
//! - [`metrics`]: the optional `/healthz` and Prometheus `/metrics` HTTP endpoint.
//! - [`tls`]: the one server-certificate verifier of IMAP and SMTP (`ca-file`: pinned or a CA).
//! - [`init`]: `privacy-inbox init`, a first commented config for a provider and an address.
//! - [`fulfil`]: data sources (`[[sources]]`: lookup, export streamed to a sink, erase in one
//!   transaction, opt-out; `:email`/`:account` always bound) and the access package (zip of
//!   index.html + JSON + CSV per table, encrypted at rest). Not wired into intake yet.
//! - [`portal`]: the download pages (`[portal]`: GET shows a button, only its POST downloads,
//!   single-use hashed links) and the hyper/axum server loop that [`metrics`] shares.

pub mod accounts;
pub mod acknowledge;
pub mod address;
pub mod check;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod config;
pub mod ctx;
pub mod daemon;
pub mod fulfil;
pub mod imap;
pub mod init;
pub mod intake;
pub mod kind;
pub mod mail;
pub mod metrics;
pub mod outbound;
pub mod portal;
pub mod request;
pub mod shutdown;
pub mod staff;
pub mod store;
pub mod sweep;
pub mod templates_cli;
pub mod tls;
