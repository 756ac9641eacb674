//! `medic serve`: the Discord bot. Reads the token and options from the environment (and
//! `.env`), the `[discord]` section and endpoints from `medic.toml`, logs with `RUST_LOG`, and
//! stops cleanly on SIGINT/SIGTERM.

use std::path::Path;
use std::sync::Arc;

use super::runtime::{init_logging, shutdown_signal};
use crate::commands::Services;
use crate::discord::{self, Bot, Settings};
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, config: Option<&Path>, knowledge_dir: Option<&Path>) -> Result<()> {
    init_logging();
    // Loads .env too, so DISCORD_TOKEN may live there.
    let config = super::config::load(config)?;
    let mut settings = Settings::from_env(|k| std::env::var(k).ok())?;
    settings.listen_channels = config.discord.listen_channels.clone();
    settings.check_roles = config.discord.check_roles.clone();
    settings.message_content = config.discord.message_content;
    let matcher = Arc::new(super::load_matcher(knowledge_dir)?);
    let checker = Arc::new(crate::checks::Checker::new(Arc::new(config)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))?;
    runtime.block_on(async {
        // Scheduled checks post to `alert_channel` through the bot's client once it exists.
        let slot = crate::alerts::discord::HttpSlot::default();
        let kb = matcher.knowledge().clone();
        let alerts = crate::alerts::discord::start(
            checker.config(),
            checker.clone(),
            kb,
            slot.clone(),
            shutdown_signal(),
        )?;
        let services = Services::new(matcher, Some(checker)).with_alerts(alerts);
        discord::run(
            Bot::new(settings, services).alert_http(slot),
            shutdown_signal(),
        )
        .await
    })
}
