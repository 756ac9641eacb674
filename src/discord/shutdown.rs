//! Closing the gateway on shutdown, around a serenity 0.12.5 bug after a re-identify.
//!
//! When a shard re-identifies (op 9, a failed resume), its runner calls
//! `ShardManager::restart_shard` from inside its own task
//! (`gateway/bridge/shard_runner.rs:463-469`). `restart` → `shutdown` then waits for that very
//! runner to confirm it closed, which it cannot while it is blocked in the call: after serenity's
//! 5 s timeout it logs "Failed to cleanly shutdown shard 0, reached timeout"
//! (`shard_manager.rs:262-288`) and boots a new runner. `restart_shard` then posts one more
//! "shutdown finished" notice (`shard_manager.rs:355-359`) that nobody awaited. The next
//! `shutdown_all` (SIGTERM) takes that stale notice as the live runner's confirmation, removes
//! the runner before the shard queuer forwards the shutdown to it (`shard_queuer.rs:233-245`
//! finds no runner), and `Client::start` returns while the live connection was never closed:
//! no close frame.
//!
//! medic cannot shorten the 5 s (the runner handles op 9 before any handler sees it), but it
//! can close the restarted shards itself: it counts READYs per shard, tells a shard that had
//! more than one to shut down directly (`ShardMessenger::send_to_shard`), and after
//! `Client::start` returned waits (at most serenity's 5 s) for that shard's real confirmation.

use std::collections::HashMap;
use std::sync::Mutex;

use poise::serenity_prelude as serenity;
use serenity::{ShardId, ShardManager, ShardRunnerMessage};

/// READY events per shard: a second READY on one shard means it was restarted.
#[derive(Debug, Default)]
pub(super) struct Restarts(Mutex<HashMap<ShardId, u32>>);

impl Restarts {
    pub(super) fn ready(&self, shard: Option<serenity::ShardInfo>) {
        let id = shard.map_or(ShardId(0), |s| s.id);
        *self.lock().entry(id).or_default() += 1;
    }

    fn restarted(&self) -> Vec<ShardId> {
        let readies = self.lock();
        readies
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| *id)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ShardId, u32>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stops every shard; returns the restarted shards told to close directly, for [`finish`].
pub(super) async fn stop(shards: &ShardManager, restarts: &Restarts) -> Vec<ShardId> {
    let restarted = restarts.restarted();
    let mut told = Vec::new();
    {
        let runners = shards.runners.lock().await;
        for id in restarted {
            if let Some(runner) = runners.get(&id) {
                runner
                    .runner_tx
                    .send_to_shard(ShardRunnerMessage::Shutdown(id, 1000));
                told.push(id);
            }
        }
    }
    shards.shutdown_all().await;
    told
}

/// Waits until the shards [`stop`] told to close confirmed it (or serenity's 5 s timeout).
pub(super) async fn finish(shards: &ShardManager, told: Vec<ShardId>) {
    for id in told {
        // The stale notice was used up by `shutdown_all`; this one is the runner's own.
        shards.shutdown(id, 1000).await;
    }
}
