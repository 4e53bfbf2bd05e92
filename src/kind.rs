//! The privacy request kinds the bot knows, shared by classification, deadlines and storage.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One privacy request kind. A mail may carry several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Right to know / access / copy / export / portability.
    Access,
    /// Deletion / erasure.
    Delete,
    /// Correction / rectification.
    Correct,
    /// Do not sell or share (CCPA opt-out, GPC).
    OptOutSale,
    /// Unsubscribe / stop marketing / GDPR Art. 21 direct-marketing objection.
    OptOutMarketing,
    /// Limit the use of sensitive personal information.
    LimitSensitive,
}

impl Kind {
    /// Every kind, in canonical order.
    pub const ALL: [Kind; 6] = [
        Kind::Access,
        Kind::Delete,
        Kind::Correct,
        Kind::OptOutSale,
        Kind::OptOutMarketing,
        Kind::LimitSensitive,
    ];

    /// The wire name (`opt_out_sale`, ...), as used in JSON, SQL and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Access => "access",
            Kind::Delete => "delete",
            Kind::Correct => "correct",
            Kind::OptOutSale => "opt_out_sale",
            Kind::OptOutMarketing => "opt_out_marketing",
            Kind::LimitSensitive => "limit_sensitive",
        }
    }

    /// True for kinds that must never require identity verification (CCPA §7060(b)).
    pub fn is_opt_out(self) -> bool {
        matches!(
            self,
            Kind::OptOutSale | Kind::OptOutMarketing | Kind::LimitSensitive
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown request kind `{s}` (expected one of: access, delete, correct, opt_out_sale, opt_out_marketing, limit_sensitive)"))
    }
}
