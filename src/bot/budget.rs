//! One send budget for the whole bot. Telegram's limits (about 30 messages
//! a second overall, 20 a minute in a group) belong to the bot token, not
//! to a process: every replica running on the database says it is alive
//! every few seconds, counts the others seen lately, and keeps its part of
//! each overall limit, so that together they never exceed it. A replica
//! that stops leaves at once; one that is killed is forgotten after
//! [`BudgetTiming::forgotten_after`], and the others then take its part.
//! One that joins others sends nothing and takes no update for two beats,
//! so that they have taken their smaller parts first (they count at their
//! next beat, at most one beat later); meanwhile they handle every update,
//! in order.
//!
//! On PostgreSQL, while more than one replica runs, the overall turns (30 a
//! second) are not divided but shared: every replica reserves its
//! messages' turns on the database's `send_clock`, so together they keep
//! one pace and one order. A replica alone reserves them in memory (no
//! round trip per message); the joiner's wait gives it a beat to turn
//! the clock on before the joiner sends. The parts still pace the groups'
//! minutes, and the overall limit if the clock cannot be reached.
//!
//! One chat's messages a second are not divided: a chat's updates are
//! handled by one replica at a time (the inbox's claims), so only a chat
//! handed from one replica to another within the same second could get one
//! message more in that second.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use teloxide::adaptors::throttle::Limits;
use tokio_util::sync::CancellationToken;

use super::{BotT, paced::SharedTurns};
use crate::{config::Backend, monitoring, store::Store};

/// How often a replica says it is alive, and when it is forgotten.
#[derive(Debug, Clone, Copy)]
pub struct BudgetTiming {
    pub beat: Duration,
}

impl Default for BudgetTiming {
    /// A beat a second: a joining replica waits two seconds, and a killed
    /// one's part is taken back after three.
    fn default() -> Self {
        Self { beat: Duration::from_secs(1) }
    }
}

impl BudgetTiming {
    /// How long a replica that joins others waits: each of them counts
    /// again within a beat.
    pub fn join_wait(&self) -> Duration {
        self.beat * 2
    }

    /// Three beats missed: the replica is gone.
    pub fn forgotten_after(&self) -> Duration {
        self.beat * 3
    }
}

/// One replica's part of the bot's limits when `replicas` run: each
/// overall limit divided (rounded down, at least one), the per-chat second
/// kept.
pub fn share(total: Limits, replicas: u32) -> Limits {
    let part = |limit: u32| (limit / replicas.max(1)).max(1);
    Limits {
        messages_per_sec_chat: total.messages_per_sec_chat,
        messages_per_min_chat: part(total.messages_per_min_chat),
        messages_per_min_channel_or_supergroup: part(total.messages_per_min_channel_or_supergroup),
        messages_per_sec_overall: part(total.messages_per_sec_overall),
    }
}

/// This replica's part of the send budget, kept up to date.
pub struct SendShare {
    store: Store,
    name: String,
    total: Limits,
    timing: BudgetTiming,
    replicas: u32,
    part: Limits,
    /// The client whose pace follows the part.
    bot: Option<BotT>,
    /// When this replica may start, if it joined others.
    ready_at: Option<std::time::Instant>,
}

impl SendShare {
    /// Says this replica runs and counts the others, so that its part is
    /// known before the Bot API client is made and anything is sent.
    pub async fn join(store: Store, name: String, total: Limits, timing: BudgetTiming) -> Self {
        if store.backend() == Backend::Sqlite {
            // One process per SQLite file (its lock file says so): rows
            // left by a killed run are its own past.
            if let Err(error) = store.forget_replicas().await {
                tracing::warn!(%error, "send budget: earlier runs not forgotten");
            }
        }
        let mut share = Self {
            store,
            name,
            total,
            timing,
            replicas: 0,
            part: total,
            bot: None,
            ready_at: None,
        };
        share.beat().await;
        share
    }

    /// Beats until `shutdown`, then leaves.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.timing.beat) => self.beat().await,
            }
        }
        if let Err(error) = self.store.replica_gone(&self.name).await {
            tracing::warn!(%error, "replica not removed from the send budget; it is forgotten soon");
        }
    }

    /// Says this replica runs, counts the others and takes its part.
    pub async fn beat(&mut self) {
        let now = chrono::Utc::now();
        let forgotten = chrono::Duration::from_std(self.timing.forgotten_after())
            .unwrap_or(chrono::Duration::seconds(30));
        let replicas = match self.store.replica_seen(&self.name, now, now - forgotten).await {
            Ok(replicas) => replicas,
            Err(error) => {
                // The last known part stays: the database is away for
                // everyone, or for this replica alone.
                tracing::warn!(%error, "send budget: replicas not counted");
                return;
            }
        };
        if replicas == self.replicas {
            return;
        }
        let part = share(self.total, replicas);
        self.part = part;
        if let Some(bot) = &self.bot {
            bot.set_limits(part);
            bot.use_shared_turns(replicas > 1);
        }
        monitoring::replicas(replicas);
        tracing::info!(
            replicas,
            messages_per_sec = part.messages_per_sec_overall,
            group_messages_per_min = part.messages_per_min_channel_or_supergroup,
            "send budget shared by the running replicas"
        );
        self.replicas = replicas;
    }

    /// The replicas counted at the last beat.
    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// This replica's part now.
    pub fn part(&self) -> Limits {
        self.part
    }

    /// Paces `bot` by this replica's part, now and whenever it changes.
    /// A replica that joins others sends nothing for [`BudgetTiming::join_wait`]:
    /// until each of them has counted again, their parts and its own would
    /// add up to more than the whole.
    pub fn attach(&mut self, bot: BotT) {
        bot.set_limits(self.part);
        if self.store.backend() == Backend::Postgres {
            bot.share_turns(Arc::new(SendClock(self.store.clone())), self.total);
            bot.use_shared_turns(self.replicas > 1);
        }
        if self.replicas > 1 {
            let wait = self.timing.join_wait();
            bot.hold(wait);
            self.ready_at = Some(std::time::Instant::now() + wait);
            tracing::info!(
                replicas = self.replicas,
                wait_secs = wait.as_secs(),
                "other replicas run: this one sends nothing and takes no update until they \
                 have taken their smaller part"
            );
        }
        self.bot = Some(bot);
    }

    /// When this replica may take updates: later than now if it joined
    /// others (the updates that come meanwhile are theirs, in order).
    pub fn ready_at(&self) -> Option<std::time::Instant> {
        self.ready_at
    }
}

/// The database's send clock: one sequence of turns for every replica.
#[derive(Debug)]
struct SendClock(Store);

impl SharedTurns for SendClock {
    fn reserve(
        &self,
        count: u32,
        interval: Duration,
        floor: Duration,
    ) -> BoxFuture<'static, anyhow::Result<Duration>> {
        let store = self.0.clone();
        Box::pin(async move { Ok(store.reserve_send_turns(count, interval, floor).await?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_replica_keeps_the_whole_budget() {
        let total = Limits::default();
        assert_eq!(share(total, 1), total);
    }

    #[test]
    fn replicas_split_every_overall_limit_and_never_exceed_it() {
        let total = Limits::default();
        for replicas in 1..=40 {
            let part = share(total, replicas);
            let n = replicas;
            assert!(part.messages_per_sec_overall >= 1);
            if n <= total.messages_per_sec_overall {
                assert!(part.messages_per_sec_overall * n <= total.messages_per_sec_overall);
            }
            if n <= total.messages_per_min_channel_or_supergroup {
                assert!(
                    part.messages_per_min_channel_or_supergroup * n
                        <= total.messages_per_min_channel_or_supergroup
                );
            }
            assert_eq!(part.messages_per_sec_chat, total.messages_per_sec_chat);
        }
        let two = share(total, 2);
        assert_eq!(two.messages_per_sec_overall, total.messages_per_sec_overall / 2);
        assert_eq!(two.messages_per_min_chat, total.messages_per_min_chat / 2);
    }
}
