//! Separates what the sender wrote from what they quoted or signed: quoted replies (`>`
//! lines, "On … wrote:" and its Spanish, German and French forms, Outlook's "Original
//! Message" blocks) and signatures after `-- `.

/// Splits a body into (new text, set-aside text).
pub fn split(body: &str) -> (String, String) {
    let mut new = Vec::new();
    let mut old = Vec::new();
    let mut rest_is_old = false;
    for line in body.lines() {
        let t = line.trim();
        if rest_is_old {
            old.push(line);
            continue;
        }
        if t == "--" || line == "-- " || starts_quote_block(t) {
            rest_is_old = true;
            old.push(line);
            continue;
        }
        if t.starts_with('>') {
            old.push(line);
        } else {
            new.push(line);
        }
    }
    (new.join("\n").trim().to_string(), old.join("\n"))
}

fn starts_quote_block(t: &str) -> bool {
    let l = t.to_lowercase();
    l.starts_with("-----original message-----")
        || l.starts_with("-----mensaje original-----")
        || l.starts_with("-----ursprüngliche nachricht-----")
        || l.starts_with("-----message d'origine-----")
        || (l.starts_with("on ") && l.ends_with("wrote:"))
        || (l.starts_with("el ") && l.ends_with("escribió:"))
        || (l.starts_with("am ") && l.ends_with("schrieb:"))
        || (l.starts_with("le ") && l.ends_with("a écrit :"))
        || (l.starts_with("le ") && l.ends_with("a écrit:"))
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn quotes_and_signatures_are_set_aside() {
        let (new, old) = split("Please stop.\n\nOn Mon, Jan 1, 2026, Bot wrote:\n> We received your request to delete\n");
        assert_eq!(new, "Please stop.");
        assert!(old.contains("delete"));
        let (new, _) =
            split("Delete me\n-- \nJane\nConfidential notice: delete this mail if not for you");
        assert_eq!(new, "Delete me");
        let (new, _) = split("hola\n> citado\nadiós");
        assert_eq!(new, "hola\nadiós");
    }
}
