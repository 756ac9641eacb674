//! `medic config`: validate `medic.toml` without probing anything; and the one place the CLI
//! finds and loads the configuration (`--config`, `MEDIC_CONFIG`, or `./medic.toml`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::config::Config;
use crate::Result;

/// The file used when neither `--config` nor `MEDIC_CONFIG` names one.
pub(super) const DEFAULT_CONFIG: &str = "medic.toml";

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (keys, durations, URLs, names, environment variables) without
    /// contacting any endpoint.
    Check,
}

/// How a command takes an endpoint with problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Any problem fails the load (`config check`, `--strict`).
    Strict,
    /// An endpoint with problems is *not configured*: listed with its reasons, every other
    /// endpoint used; one rotated-out secret must not stop all monitoring.
    Lenient,
}

/// Loads `.env` (once; existing environment variables win), then the configuration: the given
/// path, else `./medic.toml` if it exists, else the empty configuration. Strictly: any problem
/// fails.
pub(super) fn load(path: Option<&Path>) -> Result<Config> {
    load_as(path, Mode::Strict)
}

/// [`load`] leniently; one warning line on stderr per endpoint left out.
pub(super) fn load_lenient(path: Option<&Path>) -> Result<Config> {
    let config = load_as(path, Mode::Lenient)?;
    for n in &config.not_configured {
        eprintln!(
            "medic: warning: endpoint {} is not configured: {}",
            n.name,
            n.reason()
        );
    }
    Ok(config)
}

/// For `watch` and `serve`: strictly with `--strict`, else leniently.
pub(super) fn load_checked(path: Option<&Path>, strict: bool) -> Result<Config> {
    match strict {
        true => load(path),
        false => load_lenient(path),
    }
}

/// [`load`] in the given mode.
pub(super) fn load_as(path: Option<&Path>, mode: Mode) -> Result<Config> {
    let _ = dotenvy::dotenv();
    // The bot token may sit in .env next to endpoint secrets: no output of any command shows it.
    if let Ok(token) = std::env::var("DISCORD_TOKEN") {
        crate::redact::remember(token.trim());
    }
    let path: Option<PathBuf> = match path {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.is_file()),
    };
    match (path, mode) {
        (Some(p), Mode::Strict) => Ok(Config::load(&p)?),
        (Some(p), Mode::Lenient) => Ok(Config::load_lenient(&p)?),
        (None, _) => Ok(Config::default()),
    }
}

pub(super) fn run(cmd: ConfigCommand, path: Option<&Path>) -> Result<()> {
    match cmd {
        ConfigCommand::Check => {
            let config = load(path)?;
            let source = config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("(no {DEFAULT_CONFIG}: empty configuration)"));
            let mut out = format!(
                "{source}: {} endpoint(s), no problems\n",
                config.endpoints.len()
            );
            for e in &config.endpoints {
                let auth = e.auth.as_ref().map(|a| a.kind()).unwrap_or("none");
                out.push_str(&format!(
                    "  {}  {}  (auth: {auth}, timeout {})\n",
                    e.name,
                    e.display_url(),
                    humantime::format_duration(e.timeout)
                ));
            }
            super::print(&out)
        }
    }
}
