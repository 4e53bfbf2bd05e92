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
//! IMAP ─▶ imap::fetch ─▶ intake::record_batch                 [one transaction; a savepoint per mail]
//!           per mail:  mail::parse_isolated ─▶ intake::known::load (seen? our copy? which request?
//!                        staff? Authentication-Results? classify::Classifier, covering request)
//!                      ─▶ intake::decide (pure: Inbound + Known ─▶ Disposition)
//!                      ─▶ apply: intake::open (new request: acknowledge::acknowledge, or the
//!                           receipt + staff::escalate), intake::reply (verification, disavowal,
//!                           /resend, staff::actions for proven staff commands), follow-ups,
//!                           staff::delivery::record_bounce, our own / foreign copies, quarantine
//!           writes: store::{inbox, requests, transitions, outbox}   (no network)
//! daemon pass: fulfil::flow::run_due (data sources, outside transactions) ─▶ sweep::sweep
//!           ─▶ outbound::outbox::send_due ─SMTP─▶ consumer / staff (+ Bcc copy to ourselves)
//!           ─▶ staff::delivery (refused Bcc copies, permanent failures) ─▶ processed mailbox
//! portal (daemon, [portal]) ─▶ GET page / POST download of the encrypted package, audited
//! CLI staff actions: ctx::Parts + store::Store ─▶ staff::actions (no SMTP; the daemon sends)
//! ```
//!
//! - [`ctx`]: the context of every decision ([`ctx::Ctx`]: settings, time, calendar,
//!   templates and message builder through [`outbound::queue::Mailer`], classifier, account
//!   directory; no network clients). Intake, staff actions, fulfilment and the sweeper are
//!   functions over a `&Ctx` and a transaction.
//! - [`intake`]: [`intake::record_batch`]; [`intake::known`] loads what a decision needs,
//!   [`intake::decide()`] decides (pure, table-tested), [`intake::open`] and [`intake::reply`]
//!   carry decisions out.
//! - [`acknowledge`]: the acknowledgement (with a verification code except for opt-outs),
//!   sent by intake and by staff's `/handle`.
//! - [`staff`]: the one escalation path ([`staff::escalate`], through
//!   [`store::transitions`]); commands by mail and CLI ([`staff::command`] parses,
//!   [`staff::actions`] carries out: `/verify`, `/complete`, `/deny`, `/extend`, `/note`,
//!   `/assign`, `/law`, `/handle`, `/not-a-request`, `/approve`, `/resend`); delivery failures,
//!   bounces and refused Bcc copies ([`staff::delivery`]); the CCPA §7102 report and §7101
//!   records ([`staff::report`]).
//! - [`sweep`]: due-soon/overdue/extension-window notices, the confirm-receipt warnings,
//!   verification reminders and expiry, the daily digest, the summary of held staff mail.
//! - [`fulfil`]: data sources (`[[sources]]`: [`fulfil::source`] over sqlite, postgres and
//!   command; `:email`/`:account` always bound), the access package ([`fulfil::package`], zip
//!   streamed through [`fulfil::crypt`]), and [`fulfil::flow`]: what is queued when, and the
//!   daemon's runner with retries.
//! - [`portal`]: the download page (`[portal]`: GET shows a button, only its POST downloads,
//!   single-use hashed links) on hyper/axum, which [`metrics`] (`/healthz`, `/metrics` by
//!   `prometheus-client`) shares.
//! - [`store`]: the only place with SQL: schema and migrations ([`store::schema`]), one file
//!   per table group, typed columns ([`store::types`]: status, jurisdiction, audience,
//!   disposition), the append-only audit log, [`store::transitions`] (the one place a request
//!   changes status), staff labels ([`store::labels`]), secrets, fulfilment's tables. The
//!   connection is private; [`store::lock`] guards it in the daemon.
//! - [`request`]: business-day calendar, legal clocks, the law a mail cites, lifecycle,
//!   verification and staff tokens.
//! - [`outbound`]: templates ([`outbound::templates`] the live set, [`outbound::template_set`]
//!   one loaded set, [`outbound::template_check`]), the catalog of messages and variables
//!   ([`outbound::catalog`]), the facts every request mail shows ([`outbound::facts`]), values
//!   cleaned in one place ([`outbound::clean`]), bodies re-wrapped ([`outbound::wrap`]), composition and DKIM, the outbox queue and
//!   sender (rows claimed by one process), SMTP.
//! - [`mail`]: raw bytes → [`mail::Inbound`], machine-made mail ([`mail::triage`]), new text vs
//!   quotes ([`mail::text`]), trusted `Authentication-Results` ([`mail::auth`]), what a
//!   verification reply says ([`mail::confirm`]), dedupe keys and subject tags
//!   ([`mail::keys`]), [`mail::Fetched`].
//! - [`classify`]: pure `Inbound` → [`classify::Classification`]; rules are data in
//!   `rules/*.toml`; `classify eval` scores them against staff labels ([`classify::eval`]).
//! - [`config`]: TOML → `Settings` in steps: raw (serde), validate (one function per
//!   section), secrets (password-env/-command), problems (one line each, naming file and key);
//!   fulfilment's keys in [`fulfil::settings`]. No key files, no network.
//! - [`daemon`]: `App` (built once; reads the DKIM key), one pass and the IDLE loop;
//!   `copies` (our Bcc copies), `reload` (template hot reload), `lock` (one daemon per store).
//! - [`shutdown`]: `Shutdown`, raced in every `select!` of the daemon and IMAP IDLE.
//! - [`templates_cli`], [`check`], [`init`], [`cli`]: the commands behind `main.rs`.
//! - [`clock`], [`kind`], [`address`], [`accounts`], [`tls`]: small shared parts.
//!
//! No module imports one that imports it back (`tests/house.rs` checks it on the source, and
//! that SQL appears only under `src/store/`).

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
