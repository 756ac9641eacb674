//! `medic check`: check configured endpoints by name (or all), or an ad-hoc URL (CLI only),
//! print the report as text with guidance or as JSON, and exit 1 when anything fails.

use std::path::Path;
use std::sync::Arc;

use crate::checks::{CheckReport, Checker, Overall};
use crate::config::Endpoint;
use crate::knowledge::Knowledge;
use crate::render::json;
use crate::render::terminal::check as render;
use crate::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A configured endpoint name, or an http(s):// URL to check ad hoc.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub target: Option<String>,
    /// Check every configured endpoint.
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of text (one document; an array with --all).
    #[arg(long)]
    pub json: bool,
    /// How many endpoints to check at once with --all (default: `[checks] concurrency`, 32).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
}

/// An http(s) URL (scheme in any case), or text that tries to be one (`://`).
fn is_url(text: &str) -> bool {
    text.contains("://")
        || url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

pub(super) fn run(
    args: Args,
    config_path: Option<&Path>,
    knowledge_dir: Option<&Path>,
) -> Result<()> {
    let target = args.target.as_deref().map(str::trim);
    // Anything URL-shaped goes to `Endpoint::adhoc` (which redacts and never echoes it), in any
    // letter case (`HTTPS://user:pw@host`): echoed back as an unknown name it could leak.
    let adhoc = target.is_some_and(is_url);
    // An ad-hoc URL needs no configuration; a broken one should not block it.
    let config = if adhoc {
        super::config::load_as(config_path, super::config::Mode::Lenient).unwrap_or_default()
    } else {
        // Leniently and quietly: an endpoint with problems is reported where it is asked for
        // (by name, or in the --all summary), not before every check of another one.
        super::config::load_as(config_path, super::config::Mode::Lenient)?
    };
    let mut checker = Checker::new(Arc::new(config));
    if let Some(n) = args.concurrency {
        checker = checker.with_concurrency(n as usize);
    }
    let runtime = super::runtime::runtime(super::runtime::Threads::PerCore)?;

    let reports: Vec<CheckReport> = runtime.block_on(async {
        if args.all {
            if checker.config().endpoints.is_empty() && checker.config().not_configured.is_empty() {
                return Err(Error::Usage(format!(
                    "no endpoints configured (looked for {}; see medic.example.toml)",
                    config_path
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| super::config::DEFAULT_CONFIG.into())
                )));
            }
            if args.json {
                return Ok(checker.check_all().await);
            }
            Ok(stream_all(&checker).await)
        } else {
            let target = target.unwrap_or_default();
            if adhoc {
                let ep = Endpoint::adhoc(target).map_err(|e| Error::Config(e.into()))?;
                Ok(vec![checker.check_endpoint(&ep).await])
            } else {
                checker
                    .check_named(target)
                    .await
                    .map(|r| vec![r])
                    .map_err(|e| Error::Usage(e.to_string()))
            }
        }
    })?;
    // Dropping the runtime would wait for nothing: every connection task was aborted.
    runtime.shutdown_background();

    let not_configured = match args.all {
        true => checker.config().not_configured.clone(),
        false => Vec::new(),
    };
    let out = if args.json {
        if args.all {
            let mut items: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| serde_json::to_value(r).unwrap_or_default())
                .collect();
            items.extend(not_configured.iter().map(|n| {
                serde_json::json!({
                    "endpoint": n.name,
                    "status": "not_configured",
                    "reason": n.reason(),
                    "line": n.line,
                })
            }));
            json::pretty(&items) + "\n"
        } else {
            json::pretty(&reports[0]) + "\n"
        }
    } else {
        // The catalogue is only needed for guidance: an all-green run skips loading it.
        let kb = if reports.iter().all(|r| r.status == Overall::Ok) {
            Knowledge::from_layers(&[]).map_err(Error::Knowledge)?
        } else {
            Knowledge::load(knowledge_dir)?
        };
        let mut out = String::new();
        // With --all each endpoint already had its line as it finished: the full reports are
        // for the ones that need attention.
        let full = reports
            .iter()
            .filter(|r| !args.all || r.status != Overall::Ok);
        for (i, r) in full.enumerate() {
            if i > 0 || args.all {
                out.push('\n');
            }
            out.push_str(&render::report(r, &kb));
        }
        if args.all {
            out.push_str(&render::not_configured(&not_configured));
            out.push_str(&render::summary(&reports));
        }
        out
    };
    super::print(&out)?;
    let failing: Vec<&str> = reports
        .iter()
        .filter(|r| r.status == Overall::Fail)
        .map(|r| r.endpoint.as_str())
        .chain(not_configured.iter().map(|n| n.name.as_str()))
        .collect();
    if failing.is_empty() {
        Ok(())
    } else {
        Err(Error::CheckFailed {
            endpoints: failing.into_iter().map(String::from).collect(),
        })
    }
}

/// Checks every endpoint, printing one line per endpoint as it finishes and, on a terminal, a
/// progress line on stderr naming what is still running; the reports in configuration order.
async fn stream_all(checker: &Checker) -> Vec<CheckReport> {
    use futures::StreamExt;
    use std::io::IsTerminal;
    let names = checker.endpoint_names();
    let total = names.len();
    let progress = std::io::stderr().is_terminal();
    let mut running: Vec<bool> = vec![true; total];
    let mut done: Vec<(usize, CheckReport)> = Vec::with_capacity(total);
    let mut stream = std::pin::pin!(checker.check_all_as_done());
    if progress {
        eprint!("{}", render::progress(0, total, &names));
    }
    while let Some((i, report)) = stream.next().await {
        running[i] = false;
        if progress {
            eprint!("\r\x1b[2K");
        }
        // A closed stdout ends the output, not the checks (the exit code still counts).
        let _ = super::print(&render::one_line(&report));
        done.push((i, report));
        if progress && done.len() < total {
            let waiting: Vec<&str> = names
                .iter()
                .zip(&running)
                .filter(|(_, r)| **r)
                .map(|(n, _)| *n)
                .collect();
            eprint!("{}", render::progress(done.len(), total, &waiting));
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::is_url;

    #[test]
    fn urls_are_recognised_in_any_case() {
        assert!(is_url("https://api.example.com/health"));
        assert!(is_url("HTTPS://bob:pw@api.example.com/"));
        assert!(is_url("Http://api.example.com"));
        assert!(
            is_url("https://bob:pw@exa mple.com/"),
            "a broken URL is still not a name"
        );
        assert!(!is_url("payments-api"));
        assert!(!is_url("payments api"));
    }
}
