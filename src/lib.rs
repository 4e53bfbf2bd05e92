//! # privacy-inbox
//!
//! A daemon that runs a company's `privacy@` mailbox.
//!
//! # Layout
//! (filled in as modules land)
//!
//! - [`mail`]: raw bytes → [`mail::Inbound`] ([`mail::parse`]), machine-made mail
//!   ([`mail::triage::automated`]), new text vs quotes/signatures ([`mail::text`]).
//! - [`classify`]: pure `Inbound` → [`classify::Classification`] (action, kinds, language,
//!   agent, question, confidence, reasons); rules are data in `rules/*.toml`.
//! - [`kind`]: the shared request [`kind::Kind`].

pub mod classify;
pub mod kind;
pub mod mail;
