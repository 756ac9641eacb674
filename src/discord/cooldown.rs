//! Per-channel cooldown: in a busy thread medic answers the same entry once per window.
//!
//! The clock is injected so tests move time instead of sleeping.

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

    /// True (and the answer is recorded) when `entry` was not answered in `channel` during the
    /// window; false when medic should stay quiet.
    pub fn try_claim(&self, channel: u64, entry: &str) -> bool {
        let now = self.clock.now_ms();
        let window = self.window.as_millis() as Millis;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.len() >= PRUNE_AT {
            last.retain(|_, at| now - *at < window);
        }
        let key = (channel, entry.to_string());
        match last.get(&key) {
            Some(at) if now - *at < window => false,
            _ => {
                last.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn same_entry_same_channel_waits_for_the_window() {
        let clock = Arc::new(ManualClock::default());
        let c = Cooldown::new(Duration::from_secs(300), clock.clone());
        assert!(c.try_claim(1, "http-429"));
        assert!(!c.try_claim(1, "http-429"));
        assert!(c.try_claim(2, "http-429"), "other channel");
        assert!(c.try_claim(1, "http-503"), "other entry");
        clock.advance(Duration::from_secs(299));
        assert!(!c.try_claim(1, "http-429"));
        clock.advance(Duration::from_secs(1));
        assert!(c.try_claim(1, "http-429"));
    }
}
