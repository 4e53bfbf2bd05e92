//! What a reply to our verification request says: a confirmation, a disavowal ("I did not
//! send this"), or machine text (an out-of-office that echoes our subject and its code).
//! Only the reply's own new text is read (quotes of our acknowledgement, which itself says
//! "if you did not send this request", are removed before this is called).

use regex::Regex;
use std::sync::LazyLock;

/// The meaning of a verification reply's new text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyIntent {
    /// A confirmation (or an empty reply: replying is what we asked for).
    Confirms,
    /// The requester says they did not make the request, or asks us not to act on it.
    Disavows(String),
    /// An automatic reply that does not say it is one (no RFC 3834 headers).
    Machine(String),
}

fn re(pattern: &str) -> Regex {
    // Only ever called on the constant patterns below; covered by unit tests.
    Regex::new(pattern).expect("built-in confirmation regex compiles")
}

/// "I did not send this", "not me", "don't delete anything", in en/es/de/fr.
static DISAVOWAL: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:",
        // English
        r"\b(?:i|we)\s+(?:did\s*n[o']?t|didn't|didnt|never|have\s*n[o']?t|haven't|did\s+not)\s+(?:send|sent|make|made|request|requested|ask|asked|write|wrote|submit|submitted)\b",
        r"|\b(?:wasn'?t|isn'?t|was\s+not|is\s+not)\s+me\b",
        r"|\bnot\s+(?:me|mine|from\s+me|by\s+me|my\s+request)\b",
        r"|\b(?:do\s*n[o']?t|don't|dont|please\s+don'?t|never)\s+(?:delete|erase|remove|close|cancel|wipe|touch|process|act)\b",
        r"|\b(?:no\s+one|nobody)\s+(?:here\s+)?(?:sent|asked|requested)\b",
        r"|\b(?:fraud(?:ulent)?|phishing|scam|impersonat\w*|hack(?:ed|er)|someone\s+else\s+(?:sent|made|is\s+using))\b",
        r"|\bcancel\s+(?:this|the|my)\s+request\b",
        // Spanish
        r"|\bno\s+(?:fui|soy)\s+yo\b|\byo\s+no\s+(?:he\s+)?(?:envi[ée]|enviado|ped[íi]|pedido|solicit[ée]|solicitado|mand[ée])\b",
        r"|\bno\s+(?:he\s+)?(?:enviado|envi[ée]|solicitado|pedido)\b",
        r"|\bno\s+(?:borren|borres|eliminen|elimines|supriman|cancelen)\b",
        // German
        r"|\bnicht\s+(?:von\s+)?mir\b|\bwar\s+nicht\s+ich\b|\bich\s+(?:habe|hab)\s+(?:das\s+|dies\s+|diese\s+\w+\s+)?(?:nicht|nie)\s+(?:gesendet|geschickt|verschickt|beantragt|angefordert|gestellt)\b",
        r"|\bnicht\s+l[öo]schen\b|\bbitte\s+nichts\s+l[öo]schen\b",
        // French
        r"|\bpas\s+moi\b|\bce\s+n'?est\s+pas\s+moi\b|\bje\s+n'?ai\s+(?:pas|jamais)\s+(?:envoy[ée]|demand[ée]|fait)\b",
        r"|\bne\s+(?:supprimez|effacez)\s+(?:pas|rien)\b",
        r")",
    ))
});

/// Out-of-office and other machine text, in en/es/de/fr.
static MACHINE: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:",
        r"\bout\s+of\s+(?:the\s+)?office\b|\bautomatic\s+reply\b|\bauto[- ]?reply\b|\bautoreply\b|\bauto-?response\b",
        r"|\b(?:i\s+am|i'm|im)\s+(?:currently\s+)?(?:away|on\s+(?:holiday|vacation|leave)|out\b|travel+ing)",
        r"|\bthis\s+(?:is\s+an\s+)?(?:automated|automatic)\s+(?:message|response|reply)\b",
        r"|\bthis\s+mailbox\s+is\s+(?:not\s+monitored|unattended)\b|\bdo\s+not\s+reply\s+to\s+this\b",
        r"|\bfuera\s+de\s+la\s+oficina\b|\brespuesta\s+autom[áa]tica\b|\bestoy\s+de\s+vacaciones\b",
        r"|\babwesenheit\w*\b|\bautomatische\s+antwort\b|\bbin\s+(?:derzeit\s+|zurzeit\s+)?(?:nicht\s+im\s+b[üu]ro|im\s+urlaub|abwesend)\b",
        r"|\babsent\s+du\s+bureau\b|\br[ée]ponse\s+automatique\b|\bje\s+suis\s+(?:actuellement\s+)?(?:absent|en\s+cong[ée])",
        r")",
    ))
});

/// Classifies a verification reply's new text.
pub fn reply_intent(new_text: &str) -> ReplyIntent {
    let text = super::text::clip(new_text, 16 * 1024);
    if let Some(m) = DISAVOWAL.find(text) {
        return ReplyIntent::Disavows(m.as_str().trim().to_string());
    }
    if let Some(m) = MACHINE.find(text) {
        return ReplyIntent::Machine(m.as_str().trim().to_string());
    }
    ReplyIntent::Confirms
}

/// The person's own confirmation, in en/es/de/fr: needed when a reply also carries our own
/// mail pasted back without quote marks (then the bare act of replying proves nothing: an
/// auto-responder does that too).
static AFFIRMS: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"(?i)(?:",
        r"\b(?:yes|yeah|yep|yup|confirm\w*|ok(?:ay)?|sure|correct|go\s+ahead|proceed|please\s+do|please\s+proceed)\b",
        r"|\b(?:it|this|that)(?:\s+is|'s|s|\s+was)\s+(?:really\s+|indeed\s+)?me\b|\bi\s+(?:did|sent\s+it|made\s+it|asked|requested|wrote)\b|\b(?:my|mine)\s+(?:own\s+)?request\b",
        r"|\bs[ií]\b|\bsoy\s+yo\b|\bfui\s+yo\b|\bconfirm[oa]\b|\badelante\b|\bde\s+acuerdo\b|\bcorrecto\b",
        r"|\bja\b|\bjawohl\b|\bbest[äa]tig\w*|\bdas\s+(?:bin|war)\s+ich\b|\bvon\s+mir\b|\bstimmt\b|\bkorrekt\b",
        r"|\boui\b|\bc'?est\s+(?:bien\s+)?moi\b|\bje\s+confirme\b|\bd'accord\b|\ballez-y\b|\bexact\b",
        r")",
    ))
});

/// The fewest words of our own mail, found in a reply's new text, that make it an echo.
const ECHO_MIN_WORDS: usize = 8;

/// Length of the word runs compared with our own mail.
const SHINGLE: usize = 5;

/// Lower-case words (letters and digits, an apostrophe kept inside), for comparing texts.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A reply's new text split into what is ours and what is the sender's own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Echo {
    /// Words of the new text that are our own mail's (runs of [`SHINGLE`] words we wrote,
    /// and our verification code).
    pub ours: usize,
    /// The sender's own words, in order, joined by spaces.
    pub own: String,
}

/// Takes our own mails' texts (`ours`: what we sent on this request) out of a reply's new
/// text. A verification code (`verify-` and hex digits) in the new text counts as ours too:
/// only our mail carries it.
pub fn echo(new_text: &str, ours: &[String]) -> Echo {
    let text = super::text::clip(new_text, 16 * 1024);
    let new = words(text);
    let mut shingles = std::collections::HashSet::new();
    for o in ours {
        let w = words(super::text::clip(o, 32 * 1024));
        for run in w.windows(SHINGLE) {
            shingles.insert(run.join(" "));
        }
    }
    let mut covered = vec![false; new.len()];
    if !shingles.is_empty() {
        for (i, run) in new.windows(SHINGLE).enumerate() {
            if shingles.contains(&run.join(" ")) {
                for c in covered.iter_mut().skip(i).take(SHINGLE) {
                    *c = true;
                }
            }
        }
    }
    for (i, w) in new.iter().enumerate() {
        let code = w
            .strip_prefix("verify-")
            .is_some_and(|h| h.len() >= 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if code {
            // The code counts as eight words: a code alone makes an echo.
            covered[i] = true;
        }
    }
    let codes = new
        .iter()
        .zip(&covered)
        .filter(|(w, c)| **c && w.starts_with("verify-"))
        .count();
    let ours_n = covered.iter().filter(|c| **c).count() + codes * (ECHO_MIN_WORDS - 1);
    let own: Vec<&str> = new
        .iter()
        .zip(&covered)
        .filter(|(_, c)| !**c)
        .map(|(w, _)| w.as_str())
        .collect();
    Echo {
        ours: ours_n,
        own: own.join(" "),
    }
}

/// What a verification reply means, our own mail taken into account: text that is ours is
/// never the person's confirmation. When the new text carries our mail (or its code) pasted
/// back unquoted, the rest must confirm in the sender's own words; otherwise it is read as
/// machine text (an auto-responder echoing us), and the request is not verified.
pub fn verification_reply(new_text: &str, ours: &[String]) -> ReplyIntent {
    let e = echo(new_text, ours);
    if e.ours < ECHO_MIN_WORDS {
        return reply_intent(new_text);
    }
    match reply_intent(&e.own) {
        ReplyIntent::Confirms if AFFIRMS.is_match(&e.own) => ReplyIntent::Confirms,
        ReplyIntent::Confirms => ReplyIntent::Machine(if e.own.trim().is_empty() {
            "our own mail pasted back, no word of the sender's own".to_string()
        } else {
            format!(
                "our own mail pasted back; the sender's own words do not confirm: \"{}\"",
                super::text::clip(&e.own, 120)
            )
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own mails are quoted back in every verification reply, often without quote marks
    /// the splitter can see: nothing we write may read as a disavowal or as machine text.
    #[test]
    fn our_own_templates_read_as_neither_disavowal_nor_machine_text() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut read = 0;
        for lang in std::fs::read_dir(&dir).expect("templates dir") {
            let lang = lang.expect("entry").path();
            let Ok(files) = std::fs::read_dir(&lang) else {
                continue;
            };
            for f in files {
                let f = f.expect("entry").path();
                let name = f.to_string_lossy().to_string();
                if !(name.ends_with(".txt.hbs") || name.ends_with(".subject.hbs")) {
                    continue;
                }
                let text = std::fs::read_to_string(&f).expect("template");
                assert_eq!(reply_intent(&text), ReplyIntent::Confirms, "{name}");
                read += 1;
            }
        }
        assert!(read > 20, "only {read} templates read");
    }

    /// Our acknowledgement as the consumer's client shows it, to be quoted back.
    const ACK: &str = "Hello,\n\nWe received your privacy request on November 27, 2026 and recorded it under the\nreference PRIV-2026-00001. You asked for:\n  - deletion of your personal information\n\nBefore we act on it, we need to confirm that this request comes from you. Please\nsimply reply to this mail from consumer@example.test, keeping the subject as it is.\nIf you did not send this request, ignore this mail and nothing will happen.";

    fn quoted(prefix: &str) -> String {
        ACK.lines()
            .map(|l| format!("{prefix}{l}"))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// A reply as a real client writes it: `words` from the consumer, our mail quoted.
    fn reply_in(client: &str, words: &str) -> Vec<u8> {
        let head = "From: consumer@example.test\r\nTo: privacy+verify-x@example.test\r\nSubject: Re: [PRIV-2026-00001] We received your privacy request\r\nMessage-ID: <r@c>\r\nMIME-Version: 1.0\r\n";
        let subject = "[PRIV-2026-00001] We received your privacy request";
        let plain = |body: String| {
            format!("{head}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
        };
        match client {
            "outlook" => plain(format!(
                "{words}\r\n\r\n-----Original Message-----\r\nFrom: Privacy <privacy@example.test>\r\nSent: Friday, November 27, 2026 9:01 AM\r\nTo: consumer@example.test\r\nSubject: {subject}\r\n\r\n{}",
                quoted("")
            )),
            "gmail" => plain(format!(
                "{words}\r\n\r\nOn Fri, Nov 27, 2026 at 9:01 AM Privacy <privacy@example.test>\r\nwrote:\r\n\r\n{}",
                quoted("> ")
            )),
            "apple" => plain(format!(
                "{words}\r\n\r\n> On 27 Nov 2026, at 09:01, Privacy <privacy@example.test> wrote:\r\n> \r\n{}",
                quoted("> ")
            )),
            "top-posted" => plain(format!("{words}\r\n\r\n{}", quoted(""))),
            "windows-mail-ru" => plain(format!(
                "{words}\r\n\r\nОтправлено из почты для Windows\r\n\r\nОт: Privacy <privacy@example.test>\r\nОтправлено: 27 ноября 2026 г. 9:01\r\nКому: consumer@example.test\r\nТема: {subject}\r\n\r\n{}",
                quoted("")
            )),
            "outlook-com-html" => {
                let ack_html = ACK.replace("\n\n", "<br><br>").replace('\n', " ");
                let words_html = words.replace('\n', "<br>");
                format!(
                    "{head}Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{{margin:0}}</style></head><body dir=\"ltr\"><div style=\"font-family:Calibri\">{words_html}<br><br></div><div id=\"appendonsend\"></div><hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri\"><b>From:</b> Privacy &lt;privacy@example.test&gt;<br><b>Sent:</b> Friday, November 27, 2026 9:01 AM<br><b>To:</b> consumer@example.test<br><b>Subject:</b> {subject}</font><div>&nbsp;</div></div><div>{ack_html}</div></body></html>\r\n"
                )
                .into_bytes()
            }
            "outlook-com-html-paragraphs" => {
                // The consumer's text and the quoted header block only apart by `<br><br>`.
                let ack_html = ACK.replace('\n', "<br>");
                format!(
                    "{head}Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>{words}<br><br>From: Privacy &lt;privacy@example.test&gt;<br>Sent: Friday, November 27, 2026 9:01 AM<br>To: consumer@example.test<br>Subject: {subject}<br><br>{ack_html}</body></html>\r\n"
                )
                .into_bytes()
            }
            "outlook-com-html-no-header" => {
                // Outlook.com pastes our mail under the reply with no header at all, its
                // paragraphs (and the consumer's) apart only by `<br><br>`.
                let ack_html = ACK.replace('\n', "<br>");
                format!(
                    "{head}Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><div>{words}<br><br></div><div>{ack_html}</div></body></html>\r\n"
                )
                .into_bytes()
            }
            other => panic!("no client {other}"),
        }
    }

    #[test]
    fn replies_as_real_clients_write_them_are_read_by_their_own_words() {
        let clients = [
            "outlook",
            "gmail",
            "apple",
            "top-posted",
            "windows-mail-ru",
            "outlook-com-html",
            "outlook-com-html-paragraphs",
            "outlook-com-html-no-header",
        ];
        for client in clients {
            let yes = crate::mail::parse(&reply_in(client, "Yes, that's me.")).expect("parses");
            assert!(
                yes.new_text.contains("Yes, that's me."),
                "{client}: the consumer's words are lost: {:?}",
                yes.new_text
            );
            assert!(
                !yes.new_text.contains("recorded it under"),
                "{client}: our mail read as new text: {:?}",
                yes.new_text
            );
            // Only a reply that pastes us back with no header at all keeps our last lines.
            if !client.ends_with("top-posted") && !client.ends_with("no-header") {
                assert!(
                    !yes.new_text.contains("If you did not send"),
                    "{client}: our mail read as new text: {:?}",
                    yes.new_text
                );
            }
            assert_eq!(
                reply_intent(&yes.new_text),
                ReplyIntent::Confirms,
                "{client}"
            );
            let no = crate::mail::parse(&reply_in(
                client,
                "I did NOT send this request. Do not delete anything.",
            ))
            .expect("parses");
            assert!(
                matches!(reply_intent(&no.new_text), ReplyIntent::Disavows(_)),
                "{client}: {:?}",
                no.new_text
            );
            let away =
                crate::mail::parse(&reply_in(client, "I am out of the office until Monday."))
                    .expect("parses");
            assert!(
                matches!(reply_intent(&away.new_text), ReplyIntent::Machine(_)),
                "{client}: {:?}",
                away.new_text
            );
        }
    }

    /// The attacker's mail: an auto-responder answers "Re: <our subject>" with a fresh
    /// Message-ID, no RFC 3834 headers, and our acknowledgement pasted back unquoted, code
    /// and all. Text that is ours is never the person's confirmation.
    #[test]
    fn our_own_mail_pasted_back_is_never_a_confirmation() {
        let sent = format!(
            "{ACK}\nIt contains your confirmation code VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d."
        );
        let ours = [sent.clone()];
        let echoes = [
            sent.clone(),
            format!("Hello,\n\n{sent}"),
            format!("Thank you for your message. A member of our team will get back to you within two working days.\n\n{sent}"),
            format!("Ticket #88231 created.\n{}", sent.replace('\n', " ")),
            // Our mail re-wrapped by an HTML client: the words, not the lines, are compared.
            sent.split_whitespace().collect::<Vec<_>>().join("\n"),
        ];
        for e in &echoes {
            assert!(
                matches!(verification_reply(e, &ours), ReplyIntent::Machine(_)),
                "{e:?} -> {:?}",
                verification_reply(e, &ours)
            );
        }
        // Without the sent text on file, the code in the body still marks our mail.
        assert!(matches!(
            verification_reply(
                "Thanks, we got your mail. VERIFY-3f2a9c41d07e5b8a6c1d2e3f4a5b6c7d",
                &[]
            ),
            ReplyIntent::Machine(_)
        ));
        // The person's own words above our pasted mail decide.
        for yes in [
            "Yes, that's me.",
            "Sí, soy yo.",
            "Ja, das war ich.",
            "Oui, c'est moi.",
            "Please go ahead as I asked",
        ] {
            assert_eq!(
                verification_reply(&format!("{yes}\n\n{sent}"), &ours),
                ReplyIntent::Confirms,
                "{yes}"
            );
        }
        assert!(matches!(
            verification_reply(&format!("I did not send this!\n\n{sent}"), &ours),
            ReplyIntent::Disavows(_)
        ));
        // No echo: the reply is read as before (an empty reply is what we asked for).
        assert_eq!(verification_reply("", &ours), ReplyIntent::Confirms);
        assert_eq!(verification_reply("Thanks", &ours), ReplyIntent::Confirms);
        // A few of our words in the person's own sentence are not an echo.
        assert_eq!(
            verification_reply("Yes, I confirm that this request comes from me.", &ours),
            ReplyIntent::Confirms
        );
    }

    #[test]
    fn a_long_reply_is_read_to_its_end_within_the_cap() {
        // 16 KiB are read: a disavowal after a long first paragraph still counts, one past
        // the cap does not (a hostile mail cannot make us scan megabytes).
        let long = format!("{} I did not send this request.", "Thank you. ".repeat(400));
        assert!(matches!(reply_intent(&long), ReplyIntent::Disavows(_)));
        let past = format!("{} I did not send this request.", "x".repeat(17 * 1024));
        assert_eq!(reply_intent(&past), ReplyIntent::Confirms);
    }

    #[test]
    fn intents() {
        let confirms = [
            "",
            "Yes, that's me.",
            "Yes it was me, please go ahead",
            "Confirmed. Thanks",
            "Sí, soy yo.",
            "Ja, das war ich. Danke",
            "Oui, c'est bien moi.",
            "Please delete it all as I asked",
            "I sent it, yes",
            "Go ahead and delete everything",
            "My account number is 12345",
            "Thank you for not sharing my data",
            "I want you to remove my data, this is me",
        ];
        for t in confirms {
            assert_eq!(reply_intent(t), ReplyIntent::Confirms, "{t:?}");
        }
        let disavows = [
            "I did NOT send this request. Do not delete anything!",
            "I didn't send this",
            "i never asked for that",
            "This wasn't me",
            "not me",
            "Please don't delete my account",
            "Do not delete anything",
            "Someone else is using my address, this is fraud",
            "Please cancel this request",
            "No fui yo, no borren nada",
            "Yo no he enviado esto",
            "Das war nicht von mir, bitte nichts löschen",
            "Ich habe das nicht beantragt",
            "Ce n'est pas moi, ne supprimez rien",
            "Je n'ai pas envoyé cette demande",
        ];
        for t in disavows {
            assert!(
                matches!(reply_intent(t), ReplyIntent::Disavows(_)),
                "{t:?} -> {:?}",
                reply_intent(t)
            );
        }
        let machine = [
            "I am out of the office until Monday with limited access to email.",
            "Automatic reply: I'm away on holiday",
            "This is an automated message. This mailbox is not monitored.",
            "Estoy fuera de la oficina hasta el lunes.",
            "Ich bin derzeit nicht im Büro.",
            "Je suis absent du bureau jusqu'au 2 décembre.",
        ];
        for t in machine {
            assert!(
                matches!(reply_intent(t), ReplyIntent::Machine(_)),
                "{t:?} -> {:?}",
                reply_intent(t)
            );
        }
    }
}
