//! Template hot reload: the daemon looks at the templates folder at the start of every pass.
//! Edited templates that check out go live; a broken edit is logged, the last good set stays
//! live, and staff get one `template_problem` mail per broken version.

use super::App;
use crate::outbound::catalog::TemplateProblemData;
use crate::outbound::outbox::lock;
use crate::outbound::templates::{report, Problem, Reload};
use anyhow::Result;

/// Called by the daemon at the start of every pass: reloads an edited templates folder. A
/// good set goes live; a broken one is logged, the last good set stays live, and staff
/// get one `template_problem` mail per broken version.
pub(super) fn templates(app: &App) {
    match app.templates.refresh() {
        Reload::Unchanged => {}
        Reload::Reloaded { version } => {
            tracing::info!(version = %version, dir = %app.templates.dir().display(), "Templates reloaded");
        }
        Reload::Broken {
            version,
            problems,
            first,
        } => {
            tracing::warn!(
                version = %version,
                problems = problems.len(),
                report = %report(&problems),
                "Edited templates have problems: the last good set stays live"
            );
            if first {
                match tell_staff(app, &version, &problems) {
                    Ok(()) => {
                        tracing::info!(version = %version, "Staff told about the template problems")
                    }
                    Err(e) => {
                        tracing::error!(error = %format!("{e:#}"), "Cannot queue the template problem notice")
                    }
                }
            }
        }
    }
}

fn tell_staff(app: &App, version: &str, problems: &[Problem]) -> Result<()> {
    let data = TemplateProblemData {
        dir: app.templates.dir().display().to_string(),
        version: version.to_string(),
        count: problems.len(),
        // Plain quotes for staff mail: no Markdown backticks around names.
        problems: problems
            .iter()
            .map(|p| p.to_string().replace('`', "\""))
            .collect(),
        team: crate::outbound::facts::team_name(&app.settings.smtp.from),
    };
    let ctx = app.ctx();
    let mut st = lock(&app.store);
    let tx = st.begin()?;
    ctx.mailer.queue_staff(
        &tx,
        &app.settings.staff.escalation_to,
        "template_problem",
        &data,
        None,
        None,
    )?;
    tx.commit()?;
    Ok(())
}
