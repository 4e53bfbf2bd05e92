//! Fulfilment: find, export and erase a requester's data in the company's systems, and deliver
//! the export securely.
//!
//! - [`settings`]: `[[sources]]`, `[portal]`, `[fulfil]` → typed settings, every problem at once.
//! - [`source`]: one API over the three kinds of source: [`source::lookup`], [`source::export`]
//!   (rows streamed to a [`source::RowSink`]), [`source::erase`] (one transaction per source),
//!   [`source::opt_out`], [`source::check`] (connect and prepare, run nothing).
//!   - [`sqlite`] (rusqlite, the file in `url`), [`postgres`] (tokio-postgres), [`command`]
//!     (a program speaking JSON on stdin/stdout).
//!   - [`params`]: `:email`/`:account`, always bound; PostgreSQL's `$n` translation.
//!   - [`casing`]: does a query compare the address case-sensitively? (`check` warns.)
//! - [`package`]: the access package (index.html, one JSON and one CSV per table, zipped) built
//!   from the streamed rows, encrypted at rest ([`crypt`]) and decrypted on download as a stream.

pub mod casing;
pub mod command;
pub mod crypt;
pub mod flow;
pub mod package;
pub mod params;
pub mod postgres;
pub mod rows;
pub mod settings;
pub mod source;
pub mod sqlite;
