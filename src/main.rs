//! The `privacy-inbox` command line: parses arguments, sets up logging, loads the config and
//! calls into the library. No logic of its own.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use privacy_inbox::{cli, clock::Clock, config};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "privacy-inbox",
    version,
    about = "Runs a company's privacy@ mailbox"
)]
struct Args {
    /// The config file.
    #[arg(long, global = true, default_value = "privacy-inbox.toml")]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (IMAP IDLE with a polling fallback), or one pass with --once.
    Run {
        /// One full pass: fetch all new mail, process it, send everything queued, exit.
        #[arg(long)]
        once: bool,
    },
    /// Classify .eml files (no config, no network). `-` reads stdin. `classify eval`:
    /// score the configured rules on the mails staff labelled.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Classify {
        #[command(subcommand)]
        command: Option<ClassifyCommand>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Confidence needed for `handle` (default 0.6).
        #[arg(long)]
        threshold: Option<f64>,
        /// Extra rule files (per language) to load beside the shipped ones.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Files to read.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Look at requests.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Check the config file and report every problem at once.
    CheckConfig,
    /// Write a first, commented config file (the --config path) for a provider and the
    /// bot's address; never overwrites. Then: `check`, then `run`.
    Init {
        /// Where the mailbox is hosted.
        #[arg(long, value_enum)]
        provider: privacy_inbox::init::Provider,
        /// The bot's mailbox, e.g. privacy@acme.example.
        #[arg(long)]
        address: String,
        /// Who gets escalations (default: staff@ the address's domain, to be edited).
        #[arg(long)]
        staff: Option<String>,
    },
    /// The CCPA §7102 metrics of a calendar year: per kind, received, complied with,
    /// denied by basis, median and mean days to a substantive response.
    Report {
        /// The calendar year (in the business time zone). Default: the current year.
        #[arg(long)]
        year: Option<i32>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = cli::Format::Md)]
        format: cli::Format,
    },
    /// Drop the bodies of old mails (`store.mail-retention-days`) and delete closed
    /// requests' records once `store.record-retention-months` have passed.
    Purge {
        /// Only say what would be dropped.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check config, templates, rules, and connect and log in to both servers: one
    /// PASS/FAIL line each, non-zero exit on any FAIL. Never prints secrets.
    Check,
    /// Check or preview the mail templates (see templates/README.md).
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
}

#[derive(Subcommand)]
enum ClassifyCommand {
    /// Re-classify every staff-labelled mail in the store (`/handle`, `/not-a-request`) with
    /// the configured rules: action and kind accuracy, and each disagreement.
    Eval {
        /// Also write the labelled mails as DIR/eml/*.eml plus DIR/labels.tsv, the shared
        /// corpus' format (they hold consumers' mail: keep them on this machine).
        #[arg(long, value_name = "DIR")]
        export: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TemplatesCommand {
    /// Render every template in every language with sample data; report every problem.
    Check {
        /// The templates folder (default: `[templates] dir` of the config, else ./templates).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print one rendered mail.
    Preview {
        /// Template name (acknowledgement, denied, ...).
        name: String,
        /// Language (falls back to en).
        #[arg(long, default_value = "en")]
        lang: String,
        /// Use this request's real facts (needs the config and its store).
        #[arg(long)]
        request: Option<String>,
        /// The templates folder (default: `[templates] dir` of the config, else ./templates).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum RequestsCommand {
    /// List requests, oldest due first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// Only requests due before this date (YYYY-MM-DD) or time (RFC 3339).
        #[arg(long)]
        due_before: Option<String>,
        /// A JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one request: its record, clocks and whole timeline (mails in and out, events).
    Show {
        /// The request ID.
        id: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark a request verified (identity checked another way); the consumer is told.
    Verify {
        /// The request ID.
        id: String,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Complete a request; the consumer gets the completion mail.
    Complete {
        /// The request ID.
        id: String,
        /// An internal note.
        note: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Deny a request on a basis (unverifiable, not-a-consumer, exempt, other); the consumer
    /// is told, with the explanation.
    Deny {
        /// The request ID.
        id: String,
        /// The basis, then the explanation.
        #[arg(required = true)]
        basis: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Take the one extension; the consumer is told the reason and the new due date.
    Extend {
        /// The request ID.
        id: String,
        /// The reason.
        #[arg(required = true)]
        reason: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Add a note to the audit log.
    Note {
        /// The request ID.
        id: String,
        /// The note.
        #[arg(required = true)]
        text: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Assign a request to someone.
    Assign {
        /// The request ID.
        id: String,
        /// Who handles it.
        name: String,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Run a request on another law's clocks (gdpr or ccpa): its dates are recomputed from
    /// receipt, and the change is an audit event.
    Law {
        /// The request ID.
        id: String,
        /// `gdpr` or `ccpa`.
        law: String,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Put an escalated request back on the automatic track: with these kinds (access,
    /// delete, correct, opt-out-sale, opt-out-marketing, limit-sensitive; none: as
    /// classified), the bot sends the acknowledgement (with a verification code except for
    /// opt-outs) as if it had read the mail so itself.
    Handle {
        /// The request ID.
        id: String,
        /// The kinds.
        kinds: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Close a request as not a privacy request (an invoice, a support question): the
    /// consumer gets no mail from the bot; it is counted apart in `report`.
    #[command(name = "not-a-request")]
    NotARequest {
        /// The request ID.
        id: String,
        /// An internal note.
        note: Vec<String>,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Approve what fulfilment waits for: mail the access package's download link, run the
    /// erasure in every data source.
    Approve {
        /// The request ID.
        id: String,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Mail the consumer a fresh download link (the earlier one stops working).
    Resend {
        /// The request ID.
        id: String,
        /// Who acts (recorded in the audit log). Default: the login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Export the whole record (CCPA §7101 fields; JSON adds each request's audit log).
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = cli::ExportFormat::Json)]
        format: cli::ExportFormat,
    },
}

/// A staff action from the command line: the same command, checks and notices as by mail.
fn action(
    settings: config::Settings,
    clock: Clock,
    id: &str,
    line: String,
    by: Option<String>,
) -> Result<ExitCode> {
    let ok = cli::requests_action(settings, clock, id, &line, by)?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    // A command piped into `head` ends quietly when the reader stops, as Unix tools do.
    // Rust ignores SIGPIPE, so the next print would panic on EPIPE instead. Not for `run`:
    // the daemon's sockets get EPIPE as an error it handles, never a signal that kills it.
    if !matches!(args.command, Command::Run { .. }) {
        quiet_on_closed_pipe();
    }
    init_logging(args.log_format);
    match real_main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("privacy-inbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Restores SIGPIPE's default action: the process ends silently when stdout's reader is gone.
fn quiet_on_closed_pipe() {
    // SAFETY: called once at the start of `main`, before any thread is started; SIG_DFL is a
    // valid disposition for SIGPIPE and no handler of ours is replaced.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRIVACY_INBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: a log file, journald or a pipe gets
    // plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn real_main(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Classify {
            command: Some(ClassifyCommand::Eval { export }),
            ..
        } => {
            let settings = config::load(&args.config)?;
            let mut out = std::io::stdout().lock();
            privacy_inbox::classify::eval_cli(&settings, export.as_deref(), &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Classify {
            command: None,
            json,
            threshold,
            rules,
            files,
        } => {
            let ok = cli::classify(&files, json, threshold, rules.as_deref())?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Init {
            provider,
            address,
            staff,
        } => {
            let steps =
                privacy_inbox::init::write(&args.config, provider, &address, staff.as_deref())?;
            print!("{steps}");
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig => {
            let settings = config::load(&args.config)?;
            // The key `[dkim]` names must be usable too, as `run` requires.
            privacy_inbox::outbound::dkim::load(&settings)?;
            println!("{}: OK", args.config.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("Cannot start the async runtime")?;
            let ok = rt.block_on(privacy_inbox::check::run(
                &args.config,
                &mut std::io::stdout(),
            ))?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Templates { command } => templates(&args.config, command),
        Command::Run { once } => {
            let settings = config::load(&args.config)?;
            let clock = Clock::from_env()?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("Cannot start the async runtime")?;
            rt.block_on(cli::run(settings, clock, once))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Requests { command } => {
            let settings = config::load(&args.config)?;
            let clock = Clock::from_env()?;
            match command {
                RequestsCommand::List {
                    status,
                    due_before,
                    json,
                } => cli::requests_list(&settings, &clock, status, due_before, json)?,
                RequestsCommand::Show { id, json } => {
                    cli::requests_show(&settings, &clock, &id, json)?
                }
                RequestsCommand::Export { format } => cli::requests_export(&settings, format)?,
                RequestsCommand::Verify { id, by } => {
                    return action(settings, clock, &id, "/verify".into(), by)
                }
                RequestsCommand::Complete { id, note, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/complete {}", note.join(" ")),
                        by,
                    )
                }
                RequestsCommand::Deny { id, basis, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/deny {}", basis.join(" ")),
                        by,
                    )
                }
                RequestsCommand::Extend { id, reason, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/extend {}", reason.join(" ")),
                        by,
                    )
                }
                RequestsCommand::Note { id, text, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/note {}", text.join(" ")),
                        by,
                    )
                }
                RequestsCommand::Law { id, law, by } => {
                    return action(settings, clock, &id, format!("/law {law}"), by)
                }
                RequestsCommand::Assign { id, name, by } => {
                    return action(settings, clock, &id, format!("/assign {name}"), by)
                }
                RequestsCommand::Approve { id, by } => {
                    return action(settings, clock, &id, "/approve".into(), by)
                }
                RequestsCommand::Resend { id, by } => {
                    return action(settings, clock, &id, "/resend".into(), by)
                }
                RequestsCommand::Handle { id, kinds, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/handle {}", kinds.join(" ")),
                        by,
                    )
                }
                RequestsCommand::NotARequest { id, note, by } => {
                    return action(
                        settings,
                        clock,
                        &id,
                        format!("/not-a-request {}", note.join(" ")),
                        by,
                    )
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { year, format } => {
            let settings = config::load(&args.config)?;
            let year = match year {
                Some(y) => y,
                None => cli::current_year(&settings, &Clock::from_env()?),
            };
            cli::report(&settings, year, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { dry_run } => {
            let settings = config::load(&args.config)?;
            let clock = Clock::from_env()?;
            cli::purge(&settings, &clock, dry_run)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn templates(config: &std::path::Path, command: TemplatesCommand) -> Result<ExitCode> {
    use privacy_inbox::templates_cli;
    let mut out = std::io::stdout().lock();
    match command {
        TemplatesCommand::Check { dir } => {
            let dir = templates_cli::templates_dir(config, dir.as_deref())?;
            let ok = templates_cli::check(&dir, &mut out)?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        TemplatesCommand::Preview {
            name,
            lang,
            request,
            dir,
        } => {
            let args = templates_cli::PreviewArgs {
                config,
                dir: dir.as_deref(),
                name: &name,
                lang: &lang,
                request: request.as_deref(),
            };
            templates_cli::preview(&args, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
