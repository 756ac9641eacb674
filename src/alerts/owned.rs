//! Which endpoints this process checks: the set the monitor keeps (from its leases on a shared
//! store) and the scheduler reads before each slot. A leaf, so neither imports the other.

/// Which endpoints this process checks. Everything, unless the store is shared by several
/// schedulers ([`crate::store::Store::shared`]): then the monitor sets the endpoints whose
/// leases it holds at every tick, and the scheduler skips the others' slots.
#[derive(Debug)]
pub struct Owned {
    set: std::sync::RwLock<Option<std::collections::HashSet<String>>>,
    /// Bumped at every change, so that waiting check loops look again.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Owned {
    fn default() -> Owned {
        Owned {
            set: Default::default(),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Owned {
    /// Whether this process checks `endpoint` now.
    pub fn owns(&self, endpoint: &str) -> bool {
        match self.set.read() {
            Ok(set) => set.as_ref().is_none_or(|s| s.contains(endpoint)),
            Err(_) => false,
        }
    }

    /// Only these from now on.
    pub fn set(&self, endpoints: std::collections::HashSet<String>) {
        if let Ok(mut set) = self.set.write() {
            *set = Some(endpoints);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Resolves once `endpoint` is this process's.
    pub(super) async fn until_owned(&self, endpoint: &str) {
        let mut changed = self.changed.subscribe();
        while !self.owns(endpoint) {
            if changed.changed().await.is_err() {
                return;
            }
        }
    }
}
