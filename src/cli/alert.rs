//! `medic ack`, `medic silence`, `medic unsilence`, `medic silences`: operate the alerts of a
//! running (or stopped) `watch`/`serve` through its state database; the author is the OS user.

use std::path::Path;
use std::time::Duration;

use crate::alerts::requests::{self, os_author};
use crate::alerts::{Clock, SystemClock};
use crate::store::model::RequestKind;
use crate::store::{self};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Db {
    /// The state database of `medic watch` / `medic serve`.
    /// A file path (SQLite) or a `postgres://` URL.
    #[arg(long, env = "MEDIC_DB", value_name = "FILE|URL", default_value = store::DEFAULT_PATH)]
    pub db: store::Location,
}

#[derive(Debug, clap::Args)]
pub struct AckArgs {
    /// The endpoint whose open incident to acknowledge (stops its reminders).
    pub name: String,
    #[command(flatten)]
    pub db: Db,
}

#[derive(Debug, clap::Args)]
pub struct SilenceArgs {
    /// The endpoint to silence: checks go on, alerts are held.
    pub name: String,
    /// How long, e.g. "30m", "2h", "1d".
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_for)]
    pub duration: Duration,
    /// Why (shown with the silence).
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub db: Db,
}

#[derive(Debug, clap::Args)]
pub struct UnsilenceArgs {
    /// The endpoint whose silence to lift.
    pub name: String,
    #[command(flatten)]
    pub db: Db,
}

#[derive(Debug, clap::Args)]
pub struct SilencesArgs {
    #[command(flatten)]
    pub db: Db,
}

/// The longest silence: a forgotten one must end some day.
const MAX_SILENCE: Duration = Duration::from_secs(90 * 24 * 3600);

fn parse_for(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::config::parse_duration(text)?;
    if d < Duration::from_secs(60) || d > MAX_SILENCE {
        return Err("a silence lasts from 1m to 90d".into());
    }
    Ok(d)
}

pub(super) fn ack(args: AckArgs, config: Option<&Path>) -> Result<()> {
    let req = requests::request(
        RequestKind::Ack,
        &args.name,
        &os_author(),
        "",
        Duration::ZERO,
    );
    send(&args.db.db, config, req)
}

pub(super) fn silence(args: SilenceArgs, config: Option<&Path>) -> Result<()> {
    let req = requests::request(
        RequestKind::Silence,
        &args.name,
        &os_author(),
        &args.reason,
        args.duration,
    );
    send(&args.db.db, config, req)
}

pub(super) fn unsilence(args: UnsilenceArgs, config: Option<&Path>) -> Result<()> {
    let req = requests::request(
        RequestKind::Unsilence,
        &args.name,
        &os_author(),
        "",
        Duration::ZERO,
    );
    send(&args.db.db, config, req)
}

fn send(
    db: &store::Location,
    config: Option<&Path>,
    req: crate::store::model::Request,
) -> Result<()> {
    let config = super::config::load_lenient(config)?;
    if config.endpoint(&req.endpoint).is_none() {
        let names: Vec<&str> = config.endpoints.iter().map(|e| e.name.as_str()).collect();
        return Err(Error::Usage(format!(
            "no endpoint named `{}` is configured{}",
            crate::text::printable(&req.endpoint),
            match names.is_empty() {
                true => String::new(),
                false => format!(" (configured: {})", names.join(", ")),
            }
        )));
    }
    let result = requests::submit_to(db, &config, req)?;
    if result.ok {
        super::print(&(result.message + "\n"))
    } else {
        Err(Error::Usage(result.message))
    }
}

pub(super) fn silences(args: SilencesArgs) -> Result<()> {
    let now = SystemClock.now_ms();
    let list = requests::silences(&args.db.db, now)?;
    super::print(&crate::render::terminal::alert::silences_table(&list, now))
}
