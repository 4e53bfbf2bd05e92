//! The records the CCPA asks a business to keep and publish, pure over stored requests:
//! the §7102 metrics of a calendar year ([`yearly`]) and the §7101 record of each request
//! ([`record_of`]).

use crate::clock;
use crate::kind::Kind;
use crate::store::requests::Request;
use anyhow::Result;
use chrono::Datelike;
use serde::Serialize;

/// One kind's line of the §7102 report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KindMetrics {
    /// The kind (wire name).
    pub kind: String,
    /// Requests of this kind received in the year.
    pub received: u64,
    /// Complied with, in whole or in part (completed).
    pub complied: u64,
    /// Denied, all bases.
    pub denied: u64,
    /// Denied because identity could not be verified (incl. closed as unverifiable).
    pub denied_unverifiable: u64,
    /// Denied because the requester is not a consumer the law covers.
    pub denied_not_a_consumer: u64,
    /// Denied because an exemption applies.
    pub denied_exempt: u64,
    /// Denied on another basis.
    pub denied_other: u64,
    /// Still open when the report was made.
    pub open: u64,
    /// Median days from receipt to the substantive response (completed or denied).
    pub median_days: Option<f64>,
    /// Mean days from receipt to the substantive response.
    pub mean_days: Option<f64>,
}

/// The §7102 report of one calendar year.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Yearly {
    /// The calendar year, in the business time zone.
    pub year: i32,
    /// One line per kind, in the canonical kind order: every request, whatever its law.
    pub kinds: Vec<KindMetrics>,
    /// The same lines for the requests of each law that had any (`ccpa`, then `gdpr`).
    pub by_law: Vec<LawMetrics>,
    /// Mail received in the year that staff closed as not a privacy request
    /// (`/not-a-request`): counted apart, in none of the lines above.
    pub not_a_request: u64,
}

/// One law's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LawMetrics {
    /// `ccpa` or `gdpr`.
    pub law: String,
    /// One line per kind, as in [`Yearly::kinds`].
    pub kinds: Vec<KindMetrics>,
}

/// Days between two RFC 3339 times, as a fraction.
fn days_between(from: &str, to: &str) -> Option<f64> {
    let a = clock::parse(from).ok()?;
    let b = clock::parse(to).ok()?;
    Some((b - a).num_seconds() as f64 / 86_400.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The §7102 metrics of the requests received in `year` (in `tz`). A request of several kinds
/// counts once under each of its kinds; mail that was never a privacy request (no kind) is
/// left out.
pub fn yearly(requests: &[Request], year: i32, tz: chrono_tz::Tz) -> Yearly {
    let in_year: Vec<&Request> = requests
        .iter()
        .filter(|r| clock::parse(&r.received_at).is_ok_and(|t| t.with_timezone(&tz).year() == year))
        .collect();
    let not_a_request = in_year
        .iter()
        .filter(|r| r.status == crate::request::lifecycle::Status::NotARequest)
        .count() as u64;
    let of_year: Vec<&Request> = in_year
        .into_iter()
        .filter(|r| r.status != crate::request::lifecycle::Status::NotARequest)
        .collect();
    let by_law = ["ccpa", "gdpr"]
        .iter()
        .filter(|law| {
            of_year
                .iter()
                .any(|r| r.jurisdiction.as_str() == **law && !r.kinds.is_empty())
        })
        .map(|law| LawMetrics {
            law: law.to_string(),
            kinds: metrics(
                of_year
                    .iter()
                    .copied()
                    .filter(|r| r.jurisdiction.as_str() == *law),
            ),
        })
        .collect();
    Yearly {
        year,
        kinds: metrics(of_year.iter().copied()),
        by_law,
        not_a_request,
    }
}

/// The report's lines over `requests`.
fn metrics<'a>(requests: impl Iterator<Item = &'a Request>) -> Vec<KindMetrics> {
    let mut lines: Vec<(KindMetrics, Vec<f64>)> = Kind::ALL
        .iter()
        .map(|k| {
            (
                KindMetrics {
                    kind: k.as_str().to_string(),
                    ..Default::default()
                },
                Vec::new(),
            )
        })
        .collect();
    for r in requests {
        for (i, k) in Kind::ALL.iter().enumerate() {
            if !r.kinds.contains(k) {
                continue;
            }
            let (m, days) = &mut lines[i];
            m.received += 1;
            match r.status.as_str() {
                "completed" => m.complied += 1,
                "denied" | "closed_unverifiable" => {
                    m.denied += 1;
                    match r.denial_basis.as_deref() {
                        Some("unverifiable") => m.denied_unverifiable += 1,
                        Some("not_a_consumer") => m.denied_not_a_consumer += 1,
                        Some("exempt") => m.denied_exempt += 1,
                        _ if r.status == crate::request::lifecycle::Status::ClosedUnverifiable => {
                            m.denied_unverifiable += 1
                        }
                        _ => m.denied_other += 1,
                    }
                }
                _ => m.open += 1,
            }
            let closed = matches!(
                r.status.as_str(),
                "completed" | "denied" | "closed_unverifiable"
            );
            if closed {
                if let Some(d) = r
                    .responded_at
                    .as_deref()
                    .and_then(|t| days_between(&r.received_at, t))
                {
                    days.push(d);
                }
            }
        }
    }
    lines
        .into_iter()
        .map(|(mut m, mut days)| {
            days.sort_by(f64::total_cmp);
            m.median_days = median(&days).map(round1);
            m.mean_days =
                (!days.is_empty()).then(|| round1(days.iter().sum::<f64>() / days.len() as f64));
            m
        })
        .collect()
}

/// One Markdown table of report lines.
fn table(s: &mut String, kinds: &[KindMetrics]) {
    s.push_str(
        "| Kind | Received | Complied (whole or part) | Denied | unverifiable | not a consumer | exempt | other | Open | Median days | Mean days |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for m in kinds {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            m.kind,
            m.received,
            m.complied,
            m.denied,
            m.denied_unverifiable,
            m.denied_not_a_consumer,
            m.denied_exempt,
            m.denied_other,
            m.open,
            opt(m.median_days),
            opt(m.mean_days)
        ));
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into())
}

impl Yearly {
    /// A Markdown table, as a privacy policy would publish it.
    pub fn markdown(&self) -> String {
        let mut s = format!("# Privacy requests received in {}\n\n", self.year);
        table(&mut s, &self.kinds);
        s.push_str(
            "\nDays run from receipt to the substantive response (completion or denial). \
             A request of several kinds counts under each.\n",
        );
        for l in &self.by_law {
            let name = match l.law.as_str() {
                "gdpr" => "GDPR (one month, extendable by two)",
                _ => "CCPA (45 days, extendable by 45; opt-outs 15 business days)",
            };
            s.push_str(&format!("\n## Under the {name}\n\n"));
            table(&mut s, &l.kinds);
        }
        if self.not_a_request > 0 {
            s.push_str(&format!(
                "\nNot counted above: {} mail(s) to the privacy address that staff closed as \
                 not a privacy request.\n",
                self.not_a_request
            ));
        }
        s
    }

    /// CSV with a header line: the lines of every request (`law` = `all`), then each law's.
    pub fn csv(&self) -> Result<String> {
        let mut w = CsvWriter::default();
        w.row(&[
            "year",
            "kind",
            "received",
            "complied",
            "denied",
            "denied_unverifiable",
            "denied_not_a_consumer",
            "denied_exempt",
            "denied_other",
            "open",
            "median_days",
            "mean_days",
            "law",
        ]);
        let parts = std::iter::once(("all", &self.kinds))
            .chain(self.by_law.iter().map(|l| (l.law.as_str(), &l.kinds)));
        for (law, m) in parts.flat_map(|(law, ks)| ks.iter().map(move |m| (law, m))) {
            w.row(&[
                &self.year.to_string(),
                &m.kind,
                &m.received.to_string(),
                &m.complied.to_string(),
                &m.denied.to_string(),
                &m.denied_unverifiable.to_string(),
                &m.denied_not_a_consumer.to_string(),
                &m.denied_exempt.to_string(),
                &m.denied_other.to_string(),
                &m.open.to_string(),
                &m.median_days.map(|v| format!("{v:.1}")).unwrap_or_default(),
                &m.mean_days.map(|v| format!("{v:.1}")).unwrap_or_default(),
                law,
            ]);
        }
        Ok(w.out)
    }
}

/// The §7101 record of one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Request ID.
    pub id: String,
    /// Date of the request (UTC RFC 3339).
    pub received_at: String,
    /// Nature of the request: its kinds.
    pub kinds: Vec<String>,
    /// Manner in which it was made.
    pub manner: &'static str,
    /// The requester's address.
    pub requester: String,
    /// Status now.
    pub status: String,
    /// Date of the substantive response, if given.
    pub responded_at: Option<String>,
    /// Nature of the response: `complied`, `denied`, `open`, or `not_a_request` (staff
    /// found it was no privacy request).
    pub response: &'static str,
    /// Basis of a denial: `unverifiable`, `not_a_consumer`, `exempt`, `other`.
    pub denial_basis: Option<String>,
    /// The denial's explanation as told to the consumer.
    pub denial_detail: String,
    /// Whether the deadline was extended, and why.
    pub extended: bool,
    /// The reason given for the extension.
    pub extension_reason: String,
    /// Identity verified.
    pub verified: bool,
    /// Made by an authorized agent.
    pub agent: bool,
    /// The due date in force.
    pub due_at: String,
}

/// A request's §7101 record.
pub fn record_of(r: &Request) -> Record {
    Record {
        id: r.id.clone(),
        received_at: r.received_at.clone(),
        kinds: r.kinds.iter().map(|k| k.as_str().to_string()).collect(),
        manner: "email",
        requester: r.requester.clone(),
        status: r.status.to_string(),
        responded_at: r.responded_at.clone(),
        response: match r.status.as_str() {
            "completed" => "complied",
            "denied" | "closed_unverifiable" => "denied",
            "not_a_request" => "not_a_request",
            _ => "open",
        },
        denial_basis: r.denial_basis.clone(),
        denial_detail: r.denial_detail.clone(),
        extended: r.extended,
        extension_reason: r.extension_reason.clone(),
        verified: r.verified,
        agent: r.agent,
        due_at: r.due_in_force().to_string(),
    }
}

/// Records as CSV with a header line.
pub fn records_csv(records: &[Record]) -> String {
    let mut w = CsvWriter::default();
    w.row(&[
        "id",
        "received_at",
        "kinds",
        "manner",
        "requester",
        "status",
        "responded_at",
        "response",
        "denial_basis",
        "denial_detail",
        "extended",
        "extension_reason",
        "verified",
        "agent",
        "due_at",
    ]);
    for r in records {
        w.row(&[
            &r.id,
            &r.received_at,
            &r.kinds.join(" "),
            r.manner,
            &r.requester,
            &r.status,
            r.responded_at.as_deref().unwrap_or(""),
            r.response,
            r.denial_basis.as_deref().unwrap_or(""),
            &r.denial_detail,
            &r.extended.to_string(),
            &r.extension_reason,
            &r.verified.to_string(),
            &r.agent.to_string(),
            &r.due_at,
        ]);
    }
    w.out
}

/// RFC 4180 CSV: fields with commas, quotes or line breaks are quoted; a leading `=`, `+`,
/// `-` or `@` is prefixed with `'` so a spreadsheet does not run consumer text as a formula.
#[derive(Default)]
struct CsvWriter {
    out: String,
}

impl CsvWriter {
    fn row(&mut self, fields: &[&str]) {
        let cells: Vec<String> = fields.iter().map(|f| cell(f)).collect();
        self.out.push_str(&cells.join(","));
        self.out.push_str("\r\n");
    }
}

fn cell(f: &str) -> String {
    let f = if f.starts_with(['=', '+', '-', '@']) && f.parse::<f64>().is_err() {
        format!("'{f}")
    } else {
        f.to_string()
    };
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_split_by_law() {
        let base = crate::store::requests::Request {
            id: "PRIV-2026-00001".into(),
            status: crate::request::lifecycle::Status::Completed,
            kinds: vec![Kind::Access],
            requester: "a@example.test".into(),
            requester_name: String::new(),
            language: "en".into(),
            jurisdiction: crate::request::deadlines::Jurisdiction::Ccpa,
            law_reason: String::new(),
            received_at: "2026-03-01T10:00:00Z".into(),
            confirm_by: None,
            due_at: "2026-04-15T10:00:00Z".into(),
            extended_due_at: None,
            extended: false,
            escalated: false,
            escalation_reason: String::new(),
            verified: true,
            agent: false,
            subject: String::new(),
            origin_message_id: None,
            assignee: String::new(),
            denial_basis: None,
            denial_detail: String::new(),
            extension_reason: String::new(),
            responded_at: Some("2026-03-11T10:00:00Z".into()),
            created_at: "2026-03-01T10:00:00Z".into(),
            updated_at: "2026-03-11T10:00:00Z".into(),
        };
        let gdpr = Request {
            id: "PRIV-2026-00002".into(),
            jurisdiction: crate::request::deadlines::Jurisdiction::Gdpr,
            status: crate::request::lifecycle::Status::Received,
            responded_at: None,
            ..base.clone()
        };
        let y = yearly(&[base, gdpr], 2026, chrono_tz::UTC);
        assert_eq!(y.kinds[0].received, 2);
        let laws: Vec<(&str, u64, u64)> = y
            .by_law
            .iter()
            .map(|l| (l.law.as_str(), l.kinds[0].complied, l.kinds[0].open))
            .collect();
        assert_eq!(laws, vec![("ccpa", 1, 0), ("gdpr", 0, 1)]);
        assert!(y.markdown().contains("## Under the GDPR"));
        let csv = y.csv().expect("csv");
        assert!(csv
            .lines()
            .any(|l| l.ends_with(",gdpr") && l.contains(",access,1,0,")));
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(cell("-3.5"), "-3.5");
    }
}
