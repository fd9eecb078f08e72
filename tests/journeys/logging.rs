//! What an operator's log shows of a whole reset: enough to act on, and no
//! secrets — no full phone numbers, tokens, passwords or the bot token.

use std::sync::OnceLock;

use tracing_subscriber::util::SubscriberInitExt;

use crate::support::*;
use reqwest::StatusCode;

on_both_backends!(logs_mask_phones_and_never_show_secrets);

/// Everything the application logs in this test binary.
fn captured_logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let filter = "debug,crm_recovery_bot=trace,hyper=info,h2=info,sqlx=info";
        // Like the binary's own set-up, `log` records (teloxide's) come too.
        if let Err(error) = logs.subscriber(filter).try_init() {
            panic!("the log capture must be the only global subscriber: {error}");
        }
        logs
    })
}

async fn logs_mask_phones_and_never_show_secrets(db: TestDb) {
    let logs = captured_logs();
    let app = TestApp::spawn(&db).await;
    app.import(ACCOUNTS_CSV).await;
    let user = ivan();
    app.open_forgot_password(&user).await;
    app.tg.send_contact(&user, IVAN_PHONE, Some(anna().id));
    app.tg.next_sent(user.id).await;
    let link = link_in(&app.share_own_phone(&user, IVAN_PHONE).await);
    let token = link.rsplit('/').next().unwrap().to_owned();
    let password = "вечерний звон гремит над рекой";
    app.tg.garble_next("sendmessage");
    let before = app.tg.calls("sendmessage").len();
    assert_eq!(app.post_password(&link, password, password).await.status(), StatusCode::OK);
    app.tg.wait_for_calls("sendmessage", before + 1).await;
    app.outbox_row_settled("password_changed", 1).await;
    app.advance(chrono::Duration::minutes(1));
    app.tg.next_sent(user.id).await;
    app.stop().await;

    let text = logs.text();
    for expected in ["contact verified", "+79*******67", "reset link issued", "password changed"] {
        assert!(text.contains(expected), "the log lacks {expected:?}");
    }
    assert!(text.contains("will retry"), "the failed notice is logged for the operator");
    // Start-up says what is off, in one line each.
    assert!(text.contains("e-mail is off (SMTP_URL is not set): recovery then trusts the phone"));
    assert!(text.contains("SUPPORT_CHAT_ID is not set"));
    for secret in ["79161234567", token.as_str(), password, "123:TEST", "Old-Password-2024!"] {
        assert!(!text.contains(secret), "the log shows a secret: {secret:?}");
    }
}
