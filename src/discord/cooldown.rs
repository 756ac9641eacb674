//! Per-channel cooldown: in a busy thread medic answers the same entry once per window.
//!
//! A [`Claim`] reserves the entry while its answer is on the way (a second message about it
//! stays quiet meanwhile); the window only starts once the answer is delivered, and a claim
//! dropped undelivered frees the entry, so a failed send never silences a question. The clock
//! is injected so tests move time instead of sleeping.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Millis;

pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Entries remembered before old ones are pruned, so a long-running bot's memory stays flat.
const PRUNE_AT: usize = 4096;

/// Remembers when each (channel, entry) pair was last answered.
pub struct Cooldown {
    window: Duration,
    clock: std::sync::Arc<dyn Clock>,
    last: Mutex<HashMap<(u64, String), Millis>>,
}

impl Cooldown {
    pub fn new(window: Duration, clock: std::sync::Arc<dyn Clock>) -> Cooldown {
        Cooldown {
            window,
            clock,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// A claim on answering `entry` in `channel`, or `None` when it was answered during the
    /// window (or an answer is on its way) and medic should stay quiet.
    pub fn claim(&self, channel: u64, entry: &str) -> Option<Claim<'_>> {
        let now = self.clock.now_ms();
        let window = self.window.as_millis() as Millis;
        let mut last = self.lock();
        if last.len() >= PRUNE_AT {
            last.retain(|_, at| now - *at < window);
        }
        let key = (channel, entry.to_string());
        match last.get(&key) {
            Some(at) if now - *at < window => None,
            _ => {
                last.insert(key.clone(), now);
                Some(Claim {
                    cooldown: self,
                    key,
                    at: now,
                    delivered: false,
                })
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, String), Millis>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An entry reserved in a channel; [`Claim::delivered`] starts its window, dropping it
/// undelivered frees the entry again.
#[must_use = "a claim dropped without `delivered` frees the entry"]
pub struct Claim<'a> {
    cooldown: &'a Cooldown,
    key: (u64, String),
    at: Millis,
    delivered: bool,
}

impl Claim<'_> {
    /// The answer arrived: the window runs from now.
    pub fn delivered(mut self) {
        let now = self.cooldown.clock.now_ms();
        self.cooldown.lock().insert(self.key.clone(), now);
        self.delivered = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.delivered {
            return;
        }
        let mut last = self.cooldown.lock();
        // Only this claim's own reservation (pruning may have replaced it).
        if last.get(&self.key) == Some(&self.at) {
            last.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn answered(c: &Cooldown, channel: u64, entry: &str) -> bool {
        c.claim(channel, entry).map(Claim::delivered).is_some()
    }

    #[test]
    fn same_entry_same_channel_waits_for_the_window() {
        let clock = Arc::new(ManualClock::default());
        let c = Cooldown::new(Duration::from_secs(300), clock.clone());
        assert!(answered(&c, 1, "http-429"));
        assert!(!answered(&c, 1, "http-429"));
        assert!(answered(&c, 2, "http-429"), "other channel");
        assert!(answered(&c, 1, "http-503"), "other entry");
        clock.advance(Duration::from_secs(299));
        assert!(!answered(&c, 1, "http-429"));
        clock.advance(Duration::from_secs(1));
        assert!(answered(&c, 1, "http-429"));
    }

    #[test]
    fn an_undelivered_claim_frees_the_entry_and_a_pending_one_holds_it() {
        let clock = Arc::new(ManualClock::default());
        let c = Cooldown::new(Duration::from_secs(300), clock.clone());
        let pending = c.claim(1, "http-429").unwrap();
        assert!(c.claim(1, "http-429").is_none(), "an answer is on its way");
        drop(pending);
        let pending = c.claim(1, "http-429").expect("the failed send freed it");
        // The window starts at delivery, not at the claim.
        clock.advance(Duration::from_secs(200));
        pending.delivered();
        clock.advance(Duration::from_secs(200));
        assert!(c.claim(1, "http-429").is_none());
        clock.advance(Duration::from_secs(100));
        assert!(c.claim(1, "http-429").is_some());
    }
}
