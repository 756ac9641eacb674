//! What the subcommands share: the tokio runtime, logging to stderr and the shutdown signal.

use crate::{Error, Result};

/// How many threads a command's runtime gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// One thread: the console, one question at a time.
    One,
    /// A worker per core: checks, the bot, the scheduler.
    PerCore,
}

/// The one place a tokio runtime is built.
pub(crate) fn runtime(threads: Threads) -> Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    builder
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime", e))
}

/// Targets kept at warn whatever `RUST_LOG` says, unless it names them itself: at debug level
/// serenity's HTTP spans carry interaction and webhook tokens, and reqwest/hyper log the
/// URLs that contain them.
const QUIET_TARGETS: &str = "serenity::http=warn,reqwest=warn,hyper=warn,hyper_util=warn";

/// The filter directives for a `RUST_LOG` value (default: medic at info, libraries at warn).
pub(crate) fn log_directives(rust_log: Option<&str>) -> String {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => format!("warn,medic=info,{QUIET_TARGETS}"),
        // The user chose what serenity logs: respect it.
        Some(user) if user.contains("serenity") => user.to_string(),
        Some(user) => format!("{user},{QUIET_TARGETS}"),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (see [`log_directives`]).
pub(crate) fn init_logging() {
    let rust_log = std::env::var("RUST_LOG").ok();
    let directives = log_directives(rust_log.as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("medic: ignoring RUST_LOG ({e})");
        tracing_subscriber::EnvFilter::new(log_directives(None))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // No colours: every control character is dropped by the gate below, so a server's
        // ESC sequence quoted in a log line cannot reach the terminal either.
        .with_ansi(false)
        .with_writer(|| GatedStderr)
        .try_init();
}

/// stderr through the process-wide redaction gate: a log line may quote what Discord or a
/// server said. The formatter writes each event with one `write_all`, so an event is gated
/// whole.
struct GatedStderr;

impl std::io::Write for GatedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let gated = crate::redact::process().redact(&text);
        std::io::stderr().write_all(gated.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Binds `--http ADDR` before anything runs, so a taken port stops the command at once.
pub(crate) fn bind_http(addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
    crate::metrics::server::bind(addr)
        .map_err(|e| Error::io(format!("listening on {addr} (--http)"), e))
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_carrying_targets_stay_at_warn_unless_named() {
        assert!(log_directives(None).contains("serenity::http=warn"));
        let debug = log_directives(Some("debug"));
        assert!(debug.starts_with("debug,") && debug.contains("serenity::http=warn"));
        assert!(debug.contains("reqwest=warn") && debug.contains("hyper=warn"));
        assert_eq!(
            log_directives(Some("debug,serenity=trace")),
            "debug,serenity=trace"
        );
        for d in [log_directives(None), debug] {
            assert!(tracing_subscriber::EnvFilter::try_new(d).is_ok());
        }
    }
}
