//! The command logic every chat surface shares: `/diagnose`, `/check`, `/endpoints`, `/help`.
//!
//! Each command takes plain inputs and returns data; the Discord bot ([`crate::discord`]) and the
//! console ([`crate::console`]) only parse their own input format and hand the result to their
//! renderer ([`crate::render::discord`], [`crate::render::terminal`]). Nothing here knows about
//! serenity or stdout.

pub mod check;
pub mod conversation;
pub mod diagnose;
pub mod endpoints;
pub mod examples;
pub mod help;

use std::sync::Arc;

use crate::checks::Checker;
use crate::matcher::Matcher;

/// What the commands work on, shared by every surface.
#[derive(Clone)]
pub struct Services {
    pub matcher: Arc<Matcher>,
    /// `None` without a `medic.toml`: `/check` then explains how to add an endpoint.
    pub checker: Option<Arc<Checker>>,
    pub statuses: Arc<endpoints::StatusBoard>,
    /// The running scheduled checks (`medic serve` with an `alert_channel`): silences and
    /// acknowledgements go through it.
    pub alerts: Option<crate::alerts::service::Handle>,
    /// What each conversation was last answered, for follow-ups.
    pub conversations: Arc<conversation::Conversations>,
    /// Where feedback on answers and unanswered direct questions are recorded (masked), for
    /// `medic kb gaps`; `None`: not recorded.
    pub feedback: Option<crate::store::SharedStore>,
    /// The state database that `medic chat`'s /ack, /silence and /unsilence act on (the one a
    /// `watch` or `serve` writes); `None`: those commands are off.
    pub state_db: Option<crate::store::Location>,
}

/// The [`Services`] a running bot answers with, replaced whole when `medic serve` reloads its
/// configuration: a handler takes the current ones at its start ([`LiveServices::get`]) and
/// finishes with them, so no answer mixes an old catalogue with a new one.
#[derive(Clone)]
pub struct LiveServices(Arc<std::sync::RwLock<Arc<Services>>>);

impl LiveServices {
    pub fn new(services: Services) -> LiveServices {
        LiveServices(Arc::new(std::sync::RwLock::new(Arc::new(services))))
    }

    /// The services now in force.
    pub fn get(&self) -> Arc<Services> {
        // A poisoned lock still holds a whole `Arc`: replacing it cannot be half done.
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts `services` in force for every handler that starts from now on.
    pub fn replace(&self, services: Services) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(services);
    }
}

impl From<Services> for LiveServices {
    fn from(services: Services) -> LiveServices {
        LiveServices::new(services)
    }
}

impl Services {
    /// These services with a reloaded catalogue, checker and alert pipeline; what the bot has
    /// learnt meanwhile (conversations, last statuses, the feedback store) carries over.
    pub fn reloaded(
        &self,
        matcher: Arc<Matcher>,
        checker: Option<Arc<Checker>>,
        alerts: Option<crate::alerts::service::Handle>,
    ) -> Services {
        Services {
            matcher,
            checker,
            alerts,
            statuses: self.statuses.clone(),
            conversations: self.conversations.clone(),
            feedback: self.feedback.clone(),
            state_db: self.state_db.clone(),
        }
    }

    pub fn new(matcher: Arc<Matcher>, checker: Option<Arc<Checker>>) -> Services {
        Services {
            matcher,
            checker,
            statuses: Arc::default(),
            alerts: None,
            conversations: Arc::default(),
            state_db: None,
            feedback: None,
        }
    }

    pub fn with_feedback(mut self, store: crate::store::SharedStore) -> Services {
        self.feedback = Some(store);
        self
    }

    /// Records feedback (off the async workers; a failure is logged, never shown). `text` is
    /// masked of every configured secret and the bot token first.
    pub fn record_feedback(
        &self,
        kind: crate::store::model::FeedbackKind,
        entry: Option<&str>,
        text: Option<&str>,
    ) {
        let Some(store) = self.feedback.clone() else {
            return;
        };
        let text = text.map(|t| {
            let masked = match self.checker() {
                Some(c) => c.config().redactor().redact(t),
                None => t.to_string(),
            };
            crate::text::truncate_chars(&crate::redact::process().redact(&masked), 300)
        });
        let f = crate::store::model::Feedback {
            at: crate::clock::to_millis(std::time::SystemTime::now()),
            kind,
            entry: entry.map(str::to_string),
            text,
        };
        let write = move || {
            let result = store
                .lock()
                .map_err(|_| crate::Error::StorePoisoned)
                .and_then(|mut s| s.add_feedback(&f));
            if let Err(e) = result {
                tracing::warn!(error = %e, "feedback not recorded");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(write);
            }
            Err(_) => write(),
        }
    }

    pub fn with_state_db(mut self, db: crate::store::Location) -> Services {
        self.state_db = Some(db);
        self
    }

    pub fn with_alerts(mut self, alerts: Option<crate::alerts::service::Handle>) -> Services {
        self.alerts = alerts;
        self
    }

    pub fn checker(&self) -> Option<&Checker> {
        self.checker.as_deref()
    }
}

/// Longest query a command reads: Discord allows 6000 characters in a slash option and 4000 in
/// a message; the matcher itself analyses the first 8 KiB.
pub const MAX_QUERY_CHARS: usize = 8000;

/// Makes arbitrary user input safe to match and to quote back: drops control characters
/// (NUL, escape sequences, binary garbage) except newlines and tabs, and bounds the length.
pub fn clean_input(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(MAX_QUERY_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_input_drops_control_characters_and_bounds_length() {
        assert_eq!(clean_input("  a\u{0}b\u{1b}[31mc\n "), "ab[31mc");
        assert_eq!(
            clean_input(&"é".repeat(MAX_QUERY_CHARS + 100))
                .chars()
                .count(),
            MAX_QUERY_CHARS
        );
    }
}
