//! The inbox as the store keeps it: updates kept once, claimed a chat at a
//! time by one worker (so several replicas keep each chat's order), taken
//! over when a worker's lease runs out, and pruned once handled.

use chrono::Duration;
use crm_recovery_bot::store::{InboxUpdate, Store, StoredDialogue};

use crate::support::*;

on_both_backends!(
    workers_claim_whole_chats_in_order_and_take_over_after_a_crash,
    replicas_share_the_send_budget_and_a_killed_one_is_forgotten,
    a_state_and_its_handled_mark_are_written_together_or_not_at_all,
    two_replicas_reserve_their_send_turns_on_one_clock,
);

fn update(update_id: i64, chat_id: i64) -> InboxUpdate {
    InboxUpdate {
        update_id,
        chat_id: Some(chat_id),
        payload: format!("{{\"update_id\":{update_id}}}"),
    }
}

fn ids(updates: &[InboxUpdate]) -> Vec<i64> {
    updates.iter().map(|u| u.update_id).collect()
}

async fn workers_claim_whole_chats_in_order_and_take_over_after_a_crash(db: TestDb) {
    // The store alone: no bot claims these made-up updates meanwhile.
    let store = Store::connect(&db.config).await.unwrap();
    store.migrate().await.unwrap();
    let store = &store;
    let now = chrono::DateTime::from_timestamp(1_764_061_200, 0).unwrap();
    let lease = Duration::seconds(60);
    let kept = [update(1, 10), update(2, 10), update(4, 20), update(3, 10), update(5, 20)];
    store.keep_updates(&kept, now).await.unwrap();
    // A repeat (a retried webhook call) is kept once.
    store.keep_updates(&[update(2, 10)], now).await.unwrap();
    assert_eq!(store.inbox_depth().await.unwrap(), 5);
    // A handled number that comes back as another update is new again.
    store.keep_updates(&[update(9, 30)], now).await.unwrap();
    store.mark_update_handled(9, now).await.unwrap();
    let other = InboxUpdate { payload: "{\"update_id\":9,\"other\":1}".into(), ..update(9, 30) };
    store.keep_updates(&[other], now).await.unwrap();
    assert_eq!(store.inbox_depth().await.unwrap(), 6);
    let again = store.claim_updates("w0", now, lease, 10).await.unwrap();
    assert_eq!(ids(&again), [1, 2, 3, 4, 5, 9]);
    store.release_update_claims(None).await.unwrap();
    store.mark_update_handled(9, now).await.unwrap();

    let first = store.claim_updates("w1", now, lease, 2).await.unwrap();
    assert_eq!(ids(&first), [1, 2]);
    // Chat 10 is w1's while it holds any of it: w2 gets chat 20 only.
    let second = store.claim_updates("w2", now, lease, 10).await.unwrap();
    assert_eq!(ids(&second), [4, 5]);
    assert!(store.claim_updates("w2", now, lease, 10).await.unwrap().is_empty());
    // w1 goes on with its chat, in order.
    assert_eq!(ids(&store.claim_updates("w1", now, lease, 10).await.unwrap()), [3]);

    // w1 dies with update 3 in hand; once its lease runs out w2 takes it.
    for id in [1, 2, 4, 5] {
        store.mark_update_handled(id, now).await.unwrap();
    }
    assert!(store.claim_updates("w2", now, lease, 10).await.unwrap().is_empty());
    let later = now + Duration::seconds(61);
    assert_eq!(ids(&store.claim_updates("w2", later, lease, 10).await.unwrap()), [3]);
    store.mark_update_handled(3, later).await.unwrap();
    assert_eq!(store.inbox_depth().await.unwrap(), 0);

    // Handled rows go after the retention.
    assert_eq!(store.prune_inbox(now).await.unwrap(), 0);
    assert_eq!(store.prune_inbox(later + Duration::seconds(1)).await.unwrap(), 6);
    store.close().await;
}

/// Every replica takes its part of Telegram's limits: the second to join
/// halves everyone's overall limits (the first at its next beat), one that
/// stops gives its part back at once, and one that was killed is forgotten
/// once it has missed three beats. The throttle takes a new part up. On
/// SQLite only one process runs, so one that starts forgets the others at
/// once (they can only be a killed run's).
async fn replicas_share_the_send_budget_and_a_killed_one_is_forgotten(db: TestDb) {
    use crm_recovery_bot::bot::budget::{BudgetTiming, SendShare};

    let store = Store::connect(&db.config).await.unwrap();
    store.migrate().await.unwrap();
    let whole = teloxide::adaptors::throttle::Limits::default();
    let timing = BudgetTiming::default();
    let join = |name: &str| SendShare::join(store.clone(), name.to_owned(), whole, timing);
    let mut first = join("first").await;
    assert_eq!((first.replicas(), first.part()), (1, whole));

    // A replica killed a minute ago never said it left: it is forgotten.
    let long_ago = chrono::Utc::now() - chrono::Duration::seconds(60);
    assert_eq!(store.replica_seen("killed", long_ago, long_ago).await.unwrap(), 2);
    first.beat().await;
    assert_eq!((first.replicas(), first.part()), (1, whole));

    if db.config.backend == crm_recovery_bot::config::Backend::Sqlite {
        let restarted = join("restarted").await;
        assert_eq!((restarted.replicas(), restarted.part()), (1, whole));
        store.close().await;
        return;
    }

    // The first's client is paced by its part.
    let tg = crate::support::telegram::FakeTelegram::start().await;
    let bot = crm_recovery_bot::bot::client("123:TEST", tg.api_url(), whole);
    first.attach(bot.clone());

    let second = join("second").await;
    assert_eq!(second.replicas(), 2);
    let half = second.part();
    assert_eq!(half.messages_per_sec_overall, whole.messages_per_sec_overall / 2);
    assert_eq!(
        half.messages_per_min_channel_or_supergroup,
        whole.messages_per_min_channel_or_supergroup / 2
    );
    assert_eq!(half.messages_per_sec_chat, whole.messages_per_sec_chat);
    assert_eq!(bot.limits(), whole, "the first has not counted again yet");
    first.beat().await;
    assert_eq!((first.part(), bot.limits()), (half, half));

    // While it ran alone, its messages took their turns in memory; now
    // they take them on the database's send clock, which every replica
    // shares.
    let pool = db.raw_pool().await;
    let clock = || async {
        sqlx::query_scalar::<_, i64>("SELECT next_at FROM send_clock")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    let before = clock().await;
    use teloxide::prelude::Requester;
    // (The fake refuses a chat that never wrote to the bot, as Telegram
    // would; the turn was taken before.)
    let refused = bot.send_message(teloxide::types::ChatId(42), "hello").await;
    assert!(refused.is_err());
    assert!(clock().await > before, "the send reserved a turn on the clock");

    // The second stops: it leaves, and the first takes everything again.
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();
    second.run(stopped).await;
    first.beat().await;
    assert_eq!((first.replicas(), first.part(), bot.limits()), (1, whole, whole));
    // Alone again: no round trip to the clock for a message.
    let before = clock().await;
    let refused = bot.send_message(teloxide::types::ChatId(42), "hello").await;
    assert!(refused.is_err());
    assert_eq!(clock().await, before, "the turn was taken in memory");
    pool.close().await;
    store.close().await;
}

/// An update's new dialogue state and its "handled" mark are one
/// transaction: several updates' at once (a group), and when the state
/// cannot be written, the mark is not either (so the update is handled
/// again from the state it found, never from a state it left).
async fn a_state_and_its_handled_mark_are_written_together_or_not_at_all(db: TestDb) {
    let store = Store::connect(&db.config).await.unwrap();
    store.migrate().await.unwrap();
    let now = chrono::DateTime::from_timestamp(1_764_061_200, 0).unwrap();
    store.keep_updates(&[update(1, 10), update(2, 20), update(3, 30)], now).await.unwrap();
    let state = |chat_id: i64, version: i64| StoredDialogue {
        chat_id,
        state: format!("state {version} of {chat_id}"),
        version,
    };

    store.finish_updates(&[state(10, 1), state(20, 4)], &[1, 2], now).await.unwrap();
    assert_eq!(store.inbox_depth().await.unwrap(), 1);
    let read = store.dialogue_states(&[10, 20, 30]).await.unwrap();
    let mut read: Vec<(i64, i64)> = read.iter().map(|d| (d.chat_id, d.version)).collect();
    read.sort_unstable();
    assert_eq!(read, [(10, 1), (20, 4)], "chat 30 has no state");
    // A later write replaces the state and its count.
    store.finish_updates(&[state(10, 2)], &[], now).await.unwrap();
    assert_eq!(store.dialogue_state(10).await.unwrap(), Some(state(10, 2)));

    // The states' table is gone: nothing of the group is written.
    let pool = db.raw_pool().await;
    sqlx::query("ALTER TABLE dialogues RENAME TO dialogues_away").execute(&pool).await.unwrap();
    assert!(store.finish_updates(&[state(30, 1)], &[3], now).await.is_err());
    sqlx::query("ALTER TABLE dialogues_away RENAME TO dialogues").execute(&pool).await.unwrap();
    assert_eq!(store.inbox_depth().await.unwrap(), 1, "update 3 is not marked handled");
    assert_eq!(store.dialogue_state(30).await.unwrap(), None);
    pool.close().await;
    store.close().await;
}

/// The replicas' send turns come from one clock in the database: turns
/// reserved at once from two connections never coincide and follow each
/// other at the pace asked; a wait (Telegram's 429) holds back every turn
/// reserved after it.
async fn two_replicas_reserve_their_send_turns_on_one_clock(db: TestDb) {
    let first = Store::connect(&db.config).await.unwrap();
    first.migrate().await.unwrap();
    let second = Store::connect(&db.config).await.unwrap();
    // 40 turns ten seconds apart (far wider than the time a reply takes
    // on a busy machine), asked for from both at once; each turn read as a
    // time by the clock of this process.
    let apart = std::time::Duration::from_secs(10);
    let asked: Vec<_> = (0..40)
        .map(|n| {
            let store = if n % 2 == 0 { first.clone() } else { second.clone() };
            tokio::spawn(async move {
                let first_in =
                    store.reserve_send_turns(1, apart, std::time::Duration::ZERO).await.unwrap();
                std::time::Instant::now() + first_in
            })
        })
        .collect();
    let mut turns = Vec::new();
    for turn in asked {
        turns.push(turn.await.unwrap());
    }
    turns.sort_unstable();
    let mut places: Vec<u64> = turns
        .iter()
        .map(|turn| ((*turn - turns[0]).as_secs_f64() / apart.as_secs_f64()).round() as u64)
        .collect();
    places.dedup();
    assert_eq!(places, (0..40).collect::<Vec<u64>>(), "one turn every ten seconds, none shared");
    // A block of turns, after the others.
    let block = first.reserve_send_turns(5, apart, std::time::Duration::ZERO).await.unwrap();
    assert!(block > 38 * apart, "{block:?}");
    // Telegram says to wait an hour: the next turn comes after it.
    let hour = std::time::Duration::from_secs(3600);
    first.reserve_send_turns(0, std::time::Duration::ZERO, hour).await.unwrap();
    let next = second.reserve_send_turns(1, apart, std::time::Duration::ZERO).await.unwrap();
    assert!(next >= hour - apart, "{next:?}");
    first.close().await;
    second.close().await;
}
