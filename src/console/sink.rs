//! `medic watch`'s alert sink: alerts as terminal text on stdout (logs go to stderr).

use crate::alerts::delivery::{SendError, Sink};
use crate::alerts::Alert;
use crate::render::terminal::{self, Written};

/// Prints each alert as [`terminal::alert::terminal`] renders it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConsoleSink;

impl Sink for ConsoleSink {
    async fn send(&self, alert: &Alert) -> Result<Option<String>, SendError> {
        match terminal::write_stdout(&terminal::alert::terminal(alert)) {
            Ok(Written::Done) => Ok(None),
            // `medic watch | head -1`: the reader is gone, a normal end.
            Ok(Written::Closed) => Err(SendError::Closed),
            Err(e) => Err(SendError::Retry(e.to_string())),
        }
    }
}
