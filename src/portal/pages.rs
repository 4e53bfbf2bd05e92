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

/// The languages the pages speak: the request's own (the link mail's), else the browser's
/// first choice, else English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Spanish.
    Es,
    /// German.
    De,
    /// French.
    Fr,
}

impl Lang {
    /// `es`, `es-MX`, `de_DE`… → that language; anything else English.
    pub fn of(tag: &str) -> Lang {
        match tag.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("es") => Lang::Es,
            Some("de") => Lang::De,
            Some("fr") => Lang::Fr,
            _ => Lang::En,
        }
    }

    /// The first language of an `Accept-Language` header.
    pub fn of_accept(header: Option<&str>) -> Lang {
        Lang::of(
            header
                .and_then(|h| h.split([',', ';']).next())
                .unwrap_or(""),
        )
    }

    fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::De => "de",
            Lang::Fr => "fr",
        }
    }

    fn pick(
        self,
        en: &'static str,
        es: &'static str,
        de: &'static str,
        fr: &'static str,
    ) -> &'static str {
        match self {
            Lang::En => en,
            Lang::Es => es,
            Lang::De => de,
            Lang::Fr => fr,
        }
    }
}

fn page(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">\
         <title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n",
        lang.code(),
        esc(title)
    )
}

/// `title` with the company's name after it, when there is one ("Your data · Acme").
fn titled(title: &str, company: &str) -> String {
    if company.is_empty() {
        title.to_string()
    } else {
        format!("{title} · {company}")
    }
}

/// The company's name above a page's heading (escaped), or nothing.
fn brand(company: &str) -> String {
    if company.is_empty() {
        String::new()
    } else {
        format!("<p class=\"brand\">{}</p>\n", esc(company))
    }
}

/// The page a working link opens: what it is, and the button that downloads. `expires` is a
/// date in `lang`; `company` names who sends it (the display name of `[smtp] from`; "" for
/// none).
pub fn download(lang: Lang, company: &str, request: &str, expires: &str, confirm: &str) -> String {
    let (title, h1, what, once, button) = match lang {
        Lang::En => (
            "Your data",
            "Your data is ready",
            "This is the copy of your personal data that you asked for (request {R}). It is a zip file with a page that explains what is in it, and each table as JSON and CSV.",
            "The link works <strong>once</strong>: after the download it stops working. It expires on {E}.",
            "Download my data",
        ),
        Lang::Es => (
            "Sus datos",
            "Sus datos están listos",
            "Esta es la copia de sus datos personales que usted solicitó (solicitud {R}). Es un archivo zip con una página que explica su contenido, y cada tabla en formato JSON y CSV.",
            "El enlace funciona <strong>una sola vez</strong>: después de la descarga deja de funcionar. Caduca el {E}.",
            "Descargar mis datos",
        ),
        Lang::De => (
            "Ihre Daten",
            "Ihre Daten sind bereit",
            "Dies ist die Kopie Ihrer personenbezogenen Daten, die Sie angefordert haben (Anfrage {R}). Es ist eine ZIP-Datei mit einer Seite, die ihren Inhalt erklärt, und jeder Tabelle als JSON und CSV.",
            "Der Link funktioniert <strong>nur einmal</strong>: Nach dem Herunterladen ist er ungültig. Er läuft am {E} ab.",
            "Meine Daten herunterladen",
        ),
        Lang::Fr => (
            "Vos données",
            "Vos données sont prêtes",
            "Voici la copie de vos données personnelles que vous avez demandée (demande {R}). C'est un fichier zip avec une page qui en explique le contenu, et chaque tableau au format JSON et CSV.",
            "Le lien ne fonctionne <strong>qu'une seule fois</strong> : après le téléchargement, il ne fonctionne plus. Il expire le {E}.",
            "Télécharger mes données",
        ),
    };
    page(
        lang,
        &titled(title, company),
        &format!(
            "{}<h1>{}</h1>\n<p>{}</p>\n<p>{}</p>\n\
             <form method=\"post\"><input type=\"hidden\" name=\"confirm\" value=\"{}\">\
             <button type=\"submit\">{}</button></form>\n",
            brand(company),
            esc(h1),
            esc(what).replace("{R}", &esc(request)),
            once.replace("{E}", &esc(expires)),
            esc(confirm),
            esc(button)
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
pub fn gone(lang: Lang, company: &str, why: Gone) -> String {
    let (title, text) = match (why, lang) {
        (Gone::Unknown, Lang::En) => ("This link is not valid", "We do not know this link. If you copied it from our mail, check that the whole address was copied."),
        (Gone::Unknown, Lang::Es) => ("Este enlace no es válido", "No reconocemos este enlace. Si lo copió de nuestro correo, compruebe que copió la dirección completa."),
        (Gone::Unknown, Lang::De) => ("Dieser Link ist ungültig", "Wir kennen diesen Link nicht. Wenn Sie ihn aus unserer E-Mail kopiert haben, prüfen Sie bitte, ob die ganze Adresse kopiert wurde."),
        (Gone::Unknown, Lang::Fr) => ("Ce lien n'est pas valide", "Nous ne connaissons pas ce lien. Si vous l'avez copié depuis notre e-mail, vérifiez que l'adresse a été copiée en entier."),
        (Gone::Used, Lang::En) => ("This link has already been used", "Each link downloads your data once, and this one has been used."),
        (Gone::Used, Lang::Es) => ("Este enlace ya se ha utilizado", "Cada enlace permite descargar sus datos una sola vez, y este ya se ha utilizado."),
        (Gone::Used, Lang::De) => ("Dieser Link wurde bereits verwendet", "Jeder Link lädt Ihre Daten nur einmal herunter, und dieser wurde bereits verwendet."),
        (Gone::Used, Lang::Fr) => ("Ce lien a déjà été utilisé", "Chaque lien ne permet de télécharger vos données qu'une seule fois, et celui-ci a déjà été utilisé."),
        (Gone::Replaced, Lang::En) => ("This link was replaced", "We sent you a newer link, which replaces this one: use the link in our most recent mail."),
        (Gone::Replaced, Lang::Es) => ("Este enlace ha sido sustituido", "Le enviamos un enlace más reciente que sustituye a este: utilice el enlace de nuestro último correo."),
        (Gone::Replaced, Lang::De) => ("Dieser Link wurde ersetzt", "Wir haben Ihnen einen neueren Link geschickt, der diesen ersetzt: Bitte verwenden Sie den Link aus unserer letzten E-Mail."),
        (Gone::Replaced, Lang::Fr) => ("Ce lien a été remplacé", "Nous vous avons envoyé un lien plus récent qui remplace celui-ci : utilisez le lien de notre dernier e-mail."),
        (Gone::Expired, Lang::En) => ("This link has expired", "Links work for a limited number of days, and this one is past its date."),
        (Gone::Expired, Lang::Es) => ("Este enlace ha caducado", "Los enlaces funcionan durante un número limitado de días, y este ya ha caducado."),
        (Gone::Expired, Lang::De) => ("Dieser Link ist abgelaufen", "Links funktionieren nur eine begrenzte Anzahl von Tagen, und dieser ist abgelaufen."),
        (Gone::Expired, Lang::Fr) => ("Ce lien a expiré", "Les liens fonctionnent pendant un nombre de jours limité, et celui-ci a expiré."),
    };
    let resend = lang.pick(
        "To get a new link, reply to the mail that brought you this one with the word <strong>/resend</strong> on a line of its own, and we will send you a fresh link.",
        "Para recibir un enlace nuevo, responda al correo que le trajo este enlace con la palabra <strong>/resend</strong> en una línea aparte, y le enviaremos uno nuevo.",
        "Um einen neuen Link zu erhalten, antworten Sie auf die E-Mail mit diesem Link und schreiben Sie <strong>/resend</strong> in eine eigene Zeile; wir schicken Ihnen dann einen neuen Link.",
        "Pour recevoir un nouveau lien, répondez à l'e-mail qui vous a apporté celui-ci en écrivant <strong>/resend</strong> sur une ligne à part, et nous vous enverrons un nouveau lien.",
    );
    page(
        lang,
        &titled(title, company),
        &format!(
            "{}<h1>{}</h1>\n<p>{}</p>\n<p>{resend}</p>\n",
            brand(company),
            esc(title),
            esc(text)
        ),
    )
}

/// The page of anything else: not found.
pub fn not_found() -> String {
    page(
        Lang::En,
        "Not found",
        "<h1>Not found</h1>\n<p>There is nothing here. If you have a link from our mail, open it exactly as it was sent.</p>",
    )
}

/// The page shown when the server cannot answer now (never a raw error).
pub fn unavailable(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("Please try again later", "Something went wrong on our side. Your link has not been used: please try again in a few minutes. If it keeps failing, reply to our mail and we will help."),
        Lang::Es => ("Inténtelo de nuevo más tarde", "Algo ha fallado por nuestra parte. Su enlace no se ha utilizado: inténtelo de nuevo dentro de unos minutos. Si sigue fallando, responda a nuestro correo y le ayudaremos."),
        Lang::De => ("Bitte versuchen Sie es später erneut", "Bei uns ist etwas schiefgegangen. Ihr Link wurde nicht verbraucht: Bitte versuchen Sie es in einigen Minuten erneut. Wenn es weiterhin nicht klappt, antworten Sie auf unsere E-Mail, und wir helfen Ihnen."),
        Lang::Fr => ("Veuillez réessayer plus tard", "Un problème est survenu de notre côté. Votre lien n'a pas été utilisé : veuillez réessayer dans quelques minutes. Si cela continue, répondez à notre e-mail et nous vous aiderons."),
    };
    page(
        lang,
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(text)),
    )
}

/// The page of a POST that did not come from our own page.
pub fn refused(lang: Lang) -> String {
    let (title, text) = match lang {
        Lang::En => ("Please use the button", "Open the link from our mail and press the download button on that page."),
        Lang::Es => ("Utilice el botón", "Abra el enlace de nuestro correo y pulse el botón de descarga de esa página."),
        Lang::De => ("Bitte verwenden Sie die Schaltfläche", "Öffnen Sie den Link aus unserer E-Mail und klicken Sie auf dieser Seite auf die Schaltfläche zum Herunterladen."),
        Lang::Fr => ("Veuillez utiliser le bouton", "Ouvrez le lien de notre e-mail et appuyez sur le bouton de téléchargement de cette page."),
    };
    page(
        lang,
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", esc(title), esc(text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_name_the_company_escaped() {
        let page = download(
            Lang::En,
            "Acme <Shop> & Co",
            "PRIV-2026-00001",
            "May 1, 2026",
            "c",
        );
        assert!(
            page.contains("<title>Your data · Acme &lt;Shop&gt; &amp; Co</title>"),
            "{page}"
        );
        assert!(
            page.contains("<p class=\"brand\">Acme &lt;Shop&gt; &amp; Co</p>\n<h1>"),
            "{page}"
        );
        let page = gone(Lang::De, "Acme", Gone::Used);
        assert!(
            page.contains("<title>Dieser Link wurde bereits verwendet · Acme</title>"),
            "{page}"
        );
        let page = download(Lang::En, "", "PRIV-2026-00001", "May 1, 2026", "c");
        assert!(
            page.contains("<title>Your data</title>") && !page.contains("brand"),
            "{page}"
        );
    }
}
