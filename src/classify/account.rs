//! Sentence accounting: the bot handles a mail alone only when it can place every sentence
//! of the new text. The rules place request sentences (a kind, closing an account), signals
//! (agent, reminder, complaint, legal, question, a system's receipt) and needs no request
//! covers (a refund, a locked account, a threat: `need` rules, never placed). What is left is
//! placed here, or not at all:
//!
//! - **courtesy**: greetings, thanks, sign-offs, "I look forward to your answer";
//! - **identifying data**: "Name: …", "my account number is …", an address, a phone number;
//! - **signature**: a short line with no clause in it (a name, a title, a company);
//! - **request context**: a sentence about the person's data, the law or the request itself
//!   ("under Article 17 GDPR", "I no longer use the app"), or a legal recourse stated as a
//!   condition ("if you do not answer within a month, I will complain to the authority");
//! - otherwise **unexplained**: a person reads the mail.
//!
//! Built in for en/es/de/fr, on folded text (lower-case ASCII, see [`super::normalize`]).

use regex::bytes::{Regex, RegexBuilder};
use std::sync::LazyLock;

fn re(pattern: &str) -> Regex {
    // Only ever called on the constant patterns below; covered by unit tests.
    RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .expect("built-in accounting regex compiles")
}

/// Greetings, thanks, sign-offs and polite closing lines in en/es/de/fr.
static COURTESY: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings|to whom it may concern|",
        r"thanks?(?: you)?(?: (?:so|very) much)?(?: in advance)?|many thanks|thx|ty|cheers|regards|kind regards|warm regards|best(?: regards| wishes)?|sincerely|yours(?: sincerely| faithfully| truly)?|respectfully|all the best|take care|",
        r"hola|buenas|buenos dias|buenas tardes|buenas noches|estimad[oa]s?|senor(?:es|a)?|muy senores mios|gracias|muchas gracias|saludos|un saludo|saludos cordiales|atentamente|atte|cordialmente|un cordial saludo|",
        r"hallo|guten (?:tag|morgen|abend)|gruezi|gruss gott|servus|moin|sehr geehrte[rs]?|liebe[rs]?|danke(?: schon| sehr)?|vielen dank|besten dank|mit freundlichen gru(?:e)?ss?en|freundliche gru(?:e)?ss?e|viele gru(?:e)?ss?e|beste gru(?:e)?ss?e|liebe gru(?:e)?ss?e|(?:lg|mfg|vg)|gru(?:e)?ss?|",
        r"bonjour|bonsoir|salut|madame|monsieur|merci(?: beaucoup| d'avance)?|d'avance merci|cordialement|bien (?:a vous|cordialement)|salutations|sinceres salutations|veuillez agreer|je vous prie d'agreer|bonne (?:journee|soiree)|a bientot)",
        r"(?:[ ,]+[a-z0-9'.&-]+){0,4}[ ,!.:]*$)",
        r"|\b(?:i )?(?:look(?:ing)? forward to|hope to hear)\b|\bthank(?:s| you) (?:for|in advance)\b|\bhave a (?:nice|good|great) (?:day|weekend|evening)\b|\bi hope (?:you are|you're|this (?:email|message) finds you)\b",
        r"|\bplease (?:confirm|let me know) (?:when|once|that|receipt|in writing)\b|\bconfirm (?:receipt|in writing|by (?:e-?mail|return))\b|\bplease (?:reply|respond|answer) (?:to|by|within)\b",
        r"|\b(?:i )?await your (?:prompt |timely |early )?(?:response|reply|answer)\b|\bich erwarte ihre\b|\bj'attends votre\b|\bespero (?:su|tu) respuesta\b",
        r"|\bquedo a la espera\b|\ben espera de su respuesta\b|\bagradezco\b|\bgracias (?:de antemano|por)\b|\bconfirmen? (?:la recepcion|por escrito|cuando)\b",
        r"|\bich freue mich auf\b|\bvielen dank (?:im voraus|fur)\b|\bbitte bestatigen sie\b|\bim voraus\b",
        r"|\bdans l'attente\b|\bje vous remercie\b|\bmerci (?:de|pour|par avance)\b|\bveuillez (?:me )?confirmer\b",
    ))
});

/// Identifying data: labelled fields, "my account number is …", addresses, phones, mail.
static IDENTITY: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:(?:(?:my|mi|mein|meine|ma|mon|la|el|the) )?(?:(?:current|new|old|actual|actuel|actuelle|nueva|nuevo|neue|neuer|nouvelle|nouveau) )?(?:full |first |last |sur|given |maiden )?(?:name|e-?mail(?: address)?|address|postal address|home address|phone(?: number)?|telephone|mobile|cell|account(?: number| no| id| name)?|customer(?: number| no| id)|client (?:number|no|id)|user ?name|user id|login|member(?:ship)? (?:number|no|id)|date of birth|dob|birth ?date|order (?:number|no)|reference|ref|zip|postcode|post code|city|country|",
        r"nombre|apellidos?|correo(?: electronico)?|e-mail|direccion|domicilio|telefono|movil|dni|nie|numero de (?:cliente|cuenta|pedido)|cuenta|usuario|fecha de nacimiento|",
        r"vorname|nachname|anschrift|adresse|strasse|plz|ort|telefon(?:nummer)?|handy|kundennummer|kunden-?nr|konto(?:nummer)?|benutzername|geburtsdatum|bestellnummer|",
        r"nom|prenom|courriel|numero (?:de )?client|identifiant|telephone|date de naissance|code postal|ville|numero de (?:commande|compte))(?: (?:actual|actuel|actuelle|nueva|neue|now|today))?\s*(?::|-|#|is\b|es\b|ist\b|est\b|=))",
        r"|\bmy (?:account|customer|client|member(?:ship)?|order|user|reference) (?:number|no|id|name)? ?(?:is|:)",
        r"|\b(?:my name is|me llamo|mi nombre es|mein name ist|ich heisse|je m'appelle|mon nom est) [a-z'-]+(?: [a-z'-]+){0,3}$",
        r"|\b(?:i (?:am|was) registered|registered|signed up|my account is|my (?:e-?mail|address) is|i use the (?:e-?mail|address)|i have an account) (?:with|under|as|on|at|using)\b",
        r"|^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$|^\+?[0-9][0-9 ()./-]{6,}$",
    ))
});

/// Words that make a line a clause (a pronoun, an auxiliary, "please"), in en/es/de/fr; a
/// short line without any is a signature line (a name, a title, a company).
static CLAUSE_WORD: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:i|i'm|im|me|my|you|your|we|our|us|is|are|am|was|were|be|been|have|has|had|do|does|did|will|would|can|could|please|want|need|should|not|no|dont|don't|",
        r"yo|mi|mis|su|sus|quiero|es|son|estoy|tengo|favor|no|",
        r"ich|mein|meine|meinen|sie|ihr|ihre|bitte|ist|bin|habe|hat|nicht|kein|",
        r"je|j'ai|mon|ma|mes|vous|votre|vos|est|suis|ai|veuillez|pas|ne)\b",
    ))
});

/// The person's data, the law, the request itself: a sentence about these is context.
static CONTEXT: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:personal|data|information|info|details|records|privacy|gdpr|dsgvo|rgpd|lopd|lopdgdd|ccpa|cpra|uk gdpr|dpa|article|art|arts|section|regulation|law|act|statute|statutory|legal|right|rights|entitled|request|requests|account|accounts|profile|e-?mails?|newsletters?|marketing|mailing|processing|process|controller|consent|app|application|website|service|services|subscription|subscribed|registered|signed up|customer|member|recipients?|breach|safeguards?|transfers?|retention|storage|stored|source|purposes?|categories|profiling|processors?|identity|identify|verify|comply|compliance|deadline|days|response|format|copy|export|csv|json|pdf|machine-readable|electronic|company|business|opt-?out|sell|sale|share|sharing|listing|listed|name|address|phone|agreed|consented|",
        r"datos|informacion|derecho|derechos|solicitud|solicito|cuenta|perfil|correos?|publicidad|tratamiento|ley|articulo|reglamento|aplicacion|registrad[oa]|suscrit[oa]|cliente|destinatarios|beneficiarios|violacion|garantias|identidad|identificar|plazo|dias|copia|empresa|",
        r"daten|angaben|auskunft|recht|rechte|anfrage|antrag|konto|profil|werbung|verarbeitung|gesetz|verordnung|einwilligung|gesetz\w*|abschnitt\w*|registriert|angemeldet|kunde|kundin|newsletter|empfanger|verletzung|garantien|identitat|identifizier\w*|frist|tage|kopie|unterlagen|unternehmen|\w+daten|",
        r"donnees|informations|droit|droits|demande|compte|profil|courriels?|publicite|traitement|loi|reglement|consentement|inscrit|inscrite|abonne|abonnee|client|cliente|infolettres?|destinataires|violation|garanties|identite|identifier|delai|jours|copie|societe|entreprise)\b",
    ))
});

/// The person's relation to the company: "I use your fitness watch", "I am a customer".
static RELATION: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:i (?:use|used|have used|have been using|bought|ordered|own|have) (?:your|the|a|an|one of your)|i(?: am|'m|m) (?:a|an) (?:customer|user|member|subscriber|client)|",
        r"(?:uso|utilizo|compre|tengo) (?:su|sus|tu|tus|el|la|una?)\b|soy (?:client[ea]|usuari[oa]|soci[oa])|",
        r"ich (?:nutze|benutze|verwende|habe) (?:ihre|ihren|ihr|eure|euren|euer|die|den|das|eine?n?)\b|ich bin (?:kunde|kundin|mitglied|nutzer\w*)|",
        r"j'utilise (?:votre|vos|la|le|l')|je suis (?:client|cliente|abonne|abonnee|membre))",
    ))
});

/// A legal recourse stated as a condition: the formal letters' "if you do not answer …".
static CONDITIONAL: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:if|unless|otherwise|failing|should you|reserve the right|right to (?:lodge|file|complain)|",
        r"si|sinon|a defaut|faute de|me reserve|en caso de|de lo contrario|me reservo|",
        r"sollte|sollten|falls|wenn|andernfalls|ansonsten|behalte mir)\b",
    ))
});

/// A labelled field ("Permanent residence: …", "Numéro de téléphone : …"), a heading that
/// introduces a list, a list item, a dateline ("In Berlin, am 4. März 2024").
static FORM_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(?:zur achtung|z\. ?hd\.?|attn|attention|for the attention|a l'attention|a la atencion|atencion)\b|",
        r"^[a-z][a-z .,'/()-]{1,40} ?: ?\S|:$",
        r"|^(?:\d+(?:\.\d+)*[.)]?|[ivx]{1,4}[.)]|[a-z][.)])\s|;$",
        r"|^(?:in |a |en |am )?[a-z -]{2,30}, (?:(?:am|le|el|den|the) )?\d{1,2}(?:\.|st|nd|rd|th)? (?:de )?[a-z]+ (?:de )?\d{4}$",
        r"|\b(?:my|their|his|her|the consumer'?s?|and my) (?:phone numbers?|address|postal address|e-?mail address|date of birth) (?:is|are)\b",
    ))
});

/// A short sentence that points back at the request ("can u fix it", "schickt mir das
/// bitte", "hazlo ya") or states the corrected value ("it's Kowalczyk, not Kowalczik",
/// "richtig ist …", "la dirección correcta es …").
static BACK_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:fix|correct|change|update|send|do|delete|remove|erase|process|handle|schick\w*|send\w*|mach\w*|ander\w*|losch\w*|korrigier\w*|envi\w*|hag\w*|haz\w*|corrij\w*|borr\w*|elimin\w*|envoy\w*|corrig\w*|supprim\w*|faites)\b[a-z ]{0,20}\b(?:it|that|this|them|das|es|dies|lo|la|los|las|le|les|cela|ca)\b",
        r"|\b(?:richtig ist|korrekt ist|lautet richtig|the correct \w+ is|it should (?:be|read)|should read|correct(?:o|a)? es|correcte est|c'est)\b",
        r"|^(?:it|it's|its|that's|es|c'est|das ist|ist)\b[^,]{1,40},? (?:not|nicht|no|pas)\b",
    ))
});

/// A legal recourse: a complaint to an authority, a lawyer, a court.
static RECOURSE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"\b(?:complain\w*|complaint|authority|authorities|commissioner|regulator|ico|legal|court|lawyer|attorney|solicitor|action|",
        r"reclamacion|autoridad|aepd|agencia|tribunal|accion|abogado|",
        r"beschwerde|beschweren|aufsichtsbehorde|datenschutzbehorde|behorde|rechtliche|anwalt|gericht|klage|",
        r"plainte|cnil|autorite|recours|avocat|justice|tribunal)\b",
    ))
});

/// How a sentence the rules did not place reads, or `None` when nothing places it.
pub fn place(sentence: &str) -> Option<&'static str> {
    let s = sentence.trim().trim_end_matches(['.', '!', ',', ';']);
    if s.is_empty() || !s.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Some("punctuation");
    }
    let b = s.as_bytes();
    if COURTESY.is_match(b) {
        return Some("courtesy");
    }
    if IDENTITY.is_match(b) {
        return Some("identifying data");
    }
    let words = s.split_whitespace().count();
    if CONDITIONAL.is_match(b) && RECOURSE.is_match(b) {
        return Some("legal recourse as a condition");
    }
    if words <= 10 && BACK_REFERENCE.is_match(b) {
        return Some("request (refers back)");
    }
    if FORM_LINE.is_match(b) {
        return Some("form field or list");
    }
    if CONDITIONAL.is_match(b) {
        return Some("a condition on the request");
    }
    if words <= 5 && !CLAUSE_WORD.is_match(b) {
        return Some("signature");
    }
    if CONTEXT.is_match(b) || RELATION.is_match(b) {
        return Some("request context");
    }
    None
}

/// A sentence whose legal recourse is only a condition ("if you do not answer …").
pub fn conditional(sentence: &str) -> bool {
    CONDITIONAL.is_match(sentence.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places() {
        let table = [
            ("hi,", Some("courtesy")),
            ("kind regards,", Some("courtesy")),
            ("thanks in advance for your help", Some("courtesy")),
            ("mit freundlichen grussen", Some("courtesy")),
            ("un saludo", Some("courtesy")),
            ("bien a vous,", Some("courtesy")),
            ("name: laura chen", Some("identifying data")),
            ("my username is kfernandes88", Some("identifying data")),
            ("kundennummer: 44120", Some("identifying data")),
            ("jane doe", Some("signature")),
            ("hr manager, brightline logistics", Some("signature")),
            ("i no longer use the app", Some("request context")),
            (
                "under article 17 gdpr i ask for this",
                Some("request context"),
            ),
            ("you still charged my card $14.99 on november 3rd", None),
            ("i'm done with this", None),
            ("the weather was lovely in leeds yesterday afternoon", None),
        ];
        for (s, want) in table {
            assert_eq!(place(s), want, "{s}");
        }
        assert!(conditional(
            "if you do not answer, i will complain to the authority"
        ));
        assert!(!conditional("i have complained to the authority"));
    }
}
