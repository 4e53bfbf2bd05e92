//! Where and how to reach a server, `[imap]` and `[smtp]` alike: host, port, transport
//! security (no clear text to a remote host unless allowed), a CA file, and exactly one
//! source for the password or token ([`Secret`]; read only at login).

use super::problems::Errors;
use super::{Auth, Endpoint, Secret, Security};
use std::net::IpAddr;
use std::path::PathBuf;

/// The keys `[imap]` and `[smtp]` share.
pub(super) struct EndpointParts {
    pub(super) host: Option<String>,
    pub(super) port: Option<u16>,
    pub(super) security: Option<Security>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) password_env: Option<String>,
    pub(super) password_command: Option<String>,
    pub(super) oauth2_token_command: Option<String>,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) allow_insecure: bool,
    pub(super) auth_required: bool,
}

/// The server and credentials of `[imap]` or `[smtp]`: which one secret source is named.
pub(super) fn endpoint(sec: &str, p: EndpointParts, errs: &mut Errors) -> Endpoint {
    let host = p.host.unwrap_or_default();
    if host.trim().is_empty() {
        errs.push(&format!("{sec}.host"), "missing");
    }
    let port = match p.port {
        Some(0) => {
            errs.push(&format!("{sec}.port"), "must be 1-65535");
            0
        }
        Some(port) => port,
        None => {
            errs.push(&format!("{sec}.port"), "missing");
            0
        }
    };
    let security = p.security.unwrap_or(Security::Tls);
    if security == Security::None && !p.allow_insecure && !is_loopback(&host) && !host.is_empty() {
        errs.push(
            &format!("{sec}.security"),
            format!("\"none\" sends the password in clear text to {host}; use \"tls\" or \"starttls\", or set {sec}.allow-insecure = true"),
        );
    }
    if let Some(ca) = &p.ca_file {
        if !ca.is_file() {
            errs.push(
                &format!("{sec}.ca-file"),
                format!("{} is not a readable file", ca.display()),
            );
        }
    }
    let sources = [
        p.password.is_some(),
        p.password_env.is_some(),
        p.password_command.is_some(),
        p.oauth2_token_command.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        errs.push(
            &format!("{sec}.password"),
            "set only one of password, password-env, password-command, oauth2-token-command",
        );
    }
    let username = p.username.unwrap_or_default();
    let auth = if let Some(cmd) = p.oauth2_token_command {
        Auth::OAuth2 {
            username: username.clone(),
            token_command: cmd,
        }
    } else if let Some(pw) = p.password {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Literal(pw),
        }
    } else if let Some(var) = p.password_env {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Env(var),
        }
    } else if let Some(cmd) = p.password_command {
        Auth::Password {
            username: username.clone(),
            secret: Secret::Command(cmd),
        }
    } else {
        if p.auth_required {
            errs.push(
                &format!("{sec}.password"),
                "missing: set password, password-env, password-command or oauth2-token-command",
            );
        }
        Auth::None
    };
    if !matches!(auth, Auth::None) && username.trim().is_empty() {
        errs.push(&format!("{sec}.username"), "missing");
    }
    Endpoint {
        host,
        port,
        security,
        ca_file: p.ca_file,
        auth,
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}
