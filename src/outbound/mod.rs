//! Everything that leaves the bot: templates, message composition, the outbox queue and the
//! SMTP sender.

pub mod compose;
pub mod outbox;
pub mod queue;
pub mod smtp;
pub mod templates;
