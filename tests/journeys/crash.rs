//! Nothing lost on a crash: 150 users send /start at once and the real
//! binary is killed with SIGKILL (as an out-of-memory kill or a power cut
//! would) once some have their answer. Every update was kept in the inbox
//! before Telegram was told it arrived, so after the restart every user is
//! answered, and at most the answer that was in flight comes twice.

use std::time::Duration;

use crm_recovery_bot::{domain::Lang, i18n::t};

use crate::operations::{finished, run_on_free_port, sigterm};
use crate::support::telegram::{FakeTelegram, TgUser};
use crate::support::*;

on_both_backends!(a_kill_in_the_middle_of_a_burst_loses_no_update);

async fn a_kill_in_the_middle_of_a_burst_loses_no_update(db: TestDb) {
    let tg = FakeTelegram::start().await;
    tg.set_wait_timeout(Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let (mut command, _port) = run_on_free_port(&tg, dir.path());
        command.env("DATABASE_URL", &db.config.url);
        command.spawn().unwrap()
    };
    let mut first = run();
    tg.wait_for_call("getupdates").await;
    let users: Vec<TgUser> =
        (0..150).map(|n| TgUser::new(50_000 + n, "Burst", Some("en"))).collect();
    for user in &users {
        tg.send_text(user, "/start");
    }
    // Some are answered (Telegram's pace is about 30 a second); then the
    // process dies without a chance to finish anything.
    tg.wait_for_calls("sendmessage", 20).await;
    first.kill().await.unwrap();
    let answered_before = tg.calls("sendmessage").len();
    {
        let store = crm_recovery_bot::store::Store::connect(&db.config).await.unwrap();
        let pending = store.inbox_depth().await.unwrap();
        store.close().await;
        // Kept before Telegram was told they arrived, and not yet handled.
        assert!(pending > 0, "the unanswered updates wait in the inbox");
    }
    assert!(answered_before < users.len(), "killed mid-burst: {answered_before} answered");

    let mut second = run();
    for user in &users {
        let answer = tg.next_sent(user.id).await;
        assert!(
            answer.callback_data_for(&t(Lang::En, "menu-forgot-password")).is_some(),
            "{}",
            answer.summary()
        );
    }
    sigterm(&mut second).await;
    assert!(finished(second).await.status.success());
    // Each user got their answer; a kill between a send and its record
    // repeats that one answer in its chat, nothing more. (In a burst the
    // answers of the last half second or so are in flight at once.)
    let mut repeated = 0;
    for user in &users {
        let sent = tg.all_sent(user.id).len();
        assert!((1..=2).contains(&sent), "user {} got {sent} answers", user.id);
        repeated += sent - 1;
    }
    assert!(repeated <= answered_before, "only answers sent before the kill come again");
    eprintln!("answered before the kill: {answered_before}; answers repeated: {repeated}");
}
