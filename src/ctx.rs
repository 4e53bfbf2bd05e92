//! The context every decision runs in: settings, the time, the business calendar, the
//! templates and message builder (through [`Mailer`]), the classifier and the account
//! directory. No network clients: intake, staff actions and the sweeper are functions over a
//! `&Ctx` and a store transaction, so the CLI changes a request without an SMTP pool.

use crate::accounts::Directory;
use crate::classify::Classifier;
use crate::clock;
use crate::config::Settings;
use crate::mail::auth::AuthVerdict;
use crate::mail::Inbound;
use crate::outbound::compose::Composer;
use crate::outbound::facts::RequestFacts;
use crate::outbound::queue::Mailer;
use crate::outbound::templates::Templates;
use crate::request::calendar::BusinessCalendar;
use crate::store::requests::Request;
use anyhow::Result;
use chrono::{DateTime, Utc};

/// What a decision needs besides the store.
pub struct Ctx<'a> {
    /// Settings.
    pub settings: &'a Settings,
    /// The classifier.
    pub classifier: &'a Classifier,
    /// Templates, the message builder, the reply limits and the time: queues mail.
    pub mailer: Mailer<'a>,
    /// The business calendar.
    pub calendar: &'a BusinessCalendar,
    /// The account directory, when one is configured.
    pub accounts: Option<&'a Directory>,
}

/// The owned parts a [`Ctx`] borrows, loaded from settings (the daemon keeps them for its
/// lifetime; a CLI command loads them once).
pub struct Parts {
    /// The classifier.
    pub classifier: Classifier,
    /// Templates.
    pub templates: Templates,
    /// Message builder.
    pub composer: Composer,
    /// Business calendar.
    pub calendar: BusinessCalendar,
    /// Account directory for the second verification data point.
    pub accounts: Option<Directory>,
}

impl Parts {
    /// Loads templates, rules, the message builder, the calendar and the account directory.
    pub fn load(settings: &Settings) -> Result<Parts> {
        let templates = Templates::load(&settings.templates_dir)?;
        let classifier = Classifier::load(
            settings.classify.rules_dir.as_deref(),
            settings.classify.threshold,
        )?;
        // The DKIM key is read here (staff actions queue signed mail), as when the daemon
        // starts: a bad key is named like a config problem.
        let composer = Composer::new(&settings.smtp.from, &settings.smtp.message_id_domain)?
            .with_dkim(crate::outbound::dkim::load(settings)?);
        let calendar =
            BusinessCalendar::new(settings.clock.timezone, settings.clock.holidays.clone());
        let accounts = settings
            .verification
            .account_directory
            .as_deref()
            .map(Directory::load)
            .transpose()?;
        Ok(Parts {
            classifier,
            templates,
            composer,
            calendar,
            accounts,
        })
    }

    /// A context over these parts at `now`.
    pub fn ctx<'a>(&'a self, settings: &'a Settings, now: DateTime<Utc>) -> Ctx<'a> {
        Ctx::new(
            settings,
            &self.classifier,
            &self.templates,
            &self.composer,
            &self.calendar,
            self.accounts.as_ref(),
            now,
        )
    }
}

impl<'a> Ctx<'a> {
    /// A context over borrowed parts at `now`.
    pub fn new(
        settings: &'a Settings,
        classifier: &'a Classifier,
        templates: &'a Templates,
        composer: &'a Composer,
        calendar: &'a BusinessCalendar,
        accounts: Option<&'a Directory>,
        now: DateTime<Utc>,
    ) -> Ctx<'a> {
        Ctx {
            settings,
            classifier,
            mailer: Mailer {
                templates,
                composer,
                per_recipient_per_day: settings.smtp.per_recipient_per_day,
                global_per_hour: settings.smtp.global_per_hour,
                staff_per_hour: settings.staff.max_mails_per_hour,
                now,
            },
            calendar,
            accounts,
        }
    }

    /// The time this context runs at.
    pub fn now(&self) -> DateTime<Utc> {
        self.mailer.now
    }

    /// [`Ctx::now`] as stored (UTC RFC 3339).
    pub fn now_s(&self) -> String {
        clock::fmt(self.mailer.now)
    }

    /// True when `address` may give staff commands (`staff.members`).
    pub fn is_staff(&self, address: &str) -> bool {
        let a = crate::address::base_address(address);
        self.settings
            .staff
            .members
            .iter()
            .any(|m| crate::address::base_address(m) == a)
    }

    /// A date in the business time zone, as staff mail shows dates (English).
    pub fn show_date(&self, rfc3339: &str) -> String {
        clock::parse(rfc3339)
            .map(|t| {
                t.with_timezone(&self.settings.clock.timezone)
                    .format("%B %-d, %Y")
                    .to_string()
            })
            .unwrap_or_else(|_| rfc3339.to_string())
    }

    /// The account number on file for an address, when a directory is configured.
    pub fn account_on_file(&self, address: &str) -> Option<&str> {
        self.accounts.and_then(|d| d.account_of(address))
    }

    /// The template variables of a mail to the consumer about `r`, in their language.
    pub fn facts(&self, r: &Request) -> RequestFacts {
        self.facts_in(r, &r.language)
    }

    /// The template variables of a mail to staff about `r`: staff mail is English.
    pub fn staff_facts(&self, r: &Request) -> RequestFacts {
        self.facts_in(r, "en")
    }

    fn facts_in(&self, r: &Request, lang: &str) -> RequestFacts {
        RequestFacts::of(
            r,
            &|k| self.mailer.templates.kind_label(lang, k),
            self.settings.clock.timezone,
            &self.settings.smtp.from,
            lang,
        )
    }

    /// Our team's name, as mail signs it.
    pub fn team(&self) -> String {
        crate::outbound::facts::team_name(&self.settings.smtp.from)
    }

    /// What our own receiving server's `Authentication-Results` say of this mail.
    pub fn auth(&self, mail: &Inbound) -> AuthVerdict {
        crate::mail::auth::verdict(&mail.headers, self.settings.imap.authserv_id.as_deref())
    }
}
