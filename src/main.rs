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
    /// Classify .eml files (no config, no network). `-` reads stdin.
    Classify {
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
    /// Show one request: its record, events and mails.
    Show {
        /// The request ID.
        id: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    match real_main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("privacy-inbox: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PRIVACY_INBOX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
        Command::CheckConfig => {
            config::load(&args.config)?;
            println!("{}: OK", args.config.display());
            Ok(ExitCode::SUCCESS)
        }
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
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
