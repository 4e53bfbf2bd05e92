//! `Authentication-Results` (RFC 8601), read the way §5 says a consumer must: only the
//! header our own receiving server added counts. A sender can write any number of
//! `Authentication-Results` headers into its own mail, so a "pass" from a header we did not
//! receive from our server proves nothing.
//!
//! Which headers are ours:
//! - with an `authserv-id` configured (`[imap] authserv-id`), a header whose authserv-id is
//!   exactly that value and which stands in the topmost run of trace headers (each hop
//!   prepends its `Received:` and `Authentication-Results`, so what our server added sits
//!   above every header the sender wrote). Our server is expected to remove or rename copies
//!   that carry its own id (RFC 8601 §5; OpenDMARC, Exchange and Gmail do);
//! - without one, no header is trusted for a pass. A *failure* in any header is still taken
//!   into account: honouring a forged failure can only set the sender's own mail aside for a
//!   person, never act on it.

/// What the authentication results of one mail say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthVerdict {
    /// The first SPF/DKIM/DMARC failure found (`"dmarc=fail in Authentication-Results"`).
    pub failure: Option<String>,
    /// True when a header from our own server (the configured authserv-id) was found.
    pub from_our_server: bool,
}

/// Reads `headers` (lower-case names, in the mail's order) with `authserv_id` as our
/// receiving server's id.
pub fn verdict(headers: &[(String, String)], authserv_id: Option<&str>) -> AuthVerdict {
    let mut v = AuthVerdict::default();
    let ours = authserv_id.map(str::trim).filter(|s| !s.is_empty());
    // The topmost run of trace headers: Authentication-Results and Received interleave as
    // each hop prepends; ours sit above any hop we did not run.
    let mut in_top_run = true;
    for (name, value) in headers {
        let is_trace = matches!(
            name.as_str(),
            "authentication-results"
                | "received"
                | "return-path"
                | "delivered-to"
                | "x-original-to"
                | "arc-authentication-results"
                | "arc-seal"
                | "arc-message-signature"
                | "received-spf"
        );
        if !is_trace {
            in_top_run = false;
        }
        if name != "authentication-results" {
            continue;
        }
        let trusted = match ours {
            Some(id) => in_top_run && serv_id(value).eq_ignore_ascii_case(id),
            None => false,
        };
        if trusted {
            v.from_our_server = true;
        }
        if ours.is_some() && !trusted {
            // A configured server id makes every other header noise, failures included:
            // they may be relayed from an earlier hop of a forwarder.
            continue;
        }
        if v.failure.is_none() {
            v.failure = failure_in(value);
        }
    }
    v
}

/// The authserv-id of one header value: the text before the first `;`, without comments or
/// a version number.
fn serv_id(value: &str) -> &str {
    let head = value.split(';').next().unwrap_or("").trim();
    head.split_whitespace().next().unwrap_or("")
}

/// `Some("dmarc=fail in Authentication-Results")` when the value reports an SPF, DKIM or
/// DMARC failure.
fn failure_in(value: &str) -> Option<String> {
    let v = value.to_ascii_lowercase();
    for part in v.split(';').skip(1) {
        let part = part.trim();
        for check in ["dmarc", "spf", "dkim"] {
            let Some(rest) = part.strip_prefix(check) else {
                continue;
            };
            let Some(result) = rest.trim_start().strip_prefix('=') else {
                continue;
            };
            let result: String = result
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            if matches!(result.as_str(), "fail" | "softfail" | "permerror") {
                return Some(format!("{check}={result} in Authentication-Results"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            headers: &'static [(&'static str, &'static str)],
            id: Option<&'static str>,
            failure: Option<&'static str>,
            ours: bool,
        }
        let cases = [
            Case {
                name: "no header",
                headers: &[("from", "a@b.c")],
                id: Some("mx.example.test"),
                failure: None,
                ours: false,
            },
            Case {
                name: "our pass",
                headers: &[
                    (
                        "authentication-results",
                        "mx.example.test; dmarc=pass; spf=pass",
                    ),
                    ("from", "a@b.c"),
                ],
                id: Some("mx.example.test"),
                failure: None,
                ours: true,
            },
            Case {
                name: "our fail",
                headers: &[
                    ("received", "from x by mx"),
                    (
                        "authentication-results",
                        "MX.example.test; dmarc=fail (p=reject)",
                    ),
                ],
                id: Some("mx.example.test"),
                failure: Some("dmarc=fail in Authentication-Results"),
                ours: true,
            },
            Case {
                name: "forged pass with our id below the sender's own headers",
                headers: &[
                    ("from", "staff@example.test"),
                    ("authentication-results", "mx.example.test; dmarc=pass"),
                ],
                id: Some("mx.example.test"),
                failure: None,
                ours: false,
            },
            Case {
                name: "a foreign server's failure is ignored once our id is set",
                headers: &[("authentication-results", "other.example; spf=fail")],
                id: Some("mx.example.test"),
                failure: None,
                ours: false,
            },
            Case {
                name: "without an id any failure counts, nothing is ours",
                headers: &[("authentication-results", "other.example; dkim=permerror")],
                id: None,
                failure: Some("dkim=permerror in Authentication-Results"),
                ours: false,
            },
            Case {
                name: "softfail",
                headers: &[("authentication-results", "mx.example.test; spf = softfail")],
                id: Some("mx.example.test"),
                failure: Some("spf=softfail in Authentication-Results"),
                ours: true,
            },
            Case {
                name: "a pass whose comment says fail is a pass",
                headers: &[(
                    "authentication-results",
                    "mx.example.test; dkim=pass (no fail here) header.d=x",
                )],
                id: Some("mx.example.test"),
                failure: None,
                ours: true,
            },
            Case {
                name: "an id that only starts like ours is not ours",
                headers: &[("authentication-results", "mx.example.test.evil; dmarc=pass")],
                id: Some("mx.example.test"),
                failure: None,
                ours: false,
            },
        ];
        for c in cases {
            let v = verdict(&h(c.headers), c.id);
            assert_eq!(v.failure.as_deref(), c.failure, "{}", c.name);
            assert_eq!(v.from_our_server, c.ours, "{}", c.name);
        }
    }
}
