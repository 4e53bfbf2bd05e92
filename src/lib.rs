//! # privacy-inbox
//!
//! A daemon that runs a company's `privacy@` mailbox.
//!
//! # Layout
//! (filled in as modules land)

pub mod classify;
pub mod kind;
pub mod mail;
