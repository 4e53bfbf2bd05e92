//! Everything that leaves the bot: templates, message composition, the outbox queue and the
//! SMTP sender.

pub mod catalog;
pub mod clean;
pub mod compose;
pub mod dkim;
pub mod facts;
pub mod outbox;
pub mod queue;
pub mod smtp;
pub mod smtp_tls;
pub mod template_check;
pub mod template_set;
pub mod templates;
pub mod wrap;
