//! What staff do: commands by email or CLI ([`command`], [`actions`]) and the records
//! the law asks for ([`report`]: the CCPA §7102 metrics, the §7101 export, purge).

pub mod actions;
pub mod command;
pub mod delivery;
pub mod escalate;
pub mod report;
