//! The `medic` command line: argument parsing and dispatch to one module per command.

mod alert;
mod chat;
mod check;
mod config;
mod diagnose;
mod kb;
mod runtime;
mod serve;
mod status;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::knowledge::Knowledge;
use crate::matcher::Matcher;
use crate::{Error, Result};

/// medic — diagnoses broken system integrations and tells you what to do next.
#[derive(Debug, Parser)]
#[command(name = "medic", version, about, long_about = None)]
pub struct Cli {
    /// Directory of extra knowledge entries (`*.toml`); entries with a built-in id replace it.
    #[arg(long, global = true, env = "MEDIC_KNOWLEDGE_DIR", value_name = "DIR")]
    pub knowledge: Option<PathBuf>,

    /// The configuration file (default: `medic.toml` if it exists, else no endpoints).
    #[arg(long, global = true, env = "MEDIC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Colour on a terminal: auto (default; off when NO_COLOR is set or output is not a
    /// terminal), always, never.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose a message: the matching knowledge entry with step-by-step guidance.
    Diagnose(diagnose::Args),
    /// Inspect and validate the knowledge catalogue.
    #[command(subcommand)]
    Kb(kb::KbCommand),
    /// Check endpoints stage by stage (DNS, TCP, TLS, HTTP, credentials, rate limit, format)
    /// and show what to do about the stage that failed.
    Check(check::Args),
    /// Validate the configuration file.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Chat with medic in the terminal: free text, /diagnose, /check, /endpoints, /help.
    Chat(chat::Args),
    /// Run the Discord bot (needs DISCORD_TOKEN; see .env.example).
    Serve(serve::Args),
    /// Check endpoints on their intervals and print alerts (DOWN, RECOVERED, …) to stdout.
    Watch(watch::Args),
    /// Show each endpoint's state, uptime and latency from the state database.
    Status(status::Args),
    /// Acknowledge an endpoint's open incident (stops its reminders), in the state database
    /// of a running or stopped `watch`/`serve`.
    Ack(alert::AckArgs),
    /// Silence an endpoint's alerts for a while: `medic silence NAME --for 2h --reason "…"`.
    Silence(alert::SilenceArgs),
    /// Lift an endpoint's silence.
    Unsilence(alert::UnsilenceArgs),
    /// List the silences in force.
    Silences(alert::SilencesArgs),
}

/// Loads the catalogue (built-in plus the user's directory) and indexes it.
pub fn load_matcher(knowledge_dir: Option<&std::path::Path>) -> Result<Matcher> {
    let kb = Knowledge::load(knowledge_dir)?;
    Ok(Matcher::new(Arc::new(kb)))
}

/// Runs the command line; the caller turns the error into an exit code.
pub fn run(cli: Cli) -> Result<()> {
    use crate::render::terminal::{set_color, ColorChoice};
    use std::io::IsTerminal;
    let choice = match cli.color.as_str() {
        "always" => ColorChoice::Always,
        "never" => ColorChoice::Never,
        _ => ColorChoice::Auto,
    };
    set_color(choice.resolve(|k| std::env::var(k).ok(), std::io::stdout().is_terminal()));
    match cli.command {
        Command::Diagnose(args) => diagnose::run(args, cli.knowledge.as_deref()),
        Command::Kb(cmd) => kb::run(cmd, cli.knowledge.as_deref()),
        Command::Check(args) => check::run(args, cli.config.as_deref(), cli.knowledge.as_deref()),
        Command::Config(cmd) => config::run(cmd, cli.config.as_deref()),
        Command::Chat(args) => chat::run(args, cli.config.as_deref(), cli.knowledge.as_deref()),
        Command::Serve(args) => serve::run(args, cli.config.as_deref(), cli.knowledge.as_deref()),
        Command::Watch(args) => watch::run(args, cli.config.as_deref(), cli.knowledge.as_deref()),
        Command::Status(args) => status::run(args, cli.config.as_deref()),
        Command::Ack(args) => alert::ack(args, cli.config.as_deref()),
        Command::Silence(args) => alert::silence(args, cli.config.as_deref()),
        Command::Unsilence(args) => alert::unsilence(args, cli.config.as_deref()),
        Command::Silences(args) => alert::silences(args),
    }
}

/// Writes to stdout, treating a closed pipe (`medic ... | head`) as a normal end.
pub(crate) fn print(text: &str) -> Result<()> {
    crate::render::terminal::write_stdout(text)
        .map(|_| ())
        .map_err(|e| Error::io("writing to stdout", e))
}
