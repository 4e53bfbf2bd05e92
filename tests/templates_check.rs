//! `templates check` and `templates preview`, running the real binary on the shipped
//! templates and on broken copies of them.

mod common;

use common::copy_templates;
use std::fs;
use std::path::Path;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = common::run_bin(args, &[]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn the_shipped_templates_pass_and_the_config_only_needs_its_templates_dir() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = common::repo_root().join("templates");
    let (ok, out, err) = run(&["templates", "check", "--dir", s(&dir)]);
    assert!(ok, "check of the shipped set failed:\n{out}{err}");
    assert!(
        out.contains("OK: 22 messages checked in de, en, es, fr"),
        "{out}"
    );

    // A config file with nothing but [templates]: check reads only that key, relative to
    // the config's folder.
    let copy = copy_templates(tmp.path());
    let config = tmp.path().join("privacy-inbox.toml");
    fs::write(&config, "[templates]\ndir = \"templates\"\n").expect("write config");
    let (ok, out, err) = run(&["--config", s(&config), "templates", "check"]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with(&format!("{}: OK", copy.display())), "{out}");
}

#[test]
fn a_broken_copy_fails_with_every_problem_by_file_and_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = copy_templates(tmp.path());
    let write = |rel: &str, text: &str| fs::write(dir.join(rel), text).expect("write");
    // 1. A misspelled variable in a body, and one inside an {{#if}} (which strict
    //    rendering alone would let pass as false).
    write(
        "es/denied.txt.hbs",
        "Hola:\n\n{{basis_txt}}\n{{#if basis_tex}}x{{/if}}\n{{> signature}}\n",
    );
    // 2. A subject on two lines.
    write(
        "en/completed.subject.hbs",
        "[{{request_id}}] Done\nBcc: x@example.test\n",
    );
    // 3. An HTML body that does not escape a consumer's value.
    write(
        "en/verified.html.hbs",
        "<p>Dear {{{requester_name}}},</p>\n<p>{{team}}</p>\n",
    );
    // 4. A block never closed.
    write(
        "es/extension.txt.hbs",
        "Hola:\n{{#each kind_labels}}\n- {{this}}\n{{reason}}\n",
    );
    // 5. A required English message missing.
    fs::remove_file(dir.join("en/staff_reply.subject.hbs")).expect("remove");
    // 6. A Spanish template without English, and an unknown file.
    write("es/_footer.txt.hbs", "pie\n");
    write("es/notes.txt", "scratch\n");
    // 7. A partial with an unknown variable, used by every consumer text body.
    write("es/_signature.txt.hbs", "--\n{{team}}\n{{nope}}\n");

    let (ok, out, err) = run(&["templates", "check", "--dir", s(&dir)]);
    assert!(!ok, "a broken set must fail:\n{out}");
    assert!(err.is_empty(), "problems go to stdout: {err}");
    let p = |rel: &str| dir.join(rel).display().to_string();
    let expected = [
        format!("{}:3: unknown variable `basis_txt`", p("es/denied.txt.hbs")),
        format!("{}:4: unknown variable `basis_tex`", p("es/denied.txt.hbs")),
        format!(
            "{}:2: the subject renders on more than one line",
            p("en/completed.subject.hbs")
        ),
        format!(
            "{}:1: the HTML body does not escape `requester_name`",
            p("en/verified.html.hbs")
        ),
        format!(
            "{}:2: `{{{{#each}}}}` opened here is never closed",
            p("es/extension.txt.hbs")
        ),
        format!("{}: missing:", p("en/staff_reply.subject.hbs")),
        format!("{}: no English version", p("es/_footer.txt.hbs")),
        format!("{}: unknown file", p("es/notes.txt")),
        format!(
            "{}:3: unknown variable `nope` (rendering acknowledgement, closed_unverifiable, completed, export_ready, follow_up, nothing_found, received, verification_reminder, verified)",
            p("es/_signature.txt.hbs")
        ),
    ];
    for e in &expected {
        assert!(
            out.lines().any(|l| l.starts_with(e.as_str())),
            "missing `{e}` in:\n{out}"
        );
    }
    let problem_lines = out.lines().filter(|l| l.starts_with(s(&dir))).count();
    assert_eq!(
        problem_lines,
        expected.len() + 1,
        "one line per problem plus the summary:\n{out}"
    );
    assert!(
        out.trim_end()
            .ends_with(&format!("{}: {} problems", dir.display(), expected.len())),
        "{out}"
    );
}

#[test]
fn preview_prints_the_mail_in_the_language_or_falls_back_to_english() {
    let dir = common::repo_root().join("templates");
    let (ok, out, err) = run(&[
        "templates",
        "preview",
        "denied",
        "--lang",
        "es",
        "--dir",
        s(&dir),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("Language: es\n"), "{out}");
    assert!(
        out.contains("Subject:  [PRIV-2026-00042] Sobre su solicitud de privacidad"),
        "{out}"
    );
    assert!(out.contains("no podemos llevarla a cabo"), "{out}");
    // Sample kind labels come from the previewed language's labels.toml.
    assert!(out.contains("eliminación de sus datos personales"), "{out}");

    let (ok, out, err) = run(&[
        "templates",
        "preview",
        "completed",
        "--lang",
        "pt",
        "--dir",
        s(&dir),
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Language: en (no `completed` version in pt"),
        "{out}"
    );
    assert!(out.contains("Your privacy request is complete"), "{out}");

    let (ok, out, err) = run(&["templates", "preview", "acknowledgement", "--dir", s(&dir)]);
    assert!(ok, "{err}");
    assert!(
        out.contains("--- HTML body ---\n<p>Dear María López,</p>"),
        "{out}"
    );

    let (ok, _, err) = run(&["templates", "preview", "no_such", "--dir", s(&dir)]);
    assert!(!ok);
    assert!(err.contains("Unknown template `no_such`"), "{err}");
}

/// German and French consumers get their own language (formal "Sie", "vous"), with dates
/// written the way a letter in that language writes them; the sample dates of a preview
/// are formatted like real ones.
#[test]
fn german_and_french_mails_use_their_language_and_date_format() {
    let dir = common::repo_root().join("templates");
    for (lang, want) in [
        (
            "de",
            &[
                "Language: de\n",
                "Subject:  [PRIV-2026-00042] Bitte bestätigen Sie Ihre Datenschutzanfrage (VERIFY-",
                "Guten Tag María López,",
                "wir haben Ihre Datenschutzanfrage am 3. März 2026 erhalten",
                "spätestens am 17. April 2026",
                "Löschung Ihrer personenbezogenen Daten",
                "nach dem kalifornischen Verbraucherdatenschutzgesetz (CCPA)",
                "und antworten Ihnen spätestens am <strong>17. April 2026</strong>.",
            ][..],
        ),
        (
            "fr",
            &[
                "Language: fr\n",
                "Subject:  [PRIV-2026-00042] Demande reçue : merci de confirmer qu'elle vient de vous (VERIFY-",
                "Bonjour María López,",
                "le\n3 mars 2026 et l'avons enregistrée",
                "au plus tard le 17 avril 2026",
                "suppression de vos données personnelles",
                "conformément au CCPA (loi californienne sur la vie privée des consommateurs)",
                "et vous répondrons au plus tard le <strong>17 avril 2026</strong>.",
            ][..],
        ),
    ] {
        let (ok, out, err) = run(&[
            "templates",
            "preview",
            "acknowledgement",
            "--lang",
            lang,
            "--dir",
            s(&dir),
        ]);
        assert!(ok, "{err}");
        for w in want {
            assert!(out.contains(w), "{lang}: want {w:?} in\n{out}");
        }
        // No English date ("March 3, 2026") is left.
        assert!(!out.contains(", 2026"), "{out}");
    }
}

/// The download link of `export_ready` is in every shipped language, exactly once per body:
/// on a line of its own in the text body (so no mail client glues a word to it) and as the
/// one link of the HTML body. A second copy, or a link swallowed by an edit, fails here.
#[test]
fn the_export_link_appears_once_per_body_on_a_line_of_its_own() {
    let dir = common::repo_root().join("templates");
    let entry = privacy_inbox::outbound::catalog::entry("export_ready").expect("catalog entry");
    let link = entry
        .vars
        .iter()
        .find(|v| v.name == "link")
        .and_then(|v| v.sample.as_str())
        .expect("a sample link")
        .to_string();
    for lang in ["en", "es", "de", "fr"] {
        let (ok, out, err) = run(&[
            "templates",
            "preview",
            "export_ready",
            "--lang",
            lang,
            "--dir",
            s(&dir),
        ]);
        assert!(ok, "{lang}: {err}");
        assert!(
            out.contains(&format!("Language: {lang}\n")),
            "{lang}: {out}"
        );
        let (text, html) = out
            .split_once("--- HTML body ---")
            .unwrap_or_else(|| panic!("{lang}: no HTML body:\n{out}"));
        assert_eq!(text.matches(link.as_str()).count(), 1, "{lang}: {text}");
        assert!(
            text.lines().any(|l| l == link),
            "{lang}: the link is not on a line of its own:\n{text}"
        );
        assert_eq!(html.matches(link.as_str()).count(), 1, "{lang}: {html}");
        assert!(
            html.contains(&format!("<a href=\"{link}\">")),
            "{lang}: {html}"
        );
    }
}

/// The reply code a subject carries (`(VERIFY-…)` for the consumer, `(STAFF-…)` for staff):
/// a reply is matched by it even when the mail program drops Reply-To and quotes nothing,
/// so it stays in the subject; the subject's words are measured without it.
fn without_reply_code(subject: &str) -> String {
    let re = regex::Regex::new(r"\s*\((VERIFY|STAFF)-[0-9a-f]+\)").expect("regex");
    re.replace_all(subject, "").into_owned()
}

/// The sentences of a mail body: its paragraphs' lines joined, cut after `.`, `!` or `?`
/// followed by a space and a capital (not after a digit: "3. März").
fn sentences(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    for para in body.split("\n\n") {
        let text = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars: Vec<char> = text.chars().collect();
        let mut start = 0;
        for i in 1..chars.len().saturating_sub(2) {
            // The word before the mark: a day number ("3.") is an ordinal, not an end.
            let word: String = chars[..i].iter().rev().take_while(|c| **c != ' ').collect();
            let ordinal = word.len() <= 2 && word.chars().all(|c| c.is_ascii_digit());
            let end = matches!(chars[i], '.' | '!' | '?')
                && chars[i + 1] == ' '
                && chars[i + 2].is_uppercase()
                && !ordinal;
            if end {
                out.push(chars[start..=i].iter().collect());
                start = i + 2;
            }
        }
        out.push(chars[start.min(chars.len())..].iter().collect());
    }
    out
}

/// Issue 23 item 4: every message, in every language, rendered with the sample facts, reads
/// as a person wrote it: body lines of at most 78 columns (the verification line too), a
/// subject of at most 78 characters (its reply code aside), one date per sentence in
/// consumer mail, no Markdown backticks in staff mail, and no status or kind identifiers
/// (`awaiting_verification`, `opt_out_sale`).
#[test]
fn every_mail_in_every_language_reads_as_a_person_wrote_it() {
    let dir = common::repo_root().join("templates");
    // The wire names of statuses, kinds and denial bases: words in mail, never these.
    let mut names: Vec<String> = privacy_inbox::request::lifecycle::Status::ALL
        .iter()
        .map(|s| s.as_str().to_string())
        .chain(
            privacy_inbox::kind::Kind::ALL
                .iter()
                .map(|k| k.as_str().to_string()),
        )
        .chain(["not_a_consumer".to_string()])
        .filter(|n| n.contains('_'))
        .collect();
    names.sort();
    let identifier = regex::Regex::new(&format!(r"\b({})\b", names.join("|"))).expect("regex");
    // A date as each language writes it: "March 3, 2026", "3 de marzo de 2026",
    // "3. März 2026", "3 mars 2026".
    let date = regex::Regex::new(
        r"\b(\p{Lu}\p{Ll}+ \d{1,2}, \d{4}|\d{1,2} de \p{Ll}+ de \d{4}|\d{1,2}\. \p{Lu}\p{Ll}+ \d{4}|\d{1,2} \p{Ll}+ \d{4})\b",
    )
    .expect("regex");
    let mut problems = Vec::new();
    let mut rendered = 0;
    for entry in privacy_inbox::outbound::catalog::catalog() {
        for lang in ["en", "es", "de", "fr"] {
            let (ok, out, err) = run(&[
                "templates",
                "preview",
                entry.name,
                "--lang",
                lang,
                "--dir",
                s(&dir),
            ]);
            assert!(ok, "{} {lang}: {err}", entry.name);
            rendered += 1;
            let at = format!("{} ({lang})", entry.name);
            let subject = out
                .lines()
                .find_map(|l| l.strip_prefix("Subject:  "))
                .unwrap_or_else(|| panic!("{at}: no subject in\n{out}"));
            let body = out.split_once("\n\n").map(|(_, b)| b).unwrap_or_default();
            let body = body.split("\n--- HTML body ---").next().unwrap_or(body);
            let words = without_reply_code(subject);
            if words.chars().count() > 78 {
                problems.push(format!(
                    "{at}: subject of {} characters: {words}",
                    words.chars().count()
                ));
            }
            for line in body.lines() {
                if line.chars().count() > 78 {
                    problems.push(format!(
                        "{at}: line of {} columns: {line}",
                        line.chars().count()
                    ));
                }
            }
            let staff = entry.audience == privacy_inbox::outbound::catalog::Audience::Staff;
            if staff && (subject.contains('`') || body.contains('`')) {
                let line = body.lines().find(|l| l.contains('`')).unwrap_or(subject);
                problems.push(format!("{at}: a Markdown backtick in staff mail: {line}"));
            }
            if !staff {
                for sentence in sentences(body) {
                    let n = date.find_iter(&sentence).count();
                    if n > 1 {
                        problems.push(format!("{at}: {n} dates in one sentence: {sentence}"));
                    }
                }
            }
            for text in std::iter::once(subject).chain(body.lines()) {
                if let Some(m) = identifier.find(text) {
                    problems.push(format!("{at}: the identifier `{}` in: {text}", m.as_str()));
                }
            }
        }
    }
    assert!(
        rendered >= 80,
        "every message in four languages: {rendered}"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
