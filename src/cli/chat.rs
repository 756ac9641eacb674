//! `medic chat`: the console mode. No token and no config needed; with a `medic.toml` its
//! endpoints can be checked.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use crate::commands::Services;
use crate::Result;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub(super) fn run(_args: Args, config: Option<&Path>, knowledge_dir: Option<&Path>) -> Result<()> {
    let matcher = Arc::new(super::load_matcher(knowledge_dir)?);
    // Chat needs no configuration: a broken one only turns `/check` off, it never stops the
    // answers. One line says so; `medic config check` lists the problems. An endpoint with
    // problems of its own is only left out (listed as not configured by /endpoints).
    let config = match super::config::load_as(config, super::config::Mode::Lenient) {
        Ok(config) => {
            if !config.not_configured.is_empty() {
                eprintln!(
                    "medic: warning: {} endpoint(s) not configured (see /endpoints; `medic config check` lists the problems); the others can be checked",
                    config.not_configured.len()
                );
            }
            config
        }
        Err(e) => {
            let problems = e.to_string().lines().count();
            eprintln!(
                "medic: warning: the configuration has {problems} problem(s); chat works, /check is off until `medic config check` passes"
            );
            crate::config::Config::default()
        }
    };
    let checker = Some(Arc::new(crate::checks::Checker::new(Arc::new(config))));
    // /ack, /silence, /unsilence act on the database a `watch` or `serve` writes.
    let db = crate::store::Location::parse(
        &std::env::var("MEDIC_DB").unwrap_or_else(|_| crate::store::DEFAULT_PATH.into()),
    );
    let services = Services::new(matcher, checker).with_state_db(db);
    let runtime = super::runtime::runtime(super::runtime::Threads::One)?;
    let stdin = std::io::stdin();
    let prompt = stdin.is_terminal();
    runtime.block_on(crate::console::run(
        &services,
        stdin.lock(),
        std::io::stdout().lock(),
        prompt,
    ))
}
