//! What an operator's log shows of a whole reset: enough to act on, and no
//! secrets — no full phone numbers, tokens, passwords or the bot token.

use std::sync::OnceLock;

use tracing_subscriber::util::SubscriberInitExt;

use crate::support::*;
use reqwest::StatusCode;

on_both_backends!(
    logs_mask_phones_and_never_show_secrets,
    two_factor_secrets_and_codes_stay_out_of_the_log
);

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

async fn two_factor_secrets_and_codes_stay_out_of_the_log(db: TestDb) {
    let logs = captured_logs();
    const TOKEN: &str = "log-test-api-token-0123456789abcdef-0123";
    let key = "5a".repeat(32);
    let app = TestApp::spawn_with(&db, |config| {
        config.api_token = Some(TOKEN.into());
        config.secret_keys = crm_recovery_bot::config::secret_keys(Some(&key), None).unwrap();
    })
    .await;
    app.import(ACCOUNTS_CSV).await;
    let enrolled: serde_json::Value = app
        .http
        .post(format!("{}/api/v1/accounts/ivan.petrov/two-factor", app.base_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let codes: Vec<String> = enrolled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).unwrap())
        .build()
        .unwrap()
        .generate(u64::try_from(app.now().timestamp()).unwrap())
        .to_string();
    let body = serde_json::json!({"login": "ivan.petrov", "password": "Old-Password-2024!",
        "totp": totp});
    let response = app
        .http
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;

    let text = logs.text();
    assert!(text.contains("two-factor authentication on"), "the operator sees it happen");
    assert!(text.contains("two-factor enrolment is on"));
    let mut secrets = vec![secret.clone(), key.clone(), format!("\"totp\":\"{totp}\"")];
    secrets.extend(codes.iter().cloned());
    secrets.extend(codes.iter().map(|c| c.replace('-', "")));
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "the log shows a secret: {secret:?}");
    }
}
