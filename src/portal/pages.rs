//! The portal's pages: small, static HTML with one inline style (allowed by its hash in the
//! Content-Security-Policy), no script, every value escaped.

use crate::fulfil::package::esc;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The one stylesheet of every page.
pub const STYLE: &str = "body{font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5}button{font-size:1.1em;padding:.5em 1.2em}";

/// The Content-Security-Policy of every response: nothing loads, the inline style is allowed
/// by its hash, forms post only to this site, nothing frames the page.
pub fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// The page a working link opens: what it is, and the button that downloads.
pub fn download(request: &str, expires: &str, confirm: &str) -> String {
    page(
        "Your data",
        &format!(
            "<h1>Your data is ready</h1>\n\
             <p>This is the copy of your personal data that you asked for (request {}). \
             It is a zip file with a page that explains what is in it, and each table as JSON and CSV.</p>\n\
             <p>The link works <strong>once</strong>: after the download it stops working. It expires on {}.</p>\n\
             <form method=\"post\"><input type=\"hidden\" name=\"confirm\" value=\"{}\">\
             <button type=\"submit\">Download my data</button></form>\n",
            esc(request),
            esc(expires),
            esc(confirm)
        ),
    )
}

/// Why a link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// No such link.
    Unknown,
    /// Downloaded already.
    Used,
    /// Replaced by a newer link.
    Replaced,
    /// Past its date.
    Expired,
}

/// The page of a link that does not work, saying why and how to get a new one.
pub fn gone(why: Gone) -> String {
    let (title, text) = match why {
        Gone::Unknown => (
            "This link is not valid",
            "We do not know this link. If you copied it from our mail, check that the whole address was copied.",
        ),
        Gone::Used => (
            "This link has already been used",
            "Each link downloads your data once, and this one has been used.",
        ),
        Gone::Replaced => (
            "This link was replaced",
            "We sent you a newer link, which replaces this one: use the link in our most recent mail.",
        ),
        Gone::Expired => (
            "This link has expired",
            "Links work for a limited number of days, and this one is past its date.",
        ),
    };
    page(
        title,
        &format!(
            "<h1>{}</h1>\n<p>{}</p>\n\
             <p>To get a new link, reply to the mail that brought you this one with the word \
             <strong>/resend</strong> on a line of its own, and we will send you a fresh link.</p>\n",
            esc(title),
            esc(text)
        ),
    )
}

/// The page of anything else: not found.
pub fn not_found() -> String {
    page(
        "Not found",
        "<h1>Not found</h1>\n<p>There is nothing here. If you have a link from our mail, open it exactly as it was sent.</p>",
    )
}

/// The page shown when the server cannot answer now (never a raw error).
pub fn unavailable() -> String {
    page(
        "Please try again later",
        "<h1>Please try again later</h1>\n<p>Something went wrong on our side. Your link has not been used: \
         please try again in a few minutes. If it keeps failing, reply to our mail and we will help.</p>",
    )
}

/// The page of a POST that did not come from our own page.
pub fn refused() -> String {
    page(
        "Please use the button",
        "<h1>Please use the button</h1>\n<p>Open the link from our mail and press the download button on that page.</p>",
    )
}
